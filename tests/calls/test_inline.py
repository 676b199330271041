"""Inline attempts: a call first tries the submitting thread, and gives up cleanly.

An inline attempt may not reach the network or outrun its budget; when it would, it is
abandoned before anything happened outside the sandbox and the call runs on the pool.
These tests check the answers, that abandoned attempts leave no trace (no request at the
server, no duplicated log line, no extra metrics), and that the switch turns it off.

No verdict here depends on the machine's speed: the ``host`` fixture's budget is a whole
minute, so a call that may run inline always fits however busy the machine is, and the
call that must outrun a short budget is one that never ends by itself.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import msgpack
import pytest

from corral import DeadlineExceeded, GuestError, Host, Settings

from ..conftest import HOSTILE_PACKS, TEST_PACKS, WatPack, built, simple_manifest
from ..fetch_servers import TEST_HOST, ApiServer
from ..fetch.test_fetch_pack import with_domains


def make_host(tmp_path: Path, **settings: object) -> Host:
    return Host(Settings(data_dir=tmp_path, allow_http=True,  # type: ignore[arg-type]
                         host_map={TEST_HOST: "127.0.0.1"}, **settings))


#: An inline budget no first call outruns, however loaded the machine.
GENEROUS_BUDGET_MS = 60_000


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    with_host = make_host(tmp_path, inline_budget_ms=GENEROUS_BUDGET_MS)
    yield with_host
    with_host.close()


@pytest.fixture(scope="module")
def server() -> Iterator[ApiServer]:
    with ApiServer() as api:
        yield api


def test_a_pure_call_is_answered_inline(host: Host, hello_wasm: Path) -> None:
    host.register_bytes(hello_wasm.read_bytes())
    assert host.call("hello", "Greet", "Ada") == "Hello, Ada!"
    stats = host.scheduler.stats()
    assert (stats.inline, stats.abandoned, stats.started) == (1, 0, 1)
    assert host.metrics.value("corral_calls_total", pack="hello", formula="Greet",
                              outcome="ok") == 1


def test_a_guest_error_inline_is_the_answer(host: Host, hello_wasm: Path) -> None:
    host.register_bytes(hello_wasm.read_bytes())
    with pytest.raises(GuestError):
        host.call("hello", "Greet", "")
    stats = host.scheduler.stats()
    assert (stats.inline, stats.abandoned, stats.started) == (1, 0, 1)


def test_a_zero_budget_turns_inline_attempts_off(tmp_path: Path, hello_wasm: Path) -> None:
    host = make_host(tmp_path, inline_budget_ms=0)
    try:
        host.register_bytes(hello_wasm.read_bytes())
        assert host.call("hello", "Greet", "Ada") == "Hello, Ada!"
        stats = host.scheduler.stats()
        assert (stats.inline, stats.abandoned, stats.started) == (0, 0, 1)
    finally:
        host.close()


def test_a_fetching_call_leaves_the_thread_before_any_request(host: Host,
                                                             server: ApiServer) -> None:
    fetcher = with_domains(built(TEST_PACKS / "fetcher"), [f"{TEST_HOST}:{server.port}"])
    host.register_bytes(fetcher)
    before = server.hits("/json")
    assert host.call("fetcher", "Summary", server.url("/json")) == "/json is ok"
    assert server.hits("/json") == before + 1, "the abandoned attempt sent nothing"
    stats = host.scheduler.stats()
    assert (stats.inline, stats.abandoned, stats.started) == (0, 1, 1)
    assert host.metrics.value("corral_calls_total", pack="fetcher", formula="Summary",
                              outcome="ok") == 1

    # The formula now skips the inline attempt: straight to the pool.
    assert host.call("fetcher", "Summary", server.url("/json?again")) == "/json is ok"
    stats = host.scheduler.stats()
    assert (stats.inline, stats.abandoned, stats.started) == (0, 1, 2)


def test_skipping_inline_lasts_half_a_second_after_an_abandon_then_doubles(
        host: Host, server: ApiServer) -> None:
    now = [1000.0]
    host.scheduler._monotonic = lambda: now[0]  # the pause is measured on this clock
    fetcher = with_domains(built(TEST_PACKS / "fetcher"), [f"{TEST_HOST}:{server.port}"])
    host.register_bytes(fetcher)

    def call_and_count() -> tuple[int, int]:
        assert host.call("fetcher", "Summary", server.url("/json")) == "/json is ok"
        stats = host.scheduler.stats()
        return stats.abandoned, stats.started

    assert call_and_count() == (1, 1)  # tried inline, abandoned at the fetch
    now[0] += 0.4
    assert call_and_count() == (1, 2)  # within the first half second: straight to the pool
    now[0] += 0.2
    assert call_and_count() == (2, 3)  # past it: tried again, abandoned again
    now[0] += 0.9
    assert call_and_count() == (2, 4)  # the second pause is a whole second
    now[0] += 0.2
    assert call_and_count() == (3, 5)


def busy_pack(make_wat_pack: WatPack, iterations: int) -> bytes:
    """``busy.Loop``: counts to ``iterations`` (CPU only, no host calls), answers 1."""
    reply = msgpack.packb({"ok": 1})
    escaped = "".join(f"\\{byte:02x}" for byte in reply)
    wat = f"""(module
      (memory (export "memory") 1) (func (export "corral_abi_v1"))
      (data (i32.const 200) "{escaped}")
      (func (export "corral_alloc") (param i32) (result i32) (i32.const 1024))
      (func (export "corral_call") (param i32 i32) (result i64) (local $i i32)
        (loop $again
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $again (i32.lt_u (local.get $i) (i32.const {iterations}))))
        (i64.or (i64.shl (i64.const 200) (i64.const 32)) (i64.const {len(reply)}))))"""
    return make_wat_pack(wat, simple_manifest("busy", ["Loop"]))


def test_an_abandoned_attempt_logs_nothing(host: Host, make_wat_pack: WatPack,
                                           caplog: pytest.LogCaptureFixture) -> None:
    fetch_request = msgpack.packb({"url": "https://example.com/"})
    reply = msgpack.packb({"ok": 1})
    message = b"before the fetch"

    def data(offset: int, raw: bytes) -> str:
        escaped = "".join(f"\\{byte:02x}" for byte in raw)
        return f'(data (i32.const {offset}) "{escaped}")'

    wat = f"""(module
      (import "corral" "log" (func $log (param i32 i32 i32)))
      (import "corral" "fetch" (func $fetch (param i32 i32) (result i64)))
      (memory (export "memory") 1) (func (export "corral_abi_v1"))
      {data(100, fetch_request)} {data(200, reply)} {data(300, message)}
      (func (export "corral_alloc") (param i32) (result i32) (i32.const 1024))
      (func (export "corral_call") (param i32 i32) (result i64)
        (call $log (i32.const 1) (i32.const 300) (i32.const {len(message)}))
        (drop (call $fetch (i32.const 100) (i32.const {len(fetch_request)})))
        (i64.or (i64.shl (i64.const 200) (i64.const 32)) (i64.const {len(reply)}))))"""
    host.register_bytes(make_wat_pack(wat, simple_manifest("chatty", ["Call"])))
    with caplog.at_level(logging.INFO, logger="corral.pack.chatty"):
        assert host.call("chatty", "Call") == 1
    logged = [r for r in caplog.records if r.getMessage() == message.decode()]
    assert len(logged) == 1, "the line is logged once, by the run that completed"
    assert host.scheduler.stats().abandoned == 1


def test_a_call_that_outruns_the_budget_finishes_on_the_pool(tmp_path: Path,
                                                             hostile_time_wasm: Path) -> None:
    # Spin never returns, so only the 2 ms budget can end the inline attempt (its 10^10
    # fuel outlasts any machine's 300 ms); the pool run is the one that counts, and it
    # ends at the pack's own deadline.
    host = make_host(tmp_path, inline_budget_ms=2)
    try:
        host.register_bytes(hostile_time_wasm.read_bytes())
        with pytest.raises(DeadlineExceeded) as info:
            host.call("hostile_time", "Spin")
        assert info.value.limit == "timeout_ms"
        stats = host.scheduler.stats()
        assert (stats.inline, stats.abandoned, stats.started) == (0, 1, 1)
        assert host.metrics.value("corral_calls_total", pack="hostile_time", formula="Spin",
                                  outcome=info.value.kind) == 1
    finally:
        host.close()


def test_outrunning_the_budget_twice_in_a_row_pauses_inline_attempts(
        tmp_path: Path, hostile_time_wasm: Path) -> None:
    # The first overrun after a finished attempt is forgiven (a descheduled thread looks
    # the same); the second in a row pauses the formula's attempts as a fetch does.
    host = make_host(tmp_path, inline_budget_ms=2)
    try:
        host.scheduler._monotonic = lambda: 1000.0  # the pause never ends on this clock
        host.register_bytes(hostile_time_wasm.read_bytes())
        seen = []
        for _ in range(3):
            with pytest.raises(DeadlineExceeded):
                host.call("hostile_time", "Spin")
            stats = host.scheduler.stats()
            seen.append((stats.abandoned, stats.started))
        assert seen == [(1, 1), (2, 2), (2, 3)], "tried, tried again, then the pool only"
    finally:
        host.close()


def test_an_answer_is_the_same_inline_or_on_the_pool(host: Host, tmp_path: Path) -> None:
    # The fuel-bound pack: Burn's fuel is fixed by its rounds, its 20 s limit is far off.
    hostile = built(HOSTILE_PACKS / "hostile").read_bytes()
    host.register_bytes(hostile)
    inline = host.call("hostile", "Burn", 100_000)
    assert host.scheduler.stats().inline == 1
    pool_only = make_host(tmp_path / "pool", inline_budget_ms=0)
    try:
        pool_only.register_bytes(hostile)
        assert pool_only.call("hostile", "Burn", 100_000) == inline
        assert pool_only.scheduler.stats().inline == 0
    finally:
        pool_only.close()


def test_a_deadline_inside_the_budget_is_reported_not_retried(host: Host,
                                                              hostile_time_wasm: Path) -> None:
    host.register_bytes(hostile_time_wasm.read_bytes())
    with pytest.raises(DeadlineExceeded):
        host.call("hostile_time", "Spin", deadline_s=0.001)
