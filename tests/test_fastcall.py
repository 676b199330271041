"""The raw hot path must behave exactly like wasmtime-py's public API path."""

from __future__ import annotations

from pathlib import Path

import pytest

import corral
from corral import _fastcall
from corral import AbiViolation, FuelExhausted, GuestError, MemoryLimitExceeded, Sandbox


@pytest.fixture(params=["fast", "public"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "public":
        monkeypatch.setattr(_fastcall, "available", lambda: False)
    else:
        assert _fastcall.available(), "this wasmtime-py should support the raw path"
    return str(request.param)


def test_results_match_on_both_paths(path: str, hello_wasm: Path, sandbox: Sandbox) -> None:
    pack = corral.load_pack(hello_wasm, sandbox=sandbox)
    assert pack.call("Greet", "Ada") == "Hello, Ada!"
    assert pack.call("Describe", "Anna")["palindrome"] is True
    with pytest.raises(GuestError):
        pack.call("Greet", "")


def test_breaches_match_on_both_paths(path: str, hostile_wasm: Path, sandbox: Sandbox) -> None:
    pack = corral.load_pack(hostile_wasm, sandbox=sandbox)
    with pytest.raises(FuelExhausted):
        pack.call("Spin")
    with pytest.raises(MemoryLimitExceeded):
        pack.call("GrowBomb")
    assert pack.call("Ping") == "pong"


def test_host_errors_surface_unchanged_on_both_paths(path: str, make_wat_pack,  # type: ignore[no-untyped-def]
                                                     sandbox: Sandbox) -> None:
    from corral._pack import pack_from_bytes

    from .conftest import simple_manifest

    wat = """(module (import "corral" "log" (func $log (param i32 i32 i32)))
      (memory (export "memory") 1) (func (export "corral_abi_v1"))
      (func (export "corral_alloc") (param i32) (result i32) (i32.const 64))
      (func (export "corral_call") (param i32 i32) (result i64)
        (call $log (i32.const 1) (i32.const -16) (i32.const 32)) (i64.const 0)))"""
    pack = pack_from_bytes(make_wat_pack(wat, simple_manifest("abuse", ["Call"])), sandbox=sandbox)
    with pytest.raises(AbiViolation, match="log message"):
        pack.call("Call")


def test_a_full_instance_pool_is_overload_not_a_crash(hello_wasm: Path, tmp_path: Path) -> None:
    import threading

    from corral import Overloaded, SandboxConfig

    box = Sandbox(SandboxConfig(cache_dir=tmp_path, pool_instances=1))
    try:
        hello = corral.load_pack(hello_wasm, sandbox=box)
        slow = corral.load_pack(hello_wasm, sandbox=box)
        entered, release = threading.Event(), threading.Event()

        class HoldingHost:
            def fetch(self, request: dict, deadline: float) -> dict:  # type: ignore[type-arg]
                raise AssertionError("no fetch expected")

            def log(self, level: str, message: str) -> None:
                entered.set()
                release.wait(10)

        holder = threading.Thread(target=lambda: slow.call("Shout", "x", host=HoldingHost()))
        holder.start()
        assert entered.wait(10), "the first call is inside the guest, holding the only slot"
        with pytest.raises(Overloaded) as info:
            hello.call("Greet", "Ada")
        assert info.value.retryable
        release.set()
        holder.join(10)
        assert hello.call("Greet", "Ada") == "Hello, Ada!"
    finally:
        box.close()


def test_a_closed_sandbox_refuses_calls_instead_of_running_without_deadlines(
        hello_wasm: Path, tmp_path: Path) -> None:
    from corral import InvocationError, SandboxConfig

    with Sandbox(SandboxConfig(cache_dir=tmp_path)) as box:
        pack = corral.load_pack(hello_wasm, sandbox=box)
        assert pack.call("Greet", "Ada") == "Hello, Ada!"
    box.close()  # idempotent
    with pytest.raises(InvocationError, match="sandbox is closed"):
        pack.call("Greet", "Ada")
