"""One test per sandbox limit, each driven by a purpose-built hostile pack.

After every breach the same sandbox must still answer a normal call correctly.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import corral
from corral import (AbiViolation, BadOutput, DeadlineExceeded, FuelExhausted, GuestTrap,
                    InputTooLarge, MemoryLimitExceeded, OutputTooLarge, PackValidationError,
                    Sandbox, StackOverflow, pack_from_bytes)
from corral._sandbox.sandbox import TABLE_ELEMENTS

from ..conftest import WatPack, simple_manifest


@pytest.fixture
def healthy(hello_wasm: Path, sandbox: Sandbox):  # type: ignore[no-untyped-def]
    """Call after a breach: the same sandbox serves a normal call correctly."""
    hello = corral.load_pack(hello_wasm, sandbox=sandbox)

    def check() -> None:
        assert hello.call("Greet", "again") == "Hello, again!"

    return check


def test_infinite_loop_runs_out_of_fuel(hostile_wasm: Path, sandbox: Sandbox, healthy) -> None:  # type: ignore[no-untyped-def]
    pack = corral.load_pack(hostile_wasm, sandbox=sandbox)
    with pytest.raises(FuelExhausted) as info:
        pack.call("Spin")
    assert info.value.limit == "fuel"
    assert "hostile.Spin" in str(info.value)
    healthy()


def test_loop_with_huge_fuel_hits_the_deadline(hostile_time_wasm: Path, sandbox: Sandbox,
                                               healthy) -> None:  # type: ignore[no-untyped-def]
    pack = corral.load_pack(hostile_time_wasm, sandbox=sandbox)
    with pytest.raises(DeadlineExceeded) as info:
        pack.call("Spin")
    assert info.value.limit == "timeout_ms"
    assert "300 ms" in str(info.value)
    healthy()


def test_memory_grow_bomb_hits_the_memory_cap(hostile_wasm: Path, sandbox: Sandbox,
                                              healthy) -> None:  # type: ignore[no-untyped-def]
    pack = corral.load_pack(hostile_wasm, sandbox=sandbox)
    with pytest.raises(MemoryLimitExceeded) as info:
        pack.call("GrowBomb")
    assert info.value.limit == "memory_bytes"
    healthy()


def test_huge_allocation_is_refused_by_the_memory_cap(hostile_wasm: Path, sandbox: Sandbox,
                                                      healthy) -> None:  # type: ignore[no-untyped-def]
    pack = corral.load_pack(hostile_wasm, sandbox=sandbox)
    with pytest.raises(MemoryLimitExceeded):
        pack.call("AllocHuge")
    healthy()


def test_deep_recursion_overflows_the_stack(hostile_wasm: Path, sandbox: Sandbox,
                                            healthy) -> None:  # type: ignore[no-untyped-def]
    pack = corral.load_pack(hostile_wasm, sandbox=sandbox)
    assert pack.call("Recurse", 100) > 0, "shallow recursion is fine"
    with pytest.raises(StackOverflow):
        pack.call("Recurse", 5_000_000)
    healthy()


def test_deep_recursion_on_a_thread_smaller_than_the_wasm_stack_is_a_trap(
        hostile_wasm: Path, sandbox: Sandbox, healthy) -> None:  # type: ignore[no-untyped-def]
    """A thread whose whole stack is below max_wasm_stack would fault on its guard page
    (ending the process) before wasmtime's limit; its calls run on a helper that has room."""
    pack = corral.load_pack(hostile_wasm, sandbox=sandbox)
    assert sandbox.config.max_wasm_stack > 256 * 1024
    caught: list[BaseException] = []

    def run() -> None:
        try:
            pack.call("Recurse", 5_000_000)
        except StackOverflow as exc:
            caught.append(exc)

    previous = threading.stack_size(256 * 1024)
    try:
        thread = threading.Thread(target=run)
        thread.start()
    finally:
        threading.stack_size(previous)
    thread.join(60)
    assert len(caught) == 1 and caught[0].limit == "max_wasm_stack"
    healthy()


