"""The `corral` command line, run as a user would, in a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import corral

from ..conftest import PACKS, built

CORRAL = [sys.executable, "-m", "corral"]


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CORRAL, *args], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def test_build_validate_and_call_hello(tmp_path: Path) -> None:
    pack_dir = tmp_path / "hello"
    shutil.copytree(PACKS / "hello", pack_dir, ignore=shutil.ignore_patterns("build"))
    built = run("build", str(pack_dir), cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    wasm = pack_dir / "build" / "hello.wasm"
    assert wasm.is_file() and "built" in built.stdout
    again = run("build", str(pack_dir), cwd=tmp_path)
    assert "up to date" in again.stdout, "an unchanged pack is not rebuilt"

    valid = run("validate", str(wasm), cwd=tmp_path)
    assert valid.returncode == 0, valid.stderr
    assert "valid Corral pack hello 0.1.0" in valid.stdout

    call = run("call", str(wasm), "Greet", '"Ada"', "--data-dir", str(tmp_path / "data"),
               cwd=tmp_path)
    assert call.returncode == 0, call.stderr
    assert json.loads(call.stdout) == "Hello, Ada!"


def test_call_errors_go_to_stderr_with_non_zero_exit(hello_wasm: Path, tmp_path: Path) -> None:
    call = run("call", str(hello_wasm), "Greet", '""', "--data-dir", str(tmp_path), cwd=tmp_path)
    assert call.returncode == 1
    assert call.stdout == ""
    assert "guest_error" in call.stderr and "Greet needs a name" in call.stderr


def test_validate_refuses_a_module_without_a_manifest(tmp_path: Path) -> None:
    import wasmtime

    bare = tmp_path / "bare.wasm"
    bare.write_bytes(bytes(wasmtime.wat2wasm("(module)")))
    result = run("validate", str(bare), cwd=tmp_path)
    assert result.returncode == 1
    assert "no 'corral:manifest' custom section" in result.stderr


def test_build_reports_a_manifest_error_with_its_field(tmp_path: Path) -> None:
    pack_dir = tmp_path / "broken"
    (pack_dir / "src").mkdir(parents=True)
    (pack_dir / "src" / "main.zig").write_text("")
    (pack_dir / "pack.toml").write_text('[pack]\nname = "broken"\nversion = "x"\n')
    result = run("build", str(pack_dir), cwd=tmp_path)
    assert result.returncode == 1
    assert "pack.version" in result.stderr and "semantic version" in result.stderr


def test_build_reports_compiler_errors(tmp_path: Path) -> None:
    pack_dir = tmp_path / "typo"
    (pack_dir / "src").mkdir(parents=True)
    (pack_dir / "src" / "main.zig").write_text("const x: u8 = 300;\npub fn nope( {}\n")
    (pack_dir / "pack.toml").write_text(
        '[pack]\nname = "typo"\nversion = "0.1.0"\n[[formulas]]\nname = "F"\n')
    result = run("build", str(pack_dir), cwd=tmp_path)
    assert result.returncode == 1
    assert "zig build of main.zig failed" in result.stderr and "main.zig" in result.stderr


def test_version_is_the_package_version(tmp_path: Path) -> None:
    done = run("--version", cwd=tmp_path)
    assert done.returncode == 0
    assert done.stdout == f"corral {corral.__version__}\n"


def test_connect_takes_a_pack_dir_a_wasm_or_a_registered_name(tmp_path: Path) -> None:
    github = built(PACKS / "github")
    data = ["--data-dir", str(tmp_path / "data")]
    secret = ["--secret", '{"token": "t0ken"}']
    from_dir = run("connect", str(PACKS / "github"), *secret, *data, cwd=tmp_path)
    assert from_dir.returncode == 0, from_dir.stderr
    from_wasm = run("connect", str(github), *secret, "--name", "mine", *data, cwd=tmp_path)
    assert from_wasm.returncode == 0, from_wasm.stderr
    by_name = run("connect", "github", *secret, "--principal", "ada", *data, cwd=tmp_path)
    assert by_name.returncode == 0, by_name.stderr
    infos = [json.loads(done.stdout) for done in (from_dir, from_wasm, by_name)]
    assert [(i["pack"], i["name"]) for i in infos] == [
        ("github", "github connection"), ("github", "mine"), ("github", "github connection")]
    assert len({i["id"] for i in infos}) == 3
    assert all("t0ken" not in done.stdout for done in (from_dir, from_wasm, by_name))


def test_connect_refuses_an_unknown_pack_and_a_secret_that_is_not_an_object(
        tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    unknown = run("connect", "nosuch", "--secret", '{"token": "t"}', *data, cwd=tmp_path)
    assert unknown.returncode == 1
    assert "not_found" in unknown.stderr and "nosuch" in unknown.stderr
    not_object = run("connect", str(PACKS / "github"), "--secret", '"t"', *data, cwd=tmp_path)
    assert not_object.returncode == 1
    assert "--secret must be a JSON object" in not_object.stderr


def test_packs_activate_rolls_back_in_the_data_dir_a_server_shares(tmp_path: Path) -> None:
    from corral import Host, Settings
    from corral._cli.main import main

    from ..runtime.test_calls import constant_pack

    data_dir = tmp_path / "data"
    with Host(Settings(data_dir=data_dir)) as running:  # stands in for a running server
        running.register_bytes(constant_pack("1.0.0", "one"))
        running.register_bytes(constant_pack("2.0.0", "two"))
        assert running.call("versions", "Which") == "two"
        assert main(["packs", "activate", "versions", "1.0.0", "--data-dir", str(data_dir)]) == 0
        assert running.call("versions", "Which") == "one"
        assert main(["packs", "activate", "versions", "3.0.0", "--data-dir", str(data_dir)]) == 1
