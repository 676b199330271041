"""A wheel carries everything ``corral new`` and ``corral build`` need.

The wheel is built from a copy of the sources (so nothing stale in the checkout's build/
can slip in), installed into a fresh venv, and used from a directory outside the checkout:
a new pack in each language scaffolds, builds and passes its generated test. The venv gets
its dependencies (wasmtime, ziglang, pytest, ...) from the running interpreter through a
``.pth`` file rather than from PyPI, so the test needs no network for them and stays fast;
the checkout's own ``corral`` (editable or on PYTHONPATH) is kept out of it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import venv
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest

from ..conftest import REPO

#: Ignored by git; zig's cache lives on here between runs.
CACHE = REPO / "build" / "wheel-test"
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "host", "guest-sdk")
DEPENDENCIES = ("wasmtime", "msgpack", "httpx", "httpcore", "cryptography", "lark", "lmdb",
                "fastapi", "uvicorn", "ziglang", "idna", "pytest")
LANGUAGES = ("zig", "c", "assemblyscript")


def _run(command: list[str], cwd: Path, env: dict[str, str],
         timeout: int = 600) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, f"{command} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def _copy_sources(target: Path) -> None:
    skip = shutil.ignore_patterns("node_modules", "build", "__pycache__", "*.egg-info", "*.wasm")
    target.mkdir(parents=True)
    for name in SOURCES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=skip)
        else:
            shutil.copy2(source, target / name)


def _dependency_dirs() -> list[str]:
    """Where the running interpreter finds each dependency (its site-packages, usually one)."""
    dirs: list[str] = []
    for name in DEPENDENCIES:
        try:
            found = str(distribution(name).locate_file(""))
        except PackageNotFoundError:
            continue
        if found not in dirs:
            dirs.append(found)
    return dirs


def _clean_env(venv_dir: Path, **extra: str) -> dict[str, str]:
    drop = ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "CORRAL_SDK_DIR")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PATH"] = f"{venv_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A fresh venv with the wheel installed, and the environment to run it in."""
    root = tmp_path_factory.mktemp("wheel")
    _copy_sources(root / "src")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(root / "dist"),
          str(root / "src")], cwd=root, env=dict(os.environ))
    (wheel,) = (root / "dist").glob("corral-*.whl")

    venv_dir = root / "venv"
    venv.EnvBuilder(with_pip=False).create(venv_dir)
    python = venv_dir / "bin" / "python"
    site = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                cwd=root, env=_clean_env(venv_dir)).stdout.strip()
    (Path(site) / "_corral_test_dependencies.pth").write_text("\n".join(_dependency_dirs()) + "\n")
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
          "--no-deps", "--no-index", str(wheel)], cwd=root, env=_clean_env(venv_dir))
    env = _clean_env(venv_dir, ZIG_GLOBAL_CACHE_DIR=str(CACHE / "zig"),
                     CORRAL_ASSEMBLYSCRIPT_DIR=str(root / "assemblyscript"),
                     CORRAL_CACHE_DIR=str(root / "modules"))
    (root / "work").mkdir()
    return venv_dir, env


def test_the_installed_corral_is_the_wheel_and_finds_its_own_sdks(
        installed: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    venv_dir, env = installed
    code = ("import corral, corral._toolchain.sdk as sdk; "
            "print(corral.__file__); print(sdk.sdk_dir()); print(sdk.checkout_root())")
    where, sdk, checkout = _run([str(venv_dir / "bin" / "python"), "-c", code], cwd=tmp_path,
                                env=env).stdout.split()
    assert Path(where).is_relative_to(venv_dir)
    assert Path(sdk).is_relative_to(venv_dir) and (Path(sdk) / "ABI.md").is_file()
    assert checkout == "None"
    assert not list(Path(sdk).rglob("node_modules"))
    version = _run([str(venv_dir / "bin" / "corral"), "--version"], cwd=tmp_path, env=env)
    assert re.fullmatch(r"corral \d+\.\d+\.\d+\S*\n", version.stdout)


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_new_pack_builds_and_passes_its_test_outside_the_checkout(
        installed: tuple[Path, dict[str, str]], tmp_path: Path, language: str) -> None:
    venv_dir, env = installed
    corral = str(venv_dir / "bin" / "corral")
    name = f"starter_{language}"
    _run([corral, "new", name, "--lang", language], cwd=tmp_path, env=env)
    built = _run([corral, "build", name], cwd=tmp_path, env=env)
    assert f"{name} 0.1.0: built" in built.stdout
    assert (tmp_path / name / "build" / f"{name}.wasm").read_bytes()[:4] == b"\0asm"
    if language == "assemblyscript":
        assert "installing the AssemblyScript compiler with `npm ci`" in built.stderr
        assert list(Path(env["CORRAL_ASSEMBLYSCRIPT_DIR"]).glob("*/node_modules/.bin/asc"))
    tested = _run([str(venv_dir / "bin" / "python"), "-m", "pytest", "-q", "-p",
                   "no:cacheprovider", name], cwd=tmp_path, env=env)
    assert "5 passed" in tested.stdout  # Greet x2, Invite, Zone, and test_examples


def test_serve_without_example_packs_says_so(installed: tuple[Path, dict[str, str]],
                                             tmp_path: Path) -> None:
    venv_dir, env = installed
    process = subprocess.Popen(
        [str(venv_dir / "bin" / "corral"), "serve", "--data-dir", str(tmp_path / "data"),
         "--port", "0"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        lines: list[str] = []
        while not lines or "serving on" not in lines[-1]:
            line = process.stdout.readline()
            assert line, f"corral serve exited early: {lines}"
            lines.append(line)
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert any("no example packs here" in line for line in lines), lines
    assert not any("registered" in line for line in lines), lines


def test_the_wheel_ships_the_offline_docs_assets(installed: tuple[Path, dict[str, str]],
                                                  tmp_path: Path) -> None:
    venv_dir, env = installed
    sizes = _run([str(venv_dir / "bin" / "python"), "-c",
                  "from corral._server.docs import asset_bytes\n"
                  "for name in ('swagger-init.js', 'swagger-ui-bundle.js', 'swagger-ui.css'):\n"
                  "    print(name, len(asset_bytes(name)))"], cwd=tmp_path, env=env).stdout
    assert [int(line.split()[1]) > 0 for line in sizes.splitlines()] == [True] * 3, sizes


def test_the_wheel_ships_the_console(installed: tuple[Path, dict[str, str]],
                                     tmp_path: Path) -> None:
    venv_dir, env = installed
    script = ("from corral._server.console_page import PAGE, asset_names, console_file\n"
              "for name in [PAGE, *sorted(asset_names())]:\n"
              "    print(name, len(console_file(name)))")
    listed = _run([str(venv_dir / "bin" / "python"), "-c", script], cwd=tmp_path,
                  env=env).stdout
    shipped = {line.split()[0]: int(line.split()[1]) for line in listed.splitlines()}
    console = REPO / "host" / "corral" / "_server" / "console"
    expected = {p.name: p.stat().st_size for p in console.iterdir() if p.suffix != ".py"
                and p.is_file()}
    assert shipped == expected, (shipped, expected)