def test_output_over_the_cap_is_refused(hostile_wasm: Path, sandbox: Sandbox, healthy) -> None:  # type: ignore[no-untyped-def]
    pack = corral.load_pack(hostile_wasm, sandbox=sandbox)
    assert len(pack.call("BigOutput", 1000)) == 1000
    with pytest.raises(OutputTooLarge) as info:
        pack.call("BigOutput", 200_000)
    assert info.value.limit == "max_output_bytes"
    healthy()


def test_input_over_the_cap_is_refused_before_running(hostile_wasm: Path, sandbox: Sandbox,
                                                      healthy) -> None:  # type: ignore[no-untyped-def]
    pack = corral.load_pack(hostile_wasm, sandbox=sandbox)
    with pytest.raises(InputTooLarge):
        pack.invoke("formula", "Ping", ["x" * (2 * 1024 * 1024)])
    healthy()


# Raw ABI abuse that no SDK would produce, written in WAT.

_ABI_EXPORTS = """
  (memory (export "memory") 2)
  (func (export "corral_abi_v1"))
  (global $top (mut i32) (i32.const 1024))
  (func (export "corral_alloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $top))
    (global.set $top (i32.add (global.get $top) (local.get $n)))
    (local.get $p))
"""


def _abuse_pack(body: str, make_wat_pack: WatPack, sandbox: Sandbox) -> corral.Pack:
    wat = f"(module {_ABI_EXPORTS} (data (i32.const 16) \"\\c1\\c1\\ff\\00\") {body})"
    return pack_from_bytes(make_wat_pack(wat, simple_manifest("abuse", ["Call"])), sandbox=sandbox)


def test_malformed_output_bytes_are_bad_output(make_wat_pack: WatPack, sandbox: Sandbox,
                                               healthy) -> None:  # type: ignore[no-untyped-def]
    body = '(func (export "corral_call") (param i32 i32) (result i64) (i64.const 0x1000000004))'
    pack = _abuse_pack(body, make_wat_pack, sandbox)
    with pytest.raises(BadOutput, match="not valid MessagePack"):
        pack.call("Call")
    healthy()


def test_output_that_is_not_an_ok_or_err_map_is_bad_output(make_wat_pack: WatPack,
                                                           sandbox: Sandbox, healthy) -> None:  # type: ignore[no-untyped-def]
    # 0x2a is the MessagePack integer 42: valid bytes, wrong shape.
    body = ('(data (i32.const 32) "\\2a") '
            '(func (export "corral_call") (param i32 i32) (result i64) (i64.const 0x2000000001))')
    pack = _abuse_pack(body, make_wat_pack, sandbox)
    with pytest.raises(BadOutput, match="exactly one key"):
        pack.call("Call")
    healthy()


@pytest.mark.parametrize("packed", [
    "0x7fffff0000000010",   # pointer far past the end of memory
    "0x0001fff000100000",   # in bounds start, length runs past the end
    "0x0000000000000008",   # null pointer
])
def test_out_of_bounds_output_pointer_is_an_abi_violation(packed: str, make_wat_pack: WatPack,
                                                          sandbox: Sandbox, healthy) -> None:  # type: ignore[no-untyped-def]
    body = f'(func (export "corral_call") (param i32 i32) (result i64) (i64.const {packed}))'
    pack = _abuse_pack(body, make_wat_pack, sandbox)
    with pytest.raises(AbiViolation, match="outside guest memory"):
        pack.call("Call")
    healthy()


def test_alloc_returning_garbage_is_an_abi_violation(make_wat_pack: WatPack, sandbox: Sandbox,
                                                     healthy) -> None:  # type: ignore[no-untyped-def]
    wat = """(module (memory (export "memory") 1) (func (export "corral_abi_v1"))
      (func (export "corral_alloc") (param i32) (result i32) (i32.const 0x7ffffff0))
      (func (export "corral_call") (param i32 i32) (result i64) (i64.const 0)))"""
    pack = pack_from_bytes(make_wat_pack(wat, simple_manifest("abuse", ["Call"])), sandbox=sandbox)
    with pytest.raises(AbiViolation, match="corral_alloc returned"):
        pack.call("Call")
    healthy()


