"""The README runs as written: its Python block, and every command in its shell blocks.

``README_COMMANDS`` names, for each command line of the README, the test that runs it; a
command added to the README without a test here fails ``test_every_readme_command_has_a_test``.
Placeholders (``DIR``, ``H``, ``P``, ``ID``, ``NAME``, ``corral_...``) are filled in, and the
port 8787 becomes a free one; nothing else is changed.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from corral import load_settings
from corral._host import Host
from corral.testing import LoopbackRouter

from .conftest import REPO, built
from .fake_github import FakeGitHub

README = (REPO / "README.md").read_text(encoding="utf-8")
CORRAL = [sys.executable, "-m", "corral"]

#: Every command line in the README's shell blocks -> the test that runs it.
README_COMMANDS = {
    "make run": "tests/cli/test_make.py (set-up) + test_serve_and_the_curl_examples (serve)",
    "make test": "tests/cli/test_make.py (set-up) + this whole suite",
    "KEY=corral_...": "test_serve_and_the_curl_examples",
    'curl -s -H "Authorization: Bearer $KEY" http://127.0.0.1:8787/v1/packs':
        "test_serve_and_the_curl_examples",
    """curl -s -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' -d '{"args": ["Ada"]}' http://127.0.0.1:8787/v1/packs/hello/formulas/Greet""":  # noqa: E501
        "test_serve_and_the_curl_examples",
    """curl -s -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' -d '{"formula": "=Upper(hello.Greet(\\"Ada\\")) & \\" \\" & textstats.Fahrenheit(100)"}' http://127.0.0.1:8787/v1/evaluate""":  # noqa: E501
        "test_serve_and_the_curl_examples",
    ". .venv/bin/activate": "the Makefile's set-up (tests/cli/test_make.py)",
    "corral build packs/hello": "test_build_validate_and_new_run_as_written",
    "corral validate packs/hello/build/hello.wasm": "test_build_validate_and_new_run_as_written",
    "corral validate --examples packs/hello/build/hello.wasm":
        "test_build_validate_and_new_run_as_written",
    "corral call packs/hello/build/hello.wasm Greet '\"Ada\"'":
        "test_the_cli_examples_print_what_the_readme_says",
    "corral eval '=hello.Describe(\"Otto\").vowels + 1' --pack packs/hello":
        "test_the_cli_examples_print_what_the_readme_says",
    "corral new weather --lang zig": "test_build_validate_and_new_run_as_written",
    "corral sync packs/github/build/github.wasm Issues '\"org/repo\"' --connection ID":
        "test_connect_then_sync_run_as_written",
    "corral connect github --secret '{\"token\": \"...\"}'": "test_connect_then_sync_run_as_written",
    "corral serve --data-dir DIR --host H --port P": "test_serve_and_the_curl_examples",
    "corral keys create NAME --role caller": "test_serve_and_the_curl_examples",
    "corral keys rotate": "test_serve_and_the_curl_examples",
    "corral packs versions NAME": "test_serve_and_the_curl_examples",
    "corral packs activate NAME VERSION": "test_serve_and_the_curl_examples",
    "corral bench security": "test_bench_security_runs_as_written",
    "corral bench perf --quick": "tests/bench/test_perf_bench.py (quick_run runs this command)",
    "corral bench reliability --quick":
        "tests/bench/test_reliability_bench.py (runs the quick subset)",
}


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def commands_with_output() -> list[tuple[str, str | None]]:
    """(command, the ``# ...`` output line under it or None) for every shell-block command;
    continued lines are joined and trailing comments dropped."""
    out: list[tuple[str, str | None]] = []
    for block in blocks("sh"):
        lines = block.replace("\\\n", " ").splitlines()
        for line, following in zip(lines, lines[1:] + [""]):
            if not line.strip() or line.startswith("# "):
                continue
            command = re.sub(r"\s+", " ", line.split("  #")[0].strip())
            out.append((command, following[2:].strip() if following.startswith("# ") else None))
    return out


def readme_commands() -> list[str]:
    return [command for command, _ in commands_with_output()]


