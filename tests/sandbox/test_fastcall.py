"""The native hot path must behave exactly like wasmtime-py's public API path: every test
here that takes ``sandbox`` or ``call_path`` runs once per path."""

from __future__ import annotations

from pathlib import Path

import pytest

import corral
from corral import (AbiViolation, CallStats, FuelExhausted, GuestError, GuestTrap,
                    MemoryLimitExceeded, OutputTooLarge, Sandbox, SandboxConfig, pack_from_bytes)
from corral._sandbox import native as _native
from corral._settings import CallPath

from ..conftest import WatPack, simple_manifest


def test_results_match_on_both_paths(sandbox: Sandbox, hello_wasm: Path) -> None:
    pack = corral.load_pack(hello_wasm, sandbox=sandbox)
    assert pack.call("Greet", "Ada") == "Hello, Ada!"
    assert pack.call("Describe", "Anna")["palindrome"] is True
    with pytest.raises(GuestError):
        pack.call("Greet", "")


def test_breaches_match_on_both_paths(sandbox: Sandbox, hostile_wasm: Path) -> None:
    pack = corral.load_pack(hostile_wasm, sandbox=sandbox)
    with pytest.raises(FuelExhausted):
        pack.call("Spin")
    with pytest.raises(MemoryLimitExceeded):
        pack.call("GrowBomb")
    assert len(pack.call("BigOutput", 60_000)) == 60_000
    with pytest.raises(OutputTooLarge):
        pack.call("BigOutput", 200_000)
    assert pack.call("Ping") == "pong"


def test_fuel_used_is_counted_on_both_paths(sandbox: Sandbox, hello_wasm: Path) -> None:
    pack = corral.load_pack(hello_wasm, sandbox=sandbox)
    short, long = CallStats(), CallStats()
    pack.call("Greet", "Ada", stats=short)
    pack.call("Greet", "Ada" * 2000, stats=long)
    assert 0 < short.fuel_used < long.fuel_used < pack.manifest.limits.fuel


def test_host_errors_surface_unchanged_on_both_paths(sandbox: Sandbox,
                                                     make_wat_pack: WatPack) -> None:
    wat = """(module (import "corral" "log" (func $log (param i32 i32 i32)))
      (memory (export "memory") 1) (func (export "corral_abi_v1"))
      (func (export "corral_alloc") (param i32) (result i32) (i32.const 64))
      (func (export "corral_call") (param i32 i32) (result i64)
        (call $log (i32.const 1) (i32.const -16) (i32.const 32)) (i64.const 0)))"""
    pack = pack_from_bytes(make_wat_pack(wat, simple_manifest("abuse", ["Call"])), sandbox=sandbox)
    with pytest.raises(AbiViolation, match="log message"):
        pack.call("Call")


@pytest.mark.parametrize("alloc, call, error", [
    ("(i32.const 0)", "(i64.const 0)", MemoryLimitExceeded),
    ("(i32.const 65530)", "(i64.const 0)", AbiViolation),
    ("(i32.const 64)", "(i64.const 0x0000fff0_00000100)", AbiViolation),
    ("(i32.const 64)", "(i64.const 0x00000040_7fffffff)", OutputTooLarge),
])
def test_bad_pointers_are_named_on_both_paths(sandbox: Sandbox, make_wat_pack: WatPack,
                                              alloc: str, call: str,
                                              error: type[Exception]) -> None:
    wat = f"""(module (memory (export "memory") 1) (func (export "corral_abi_v1"))
      (func (export "corral_alloc") (param i32) (result i32) {alloc})
      (func (export "corral_call") (param i32 i32) (result i64) {call}))"""
    pack = pack_from_bytes(make_wat_pack(wat, simple_manifest("abuse", ["Call"])), sandbox=sandbox)
    with pytest.raises(error):
        pack.call("Call")