def test_guest_trap_is_reported_with_its_code(make_wat_pack: WatPack, sandbox: Sandbox,
                                              healthy) -> None:  # type: ignore[no-untyped-def]
    body = '(func (export "corral_call") (param i32 i32) (result i64) unreachable)'
    pack = _abuse_pack(body, make_wat_pack, sandbox)
    with pytest.raises(GuestTrap, match="unreachable"):
        pack.call("Call")
    healthy()


def test_host_import_with_out_of_bounds_pointer_is_an_abi_violation(
        make_wat_pack: WatPack, sandbox: Sandbox, healthy) -> None:  # type: ignore[no-untyped-def]
    wat = f"""(module (import "corral" "log" (func $log (param i32 i32 i32))) {_ABI_EXPORTS}
      (func (export "corral_call") (param i32 i32) (result i64)
        (call $log (i32.const 1) (i32.const 0x7ffffff0) (i32.const 100)) (i64.const 0)))"""
    pack = pack_from_bytes(make_wat_pack(wat, simple_manifest("abuse", ["Call"])), sandbox=sandbox)
    with pytest.raises(AbiViolation, match="log message"):
        pack.call("Call")
    healthy()


def test_undeclared_import_is_refused_at_load(make_wat_pack: WatPack, sandbox: Sandbox) -> None:
    wat = f"""(module (import "wasi_snapshot_preview1" "fd_write"
        (func (param i32 i32 i32 i32) (result i32))) {_ABI_EXPORTS}
      (func (export "corral_call") (param i32 i32) (result i64) (i64.const 0)))"""
    with pytest.raises(PackValidationError, match="wasi_snapshot_preview1.fd_write"):
        pack_from_bytes(make_wat_pack(wat, simple_manifest("abuse", ["Call"])), sandbox=sandbox)


@pytest.mark.parametrize("elements, loads", [(50_000, True), (TABLE_ELEMENTS, True),
                                             (TABLE_ELEMENTS + 1, False), (10_000_000, False)])
def test_tables_up_to_the_limit_load_and_larger_ones_are_refused_at_load(
        make_wat_pack: WatPack, sandbox: Sandbox, elements: int, loads: bool) -> None:
    wat = f"""(module (table {elements} funcref) {_ABI_EXPORTS}
      (func (export "corral_call") (param i32 i32) (result i64) (i64.const 0)))"""
    wasm = make_wat_pack(wat, simple_manifest(f"table{elements}", ["Call"]))
    if loads:
        with pytest.raises(AbiViolation):  # it runs: the (0, 0) reply is what it gets wrong
            pack_from_bytes(wasm, sandbox=sandbox).call("Call")
    else:
        with pytest.raises(PackValidationError, match=f"limit of {TABLE_ELEMENTS} elements"):
            pack_from_bytes(wasm, sandbox=sandbox)


def test_import_with_wrong_signature_is_refused(make_wat_pack: WatPack, sandbox: Sandbox) -> None:
    wat = f"""(module (import "corral" "fetch" (func (param i32) (result i32))) {_ABI_EXPORTS}
      (func (export "corral_call") (param i32 i32) (result i64) (i64.const 0)))"""
    with pytest.raises(PackValidationError, match="wrong signature"):
        pack_from_bytes(make_wat_pack(wat, simple_manifest("abuse", ["Call"])), sandbox=sandbox)


def test_sandbox_survives_a_run_of_breaches(hostile_wasm: Path, sandbox: Sandbox, healthy) -> None:  # type: ignore[no-untyped-def]
    pack = corral.load_pack(hostile_wasm, sandbox=sandbox)
    for _ in range(3):
        for formula, args in (("Spin", ()), ("GrowBomb", ()), ("Recurse", (5_000_000,))):
            with pytest.raises(corral.LimitExceeded):
                pack.call(formula, *args)
        assert pack.call("Ping") == "pong"
    healthy()