def test_every_readme_command_has_a_test() -> None:
    assert readme_commands(), "the README has no shell commands"
    assert sorted(readme_commands()) == sorted(README_COMMANDS)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory shaped like the checkout's root: the README's paths start there."""
    (tmp_path / "packs").symlink_to(REPO / "packs")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def corral(command: str, cwd: Path, **replace: str) -> subprocess.CompletedProcess[str]:
    """Run a README ``corral ...`` line (placeholders replaced word by word) in a subprocess."""
    words = [replace.get(word, word) for word in shlex.split(command)]
    assert words[0] == "corral", command
    return subprocess.run([*CORRAL, *words[1:]], capture_output=True, text=True, timeout=300,
                          cwd=cwd, env=dict(os.environ))


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
    """(command, expected JSON output) for the ``corral`` lines with an output under them."""
    return [(c, o) for c, o in commands_with_output() if c.startswith("corral ") and o]


@pytest.mark.parametrize("command, expected", cli_examples())
def test_the_cli_examples_print_what_the_readme_says(workdir: Path, hello_wasm: Path,
                                                     command: str, expected: str) -> None:
    done = corral(command, workdir)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == json.loads(expected)


def test_there_are_cli_examples_to_check() -> None:
    assert len(cli_examples()) >= 2


def test_build_validate_and_new_run_as_written(workdir: Path) -> None:
    build = corral("corral build packs/hello", workdir)
    assert build.returncode == 0, build.stderr
    assert build.stdout.rstrip().endswith("packs/hello/build/hello.wasm")
    validate = corral("corral validate packs/hello/build/hello.wasm", workdir)
    assert validate.returncode == 0, validate.stderr
    assert "valid Corral pack hello" in validate.stdout
    examples = corral("corral validate --examples packs/hello/build/hello.wasm", workdir)
    assert examples.returncode == 0, examples.stdout + examples.stderr
    assert "PASS Greet example 0" in examples.stdout and " 0 failed" in examples.stdout
    new = corral("corral new weather --lang zig", workdir)
    assert new.returncode == 0, new.stderr
    assert 'name = "weather"' in (workdir / "weather" / "pack.toml").read_text()
    assert (workdir / "weather" / "src" / "main.zig").is_file()


@pytest.fixture
def github_api() -> Iterator[FakeGitHub]:
    with FakeGitHub(token="...") as fake:
        fake.add_repo("org/repo", 3)
        yield fake


def test_connect_then_sync_run_as_written(workdir: Path, github_api: FakeGitHub,
                                          monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """After ``make run`` the github pack is registered in ./.corral; connect stores the
    token there, and sync uses it. The commands run in-process through ``main`` so the
    pack's https://api.github.test is routed to the local fake (as corral.testing does)."""
    from corral._cli.main import main

    built(REPO / "packs" / "github")
    with Host(load_settings(data_dir=".corral")) as host:
        host.register_dir("packs/github")
    real_init = Host.__init__

    def routed(self: Host, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("fetch_transport", LoopbackRouter({"api.github.test": github_api.port}))
        real_init(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Host, "__init__", routed)

    assert main(shlex.split("connect github --secret '{\"token\": \"...\"}'")) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["pack"] == "github" and "..." not in json.dumps(info)
    sync = shlex.split("sync packs/github/build/github.wasm Issues '\"org/repo\"' --connection ID")
    assert main([info["id"] if word == "ID" else word for word in sync]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["number"] for row in rows] == [1, 2, 3]
    assert github_api.seen_auth and set(github_api.seen_auth) == {"Bearer ..."}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _curl_examples() -> list[tuple[str, str | None]]:
    return [(c, o) for c, o in commands_with_output() if c.startswith("curl ")]


def test_serve_and_the_curl_examples(workdir: Path) -> None:
    """``corral serve`` as ``make run`` starts it, the README's curl lines against it, then
    the ``keys`` commands on the same (default) data directory once it has stopped."""
    port = str(_free_port())
    words = [{"DIR": ".corral", "H": "127.0.0.1", "P": port}.get(w, w)
             for w in shlex.split("corral serve --data-dir DIR --host H --port P")]
    server = subprocess.Popen([*CORRAL, *words[1:]], cwd=workdir, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, env=dict(os.environ))
    try:
        assert server.stdout is not None
        lines: list[str] = []
        while not lines or "serving on" not in lines[-1]:
            line = server.stdout.readline()
            assert line, f"corral serve exited early: {lines}"
            lines.append(line.strip())
        (key_line,) = [line for line in lines if line.startswith("corral: admin API key")]
        key = key_line.rsplit(" ", 1)[-1]
        assert key.startswith("corral_")
        for command, expected in _curl_examples():
            done = _curl(command.replace(":8787", f":{port}"), key, workdir)
            if expected is not None:
                assert json.loads(done) == json.loads(expected), command
            else:
                assert "hello" in {pack["name"] for pack in json.loads(done)}
    finally:
        server.terminate()
        server.wait(timeout=60)

    created = corral("corral keys create NAME --role caller", workdir, NAME="erin")
    assert created.returncode == 0, created.stderr
    assert "created caller key" in created.stdout and "for erin" in created.stdout
    rotated = corral("corral keys rotate", workdir)
    assert rotated.returncode == 0, rotated.stderr
    assert rotated.stdout.startswith("re-sealed 0 connection secrets under a new key")
    listed = corral("corral packs versions NAME", workdir, NAME="hello")
    assert listed.returncode == 0, listed.stderr
    (version,) = [json.loads(line)["version"] for line in listed.stdout.splitlines()]
    activated = corral("corral packs activate NAME VERSION", workdir, NAME="hello",
                       VERSION=version)
    assert activated.returncode == 0 and f"hello {version} is active" in activated.stderr


def _curl(command: str, key: str, cwd: Path) -> str:
    deadline_tries = 50
    for _ in range(deadline_tries):
        done = subprocess.run(["bash", "-c", command], cwd=cwd, capture_output=True, text=True,
                              timeout=60, env={**os.environ, "KEY": key})
        if done.returncode != 7:  # 7: not listening yet (uvicorn binds after the banner)
            break
        subprocess.run(["sleep", "0.2"])
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_bench_security_runs_as_written(workdir: Path) -> None:
    """The full corpus runs and writes its report to the checkout's results/security/, and
    the exit status agrees with the report. Whether each attack is contained is pinned by
    tests/bench on the quick subset: a few full-suite verdicts (an RSS margin, a deadline
    that a fast machine can beat) depend on the machine, so they are not asserted here."""
    from benchmarks.security.corpus import all_attacks

    report_path = REPO / "results" / "security" / "report.json"
    report_path.unlink(missing_ok=True)
    done = corral("corral bench security", workdir)
    assert done.returncode in (0, 1), done.stderr[-3000:]
    summary = json.loads(report_path.read_text())["summary"]
    assert summary["quick"] is False and summary["attacks"] == len(all_attacks())
    assert done.returncode == (0 if summary["passed"] else 1)
    assert f"{summary['contained']}/{summary['attacks']} attacks contained" in done.stdout
