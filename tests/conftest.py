"""Shared fixtures: packs built from source (cached under build/), sandboxes, WAT packs,
and the call-path matrix.

A test that asks for ``call_path`` runs once per call path (ids ``native`` and
``public``; ``--call-path native|public`` keeps one), and ``path_sandbox`` is a sandbox
forced onto that path. The sandbox suites and the conformance suite ask for it through
their ``sandbox`` fixture.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import wasmtime

from corral import MANIFEST_SECTION, Sandbox, SandboxConfig, build_pack, set_custom_section

REPO = Path(__file__).resolve().parents[1]
PACKS = REPO / "packs"
TEST_PACKS = Path(__file__).resolve().parent / "packs"
#: The one hostile pack (two manifests) lives with the security benchmark, which uses it too.
HOSTILE_PACKS = REPO / "benchmarks" / "security" / "packs"


def built(pack_dir: Path) -> Path:
    """Build a pack from source (the build is cached by its inputs) and return the .wasm."""
    return build_pack(pack_dir).path


@pytest.fixture(scope="session")
def hello_wasm() -> Path:
    return built(PACKS / "hello")


@pytest.fixture(scope="session")
def textstats_wasm() -> Path:
    return built(PACKS / "textstats")


@pytest.fixture(scope="session")
def hostile_wasm() -> Path:
    return built(HOSTILE_PACKS / "hostile")


@pytest.fixture(scope="session")
def hostile_time_wasm() -> Path:
    return built(HOSTILE_PACKS / "hostile_time")


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    box = Sandbox(SandboxConfig(cache_dir=tmp_path_factory.mktemp("modules")))
    yield box
    box.close()


CALL_PATHS = ("native", "public")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--call-path", choices=("both", *CALL_PATHS), default="both",
                     help="run the call-path matrix on one path only (default: both)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "call_path" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("--call-path")
        paths = list(CALL_PATHS) if chosen == "both" else [chosen]
        metafunc.parametrize("call_path", paths, ids=paths, indirect=True, scope="session")


@pytest.fixture(scope="session")
def call_path(request: pytest.FixtureRequest) -> str:
    """``native`` or ``public``: the path this run of a matrix test forces."""
    return str(request.param)


@pytest.fixture(scope="session")
def path_sandbox(call_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A sandbox forced onto ``call_path`` (``native`` fails if the helper cannot load)."""
    box = Sandbox(SandboxConfig(cache_dir=tmp_path_factory.mktemp("modules"),
                                call_path=call_path))
    assert box.call_path == call_path
    yield box
    box.close()


def simple_manifest(name: str, formulas: list[str], **limits: Any) -> dict[str, Any]:
    manifest: dict[str, Any] = {
        "pack": {"name": name, "version": "0.1.0"},
        "formulas": [{"name": f} for f in formulas],
    }
    if limits:
        manifest["limits"] = limits
    return manifest


def wat_pack(wat: str, manifest: dict[str, Any]) -> bytes:
    """A pack from inline WAT plus a manifest: for ABI abuse no SDK would produce."""
    wasm = wasmtime.wat2wasm(wat)
    return set_custom_section(bytes(wasm), MANIFEST_SECTION, json.dumps(manifest).encode())


WatPack = Callable[[str, dict[str, Any]], bytes]


@pytest.fixture
def make_wat_pack() -> WatPack:
    return wat_pack
