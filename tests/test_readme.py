"""The README's snippets run as written: its Python block, and its CLI lines with outputs."""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "packs").symlink_to(REPO / "packs")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _is_expression(code: str) -> bool:
    try:
        (statement,) = ast.parse(code).body
    except (SyntaxError, ValueError):
        return False
    return isinstance(statement, ast.Expr)


def as_assertions(snippet: str) -> str:
    """``expr  # value`` lines become ``assert (expr) == (value)``; other lines stay."""
    out = []
    for line in snippet.splitlines():
        code, sep, expected = line.partition("  # ")
        if sep and code.strip() and _is_expression(code.strip()):
            indent = code[:len(code) - len(code.lstrip())]
            out.append(f"{indent}assert ({code.strip()}) == ({expected.strip()}), {line!r}")
        else:
            out.append(code)
    return "\n".join(out)


def test_the_python_snippet_runs_and_its_comments_hold(workdir: Path, hello_wasm: Path) -> None:
    (snippet,) = blocks("python")
    program = as_assertions(snippet)
    assert program.count("assert") == 3
    exec(compile(program, "README.md", "exec"), {})


def cli_examples() -> list[tuple[str, str]]:
    """(command, expected JSON output) pairs from the README's shell blocks."""
    pairs = []
    for block in blocks("sh"):
        lines = block.splitlines()
        for line, following in zip(lines, lines[1:] + [""]):
            if line.startswith("corral ") and following.startswith("# "):
                pairs.append((line.split("  #")[0].strip(), following[2:].strip()))
    return pairs


@pytest.mark.parametrize("command, expected", cli_examples())
def test_the_cli_examples_print_what_the_readme_says(workdir: Path, hello_wasm: Path,
                                                     command: str, expected: str) -> None:
    args = shlex.split(command)[1:]
    done = subprocess.run([sys.executable, "-m", "corral._cli.main", *args], capture_output=True,
                          text=True, timeout=300, cwd=workdir, env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == json.loads(expected)


def test_there_are_cli_examples_to_check() -> None:
    assert len(cli_examples()) >= 2