def test_calls_from_many_threads_keep_their_own_results(sandbox: Sandbox,
                                                        hello_wasm: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    pack = corral.load_pack(hello_wasm, sandbox=sandbox)
    names = [f"caller{i}" * (1 + i % 7) for i in range(400)]
    with ThreadPoolExecutor(8) as pool:
        greetings = list(pool.map(lambda name: pack.call("Greet", name), names))
    assert greetings == [f"Hello, {name}!" for name in names]


def test_the_native_helper_is_built_once_into_its_cache(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORRAL_NATIVE_DIR", str(tmp_path))
    first = _native._built_library()
    assert first.parent == tmp_path and first.is_file()
    stamp = first.stat().st_mtime_ns
    assert _native._built_library() == first
    assert first.stat().st_mtime_ns == stamp, "a cached helper is not rebuilt"


def test_a_full_instance_pool_is_overload_not_a_crash(hello_wasm: Path, tmp_path: Path,
                                                     call_path: CallPath) -> None:
    import threading

    from corral import Overloaded, SandboxConfig

    box = Sandbox(SandboxConfig(cache_dir=tmp_path, pool_instances=1, call_path=call_path))
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
        hello_wasm: Path, tmp_path: Path, call_path: CallPath) -> None:
    from corral import InvocationError, SandboxConfig

    with Sandbox(SandboxConfig(cache_dir=tmp_path, call_path=call_path)) as box:
        pack = corral.load_pack(hello_wasm, sandbox=box)
        assert pack.call("Greet", "Ada") == "Hello, Ada!"
    box.close()  # idempotent
    with pytest.raises(InvocationError, match="sandbox is closed"):
        pack.call("Greet", "Ada")


@pytest.mark.parametrize("second_alloc, error, match", [
    ("(i32.const 0x7ffffff0)", AbiViolation, "corral_alloc returned"),
    ("unreachable", GuestTrap, "unreachable"),
])
def test_host_writes_into_a_hostile_guest_fail_cleanly_on_both_paths(
        sandbox: Sandbox, make_wat_pack: WatPack, second_alloc: str, error: type[Exception],
        match: str) -> None:
    # The guest's fetch request is not MessagePack, so the host answers with an error
    # map, which it must write into guest memory through corral_alloc (the second
    # alloc); the guest returns that reply as its own response.
    wat = f"""(module (import "corral" "fetch" (func $fetch (param i32 i32) (result i64)))
      (memory (export "memory") 1) (func (export "corral_abi_v1"))
      (global $calls (mut i32) (i32.const 0))
      (data (i32.const 100) "\\c1")
      (func (export "corral_alloc") (param i32) (result i32)
        (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
        (if (result i32) (i32.eq (global.get $calls) (i32.const 1))
          (then (i32.const 1024)) (else {second_alloc})))
      (func (export "corral_call") (param i32 i32) (result i64)
        (call $fetch (i32.const 100) (i32.const 1))))"""
    pack = pack_from_bytes(make_wat_pack(wat, simple_manifest("abuse", ["Call"])), sandbox=sandbox)
    with pytest.raises(error, match=match):
        pack.call("Call")
    fine = pack_from_bytes(make_wat_pack(wat.replace(second_alloc, "(i32.const 2048)"),
                                         simple_manifest("fine", ["Call"])), sandbox=sandbox)
    with pytest.raises(GuestError, match="not valid MessagePack"):  # the write landed
        fine.call("Call")


def test_large_responses_come_back_whole_call_after_call(sandbox: Sandbox,
                                                         make_wat_pack: WatPack) -> None:
    # {"ok": <300,000 bytes of one letter>}; each response reuses the thread's buffer after
    # the one before gave its pages back.
    size = 300_000
    header = "\\c6".join(["\\81\\a2ok", "".join(f"\\{b:02x}" for b in size.to_bytes(4, "big"))])

    def letters(letter: str) -> corral.Pack:
        wat = f"""(module (memory (export "memory") 8) (func (export "corral_abi_v1"))
          (data (i32.const 4096) "{header}")
          (func (export "corral_alloc") (param i32) (result i32) (i32.const 1024))
          (func (export "corral_call") (param i32 i32) (result i64)
            (memory.fill (i32.const 4105) (i32.const {ord(letter)}) (i32.const {size}))
            (i64.or (i64.shl (i64.const 4096) (i64.const 32)) (i64.const {size + 9}))))"""
        return pack_from_bytes(make_wat_pack(wat, simple_manifest(f"big{letter}", ["Call"])),
                               sandbox=sandbox)

    a, b = letters("A"), letters("B")
    assert a.call("Call") == b"A" * size
    assert b.call("Call") == b"B" * size
    assert a.call("Call") == b"A" * size


def test_tickers_stop_on_close_and_when_an_unclosed_sandbox_is_collected(
        tmp_path: Path, call_path: CallPath) -> None:
    import gc
    import os
    import time

    def threads() -> int:
        return len(os.listdir("/proc/self/task"))

    def settles_at(count: int) -> bool:
        end = time.monotonic() + 5
        while threads() != count and time.monotonic() < end:
            time.sleep(0.01)
        return threads() == count

    gc.collect()  # earlier tests' sandboxes: their tickers stop now, not during the test
    previous, before = -1, threads()
    while before != previous:
        time.sleep(0.05)
        previous, before = before, threads()
    config = SandboxConfig(cache_dir=tmp_path, call_path=call_path)
    closed = [Sandbox(config) for _ in range(3)]
    assert threads() == before + 3, "one ticker thread per sandbox"
    for box in closed:
        box.close()
        box.close()  # idempotent
    assert settles_at(before)
    unclosed = [Sandbox(config) for _ in range(3)]
    assert threads() == before + 3
    del unclosed
    gc.collect()
    assert settles_at(before), "a collected sandbox's ticker stops too"


def test_a_forked_child_keeps_deadlines_and_its_own_reaper(hostile_time_wasm: Path,
                                                           hello_wasm: Path, tmp_path: Path,
                                                           call_path: CallPath) -> None:
    import os

    from corral import DeadlineExceeded

    # Threads (the epoch ticker, the store reaper) do not survive fork(): the child must
    # start its own, or a spinning guest would run until its fuel ran out.
    with Sandbox(SandboxConfig(cache_dir=tmp_path, call_path=call_path)) as box:
        spin = corral.load_pack(hostile_time_wasm, sandbox=box)
        hello = corral.load_pack(hello_wasm, sandbox=box)
        assert hello.call("Greet", "parent") == "Hello, parent!"  # the parent's reaper runs
        pid = os.fork()
        if pid == 0:  # the child: report through the exit code only
            code = 1
            try:
                for _ in range(20):  # more than a reaper batch, so retired stores are freed
                    assert hello.call("Greet", "child") == "Hello, child!"
                spin.call("Spin")
            except DeadlineExceeded:
                code = 0
            except BaseException:
                code = 2
            os._exit(code)
        _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
