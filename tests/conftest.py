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

import msgpack
import pytest
import wasmtime

from corral import MANIFEST_SECTION, Sandbox, SandboxConfig, build_pack, set_custom_section
from tests.services import postgres_server_url, postgres_url  # noqa: F401  (fixtures)

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


def answering_pack(manifest: dict[str, Any], ok: Any, **by_op: Any) -> bytes:
    """A pack whose every call answers ``{ok: <ok>}``, or ``{ok: by_op[op]}`` for those ops.

    The op is told apart by the length of the request's ``op`` string, which sits at
    byte 4 of the request (``{"op": ...}`` comes first in the map the host encodes).
    """
    answers = [(None, ok), *by_op.items()]
    segments, branches, offset = [], [], 1024
    for op, value in answers:
        data = msgpack.packb({"ok": value}, use_bin_type=True)
        escaped = "".join(f"\\{b:02x}" for b in data)
        segments.append(f'(data (i32.const {offset}) "{escaped}")')
        result = f"(i64.or (i64.shl (i64.const {offset}) (i64.const 32)) (i64.const {len(data)}))"
        if op is None:
            default = result
        else:
            tag = 0xA0 | len(op)
            branches.append(f"(if (i32.eq (i32.load8_u offset=4 (local.get $ptr)) (i32.const {tag}))"
                            f" (then (return {result})))")
        offset += len(data) + 16
    wat = f"""
    (module
      (memory (export "memory") 2)
      (global $heap (mut i32) (i32.const 65536))
      (func (export "corral_abi_v1"))
      (func (export "corral_alloc") (param $n i32) (result i32)
        (local $p i32)
        (local.set $p (global.get $heap))
        (global.set $heap (i32.add (global.get $heap) (local.get $n)))
        (local.get $p))
      (func (export "corral_call") (param $ptr i32) (param $len i32) (result i64)
        {" ".join(branches)}
        {default})
      {" ".join(segments)})
    """
    return wat_pack(wat, manifest)


WatPack = Callable[[str, dict[str, Any]], bytes]


@pytest.fixture
def make_wat_pack() -> WatPack:
    return wat_pack
