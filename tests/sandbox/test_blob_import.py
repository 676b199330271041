"""The ``corral.blob`` import: optional (a pack without it loads), checked for its
signature like every import, capped per call by ``limits.max_blobs``, and a host
without a blob store answers the guest ``unavailable``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import wasmtime
from corral import BlobError, BlobLimitExceeded, PackValidationError, Sandbox
from corral._pack.abi import HOST_IMPORTS
from corral._runtime.pack import Pack, read_manifest
from corral._sandbox.modules import check_imports

from ..conftest import PACKS, built

CONFORMANCE = Path(__file__).resolve().parents[1] / "conformance" / "zig"


def _module(imports: str) -> wasmtime.Module:
    return wasmtime.Module(wasmtime.Engine(), f"(module {imports})")


def test_blob_is_an_abi_import_with_the_fetch_signature() -> None:
    assert HOST_IMPORTS["blob"] == HOST_IMPORTS["fetch"] == (("i32", "i32"), ("i64",))
    check_imports(_module('(import "corral" "blob" (func (param i32 i32) (result i64)))'),
                  "p", wasi=False)


@pytest.mark.parametrize("signature", ["(param i32) (result i64)", "(param i32 i32)",
                                       "(param i64 i64) (result i64)"])
def test_a_blob_import_with_another_signature_is_refused(signature: str) -> None:
    with pytest.raises(PackValidationError, match="corral.blob with the wrong signature"):
        check_imports(_module(f'(import "corral" "blob" (func {signature}))'), "p", wasi=False)


def test_a_pack_that_does_not_import_blob_still_loads(sandbox: Sandbox) -> None:
    wasm = built(PACKS / "hello").read_bytes()
    names = {i.name for i in wasmtime.Module(wasmtime.Engine(), wasm).imports}
    assert "blob" not in names
    manifest = read_manifest(wasm)
    pack = Pack(wasm, manifest, sandbox.compile(wasm, name=manifest.name), sandbox)
    assert pack.call("Greet", "Ada") == "Hello, Ada!"


class _Blobs:
    """Host calls with a blob store that records what the guest asked for."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    def fetch(self, request: dict[str, Any], deadline: float) -> dict[str, Any]:
        raise AssertionError("no fetch expected")

    def log(self, level: str, message: str) -> None:
        pass

    def blob(self, request: dict[str, Any], deadline: float) -> dict[str, Any]:
        self.requests.append(request)
        return {"url": "https://host.test/v1/blobs/x", "expires_at": "2030-01-01T00:00:00Z"}


def _conformance(sandbox: Sandbox, max_blobs: int | None = None) -> Pack:
    wasm = built(CONFORMANCE).read_bytes()
    manifest = read_manifest(wasm)
    if max_blobs is not None:
        manifest = replace(manifest, limits=replace(manifest.limits, max_blobs=max_blobs))
    return Pack(wasm, manifest, sandbox.compile(wasm, name=manifest.name), sandbox)


def test_the_guest_hands_the_host_bytes_and_a_content_type(sandbox: Sandbox) -> None:
    host = _Blobs()
    result = _conformance(sandbox).call("CtxStoreBlob", "héllo", "text/plain", host=host)
    assert result == {"url": "https://host.test/v1/blobs/x",
                      "expires_at": "2030-01-01T00:00:00Z"}
    assert host.requests == [{"bytes": "héllo".encode(), "content_type": "text/plain"}]


def test_blobs_per_call_are_capped_by_max_blobs(sandbox: Sandbox) -> None:
    host = _Blobs()
    with pytest.raises(BlobLimitExceeded, match="max_blobs"):
        _conformance(sandbox, max_blobs=0).call("CtxStoreBlob", "x", "text/plain", host=host)
    assert host.requests == []


def test_a_host_without_a_blob_store_answers_unavailable(sandbox: Sandbox) -> None:
    with pytest.raises(BlobError) as info:
        _conformance(sandbox).call("CtxStoreBlob", "x", "text/plain")  # the offline host
    assert info.value.rule == "no_store"


_RAW = """(module
  (import "corral" "blob" (func $blob (param i32 i32) (result i64)))
  (memory (export "memory") 1)
  (global $next (mut i32) (i32.const 4096))
  (data (i32.const 1024) "\\c1")
  (data (i32.const 1040) "\\05")
  (func (export "corral_abi_v1"))
  (func (export "corral_alloc") (param $n i32) (result i32) (local $p i32)
    (local.set $p (global.get $next))
    (global.set $next (i32.add (global.get $next) (local.get $n)))
    (local.get $p))
  (func (export "corral_call") (param i32 i32) (result i64)
    (call $blob (i32.const PTR) (i32.const LEN))))"""


def _raw_pack(sandbox: Sandbox, ptr: int, length: int) -> Pack:
    """A hand-written guest that hands ``corral.blob`` these bytes and returns the reply."""
    from corral import parse_manifest

    wasm = bytes(wasmtime.wat2wasm(_RAW.replace("PTR", str(ptr)).replace("LEN", str(length))))
    manifest = parse_manifest({"pack": {"name": "rawblob", "version": "1.0.0"},
                               "formulas": [{"name": "Raw", "result": {"type": "string"}}]})
    return Pack(wasm, manifest, sandbox.compile(wasm, name="rawblob"), sandbox)


@pytest.mark.parametrize("ptr", [1024, 1040], ids=["not-msgpack", "not-a-map"])
def test_a_malformed_blob_request_is_the_guests_bad_request(sandbox: Sandbox, ptr: int) -> None:
    from corral import GuestError

    host = _Blobs()
    with pytest.raises(GuestError) as info:
        _raw_pack(sandbox, ptr, 1).invoke("formula", "Raw", [], host=host)
    assert info.value.details["guest_kind"] == "bad_request"
    assert host.requests == []


def test_a_blob_request_outside_guest_memory_is_an_abi_violation(sandbox: Sandbox) -> None:
    from corral import AbiViolation

    with pytest.raises(AbiViolation, match="blob request"):
        _raw_pack(sandbox, 65_530, 100).invoke("formula", "Raw", [], host=_Blobs())
