"""``corral new``: a scaffolded pack builds, and its generated test passes, in every language."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from corral import ArgumentError, ManifestError, build_pack, new_pack
from corral._toolchain.scaffold import LANGUAGES, register_new_command


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="corral")
    register_new_command(parser.add_subparsers(dest="command", required=True))
    return parser


TOML_LANGUAGES = [lang for lang in LANGUAGES if lang != "typescript"]


@pytest.mark.parametrize("language", TOML_LANGUAGES)
def test_a_new_pack_builds_and_its_generated_test_passes(language: str, tmp_path: Path) -> None:
    args = _parser().parse_args(["new", "starter", "--lang", language,
                                 "--dir", str(tmp_path / "starter")])
    assert args.func(args) == 0
    pack_dir = tmp_path / "starter"
    assert {p.name for p in pack_dir.iterdir()} >= {"pack.toml", "README.md", "test_starter.py"}

    result = build_pack(pack_dir)
    assert result.manifest.name == "starter"
    assert result.manifest.build["language"] == language
    assert result.path.read_bytes()[:4] == b"\0asm"
    greet = result.manifest.formula("Greet")
    assert [(e.params, e.result) for e in greet.examples] == [(("Ada",), "Hello, Ada!")]

    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          str(pack_dir)], cwd=tmp_path, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "5 passed" in run.stdout  # Greet x2, Invite, Zone, and test_examples (pack.toml)


def test_a_new_typescript_pack_is_a_coda_pack_that_builds_and_passes_its_test(
        tmp_path: Path) -> None:
    args = _parser().parse_args(["new", "starter", "--lang", "typescript",
                                 "--dir", str(tmp_path / "starter")])
    assert args.func(args) == 0
    pack_dir = tmp_path / "starter"
    assert {p.name for p in pack_dir.iterdir()} == {"pack.ts", "tsconfig.json", "README.md",
                                                     "test_starter.py"}
    assert 'import * as coda from "@codahq/packs-sdk"' in (pack_dir / "pack.ts").read_text()

    result = build_pack(pack_dir)
    assert result.manifest.name == "starter"
    assert result.manifest.build["language"] == "typescript"
    assert result.manifest.formula("Greet").cache_ttl_s == 3600
    assert result.path.read_bytes()[:4] == b"\0asm"
    assert build_pack(pack_dir).cached

    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          str(pack_dir)], cwd=tmp_path, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 passed" in run.stdout


def test_the_default_directory_is_the_pack_name(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    target = new_pack("weather", "c")
    assert target == Path("weather")
    assert (tmp_path / "weather" / "src" / "main.c").is_file()
    assert 'name = "weather"' in (tmp_path / "weather" / "pack.toml").read_text()


def test_a_bad_name_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="'9lives' must start with a letter") as info:
        new_pack("9lives", "zig", tmp_path / "x")
    assert info.value.field == "pack.name"
    assert not (tmp_path / "x").exists()


def test_an_unknown_language_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ArgumentError, match="'rust' is not one of zig, c, assemblyscript"):
        new_pack("crab", "rust", tmp_path / "crab")
    with pytest.raises(SystemExit):
        _parser().parse_args(["new", "crab", "--lang", "rust"])


def test_an_existing_directory_with_files_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    with pytest.raises(ArgumentError, match="already exists"):
        new_pack("taken", "zig", tmp_path / "taken")
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["notes.txt"]
    (tmp_path / "empty").mkdir()
    assert new_pack("empty", "zig", tmp_path / "empty") == tmp_path / "empty"
