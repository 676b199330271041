"""The scheduler, driven by formulas whose pack calls are real HTTP requests.

``PackServer`` (tests/pack_api.py) stands in for the APIs behind the packs: it holds each
request for ``hold_s`` (or until a gate opens, or until ``meet(n)`` requests overlap),
records every request and the peak number it held at once. ``HttpCatalog`` is a
PackCatalog whose ``invoke`` does a real ``httpx`` GET against it.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Iterator

import pytest

from corral import (CallRequest, Closed, CorralError, Evaluator, FormulaDeadlineExceeded,
                    GuestError, Overloaded, ResultCache, Scheduler, SchedulerConfig)

from ..pack_api import HttpCatalog, PackServer

# -- fixtures ---------------------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[PackServer]:
    srv = PackServer()
    yield srv
    srv.close()


@pytest.fixture
def catalog(server: PackServer) -> Iterator[HttpCatalog]:
    cat = HttpCatalog(server)
    yield cat
    cat.close()


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[ResultCache]:
    with ResultCache(tmp_path / "results", map_size=8 << 20) as c:
        yield c


FAST_RETRIES = SchedulerConfig(backoff_base_s=0.01, backoff_max_s=0.05)


def make(catalog: HttpCatalog, cache: ResultCache | None = None,
         config: SchedulerConfig = FAST_RETRIES) -> tuple[Scheduler, Evaluator]:
    scheduler = Scheduler(catalog, cache, config)
    return scheduler, Evaluator(catalog, scheduler)


# -- parallelism and limits -------------------------------------------------------------


def test_independent_calls_all_run_at_once(catalog: HttpCatalog, server: PackServer) -> None:
    # Each call is held at the server until the test opens its gate, so "at once" does not
    # depend on how fast a loaded machine starts threads.
    scheduler, ev = make(catalog, config=SchedulerConfig(per_pack_concurrency=8))
    with scheduler:
        box: dict[str, Any] = {}
        worker = threading.Thread(target=lambda: box.setdefault("r", ev.evaluate(
            "List(" + ", ".join(f'Alpha.Gated("g{i}")' for i in range(8)) + ")")))
        worker.start()
        end = time.monotonic() + 10
        while server.state.active < 8 and time.monotonic() < end:
            time.sleep(0.005)
        all_in_flight = server.state.active == 8
        for i in range(8):
            server.gate(f"g{i}").set()
        worker.join(10)
    assert all_in_flight, f"only {server.peak} of 8 calls were in flight together"
    assert [r["args"] for r in box["r"]] == [[f"g{i}"] for i in range(8)]


def test_per_pack_limit_caps_concurrency(catalog: HttpCatalog, server: PackServer) -> None:
    scheduler, ev = make(catalog, config=SchedulerConfig(per_pack_concurrency=2))
    server.meet(2)  # the overlap the limit allows, waited for, not hoped for
    with scheduler:
        result = ev.evaluate("List(" + ", ".join(f"Alpha.Echo({i})" for i in range(8)) + ")")
    assert len(result) == 8
    assert len(server.calls()) == 8
    assert server.peak == 2


def test_one_callers_flood_of_a_pack_never_makes_another_wait_for_it(
        catalog: HttpCatalog, server: PackServer) -> None:
    scheduler, _ = make(catalog, config=SchedulerConfig(per_pack_concurrency=2))
    gated = catalog.resolve("Alpha", "Gated")
    with scheduler:
        flood = [scheduler.submit(CallRequest("Alpha", "Gated", (f"a{i}",), principal="mallory"),
                                  gated) for i in range(6)]
        assert server.wait_for_hit("Gated")
        victim = scheduler.submit(CallRequest("Alpha", "Gated", ("v",), principal="alice"),
                                  gated)
        server.gate("v").set()
        assert victim.result(10)["args"] == ["v"]  # answered while mallory's calls are held
        assert [h.args for h in server.calls("Gated")].count(["a2"]) == 0  # her queue waits
        for i in range(6):
            server.gate(f"a{i}").set()
        assert [f.result(10)["args"] for f in flood] == [[f"a{i}"] for i in range(6)]


def test_per_pack_limit_leaves_other_packs_free(catalog: HttpCatalog,
                                                server: PackServer) -> None:
    scheduler, ev = make(catalog, config=SchedulerConfig(per_pack_concurrency=2))
    server.meet(4)  # the overlap the limit allows, waited for, not hoped for
    calls = [f"{pack}.Echo({i})" for pack in ("Alpha", "Beta") for i in range(4)]
    with scheduler:
        ev.evaluate("List(" + ", ".join(calls) + ")")
    assert server.peak == 4


def test_global_limit_caps_all_packs(catalog: HttpCatalog, server: PackServer) -> None:
    scheduler, ev = make(catalog, config=SchedulerConfig(global_concurrency=3))
    server.meet(3)  # the overlap the limit allows, waited for, not hoped for
    calls = [f"{pack}.Echo({i})" for pack in ("Alpha", "Beta") for i in range(3)]
    with scheduler:
        ev.evaluate("List(" + ", ".join(calls) + ")")
    assert len(server.calls()) == 6
    assert server.peak == 3


def test_dependent_call_starts_when_its_own_input_is_ready(catalog: HttpCatalog,
                                                           server: PackServer) -> None:
    # Gated("late") holds until the test opens its gate. Level-by-level scheduling would not
    # start Echo until every first-level call (the gated one included) had finished.
    server.state.hold_s = 0.01
    scheduler, ev = make(catalog)
    with scheduler:
        box: dict[str, Any] = {}
        worker = threading.Thread(target=lambda: box.setdefault("r", ev.evaluate(
            'List(Alpha.Echo(Alpha.Add(1, 2)), Alpha.Gated("late"))')))
        worker.start()
        started_while_gate_closed = server.wait_for_hit("Echo")
        server.gate("late").set()
        worker.join(10)
    assert started_while_gate_closed
    assert box["r"][0]["args"] == [3]


def test_one_worker_runs_nested_calls_without_deadlock(catalog: HttpCatalog,
                                                       server: PackServer) -> None:
    server.state.hold_s = 0.01
    scheduler, ev = make(catalog, config=SchedulerConfig(max_workers=1))
    with scheduler:
        result = ev.evaluate("Alpha.Add(Alpha.Add(1, 2), Alpha.Add(Alpha.Add(3, 4), 5))")
    assert result == 15
    assert len(server.calls("Add")) == 4


# -- single flight and the result cache -------------------------------------------------


def test_identical_calls_in_one_formula_reach_the_server_once(catalog: HttpCatalog,
                                                              server: PackServer) -> None:
    scheduler, ev = make(catalog)
    with scheduler:
        result = ev.evaluate('List(Alpha.Echo("x"), alpha.echo("x"), Alpha.Echo("x"))')
    assert result[0] == result[1] == result[2]
    assert len(server.calls()) == 1


def test_identical_calls_across_evaluations_share_one_flight(catalog: HttpCatalog,
                                                             server: PackServer) -> None:
    scheduler, _ = make(catalog)
    resolved = catalog.resolve("Alpha", "Gated")
    call = CallRequest("Alpha", "Gated", ("shared",))
    with scheduler:
        first = scheduler.submit(call, resolved)
        assert server.wait_for_hit("Gated")
        second = scheduler.submit(call, resolved)
        server.gate("shared").set()
        assert first.result(10) == second.result(10)
        assert scheduler.stats().joined == 1
    assert len(server.calls()) == 1


def test_repeated_evaluation_within_ttl_is_served_from_cache(
        catalog: HttpCatalog, server: PackServer, cache: ResultCache) -> None:
    scheduler, ev = make(catalog, cache)
    with scheduler:
        first = ev.evaluate('Alpha.Cached("a")')
        ev.memo.clear()  # past the formula memo, so the call itself is looked up again
        second = ev.evaluate('Alpha.Cached("a")')
    assert first == second
    assert len(server.calls()) == 1
    assert cache.stats().hits == 1


def test_uncached_formula_runs_every_evaluation(catalog: HttpCatalog, server: PackServer,
                                                cache: ResultCache) -> None:
    server.state.hold_s = 0.01
    scheduler, ev = make(catalog, cache)
    with scheduler:
        ev.evaluate('Alpha.Echo("a")')
        ev.evaluate('Alpha.Echo("a")')
    assert len(server.calls()) == 2


def test_two_connections_never_share_a_cache_entry(catalog: HttpCatalog, server: PackServer,
                                                   cache: ResultCache) -> None:
    server.state.hold_s = 0.01
    scheduler, ev = make(catalog, cache)
    with scheduler:
        one = ev.evaluate('Alpha.Cached("q")', principal="ann", connections={"Alpha": "c1"})
        two = ev.evaluate('Alpha.Cached("q")', principal="ann", connections={"Alpha": "c2"})
        again = ev.evaluate('Alpha.Cached("q")', principal="ann", connections={"Alpha": "c1"})
        explicit = ev.evaluate('Alpha.Cached($$[packConnectionReference:c3:Alpha], "q")',
                               principal="ann", connections={"Alpha": "c1"})
    assert (one["connection"], two["connection"], explicit["connection"]) == ("c1", "c2", "c3")
    assert again == one
    assert [h.connection for h in server.calls()] == ["c1", "c2", "c3"]


def test_same_connection_id_from_another_principal_is_not_served_from_cache(
        catalog: HttpCatalog, server: PackServer, cache: ResultCache) -> None:
    server.state.hold_s = 0.01
    scheduler, ev = make(catalog, cache)
    with scheduler:
        ev.evaluate('Alpha.Cached("q")', principal="ann", connections={"Alpha": "c1"})
        ev.evaluate('Alpha.Cached("q")', principal="bob", connections={"Alpha": "c1"})
    assert len(server.calls()) == 2  # the runtime, not the cache, decides whether bob may use c1


def test_actions_are_never_cached_nor_merged(catalog: HttpCatalog, server: PackServer,
                                             cache: ResultCache) -> None:
    server.state.hold_s = 0.01
    scheduler, ev = make(catalog, cache)
    with scheduler:
        ev.evaluate('List(Alpha.SafeSend("m"), Alpha.SafeSend("m"))')
        ev.evaluate('Alpha.SafeSend("m")')
    assert len(server.calls("SafeSend")) == 3
    assert cache.stats().entries == 0


# -- short-circuits ---------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ('If(false, Alpha.Echo("no"), "yes")', "yes"),
    ('If(1 > 2, Alpha.Echo("no"))', None),
    ('And(false, Alpha.Echo("no"))', False),
    ('Or(true, Alpha.Echo("no"))', True),
    ('If(Alpha.Add(1, 1) = 2, "two", Alpha.Echo("no"))', "two"),
])
def test_untaken_branch_makes_no_call(catalog: HttpCatalog, server: PackServer, text: str,
                                      expected: Any) -> None:
    server.state.hold_s = 0.01
    scheduler, ev = make(catalog)
    with scheduler:
        assert ev.evaluate(text) == expected
    assert server.calls("Echo") == []


# -- retries ----------------------------------------------------------------------------


def test_retryable_failure_is_retried_until_it_succeeds(catalog: HttpCatalog,
                                                        server: PackServer) -> None:
    server.state.hold_s = 0.01
    server.fail_times('Flaky:["f"]', 2)
    scheduler, ev = make(catalog)
    with scheduler:
        assert ev.evaluate('Alpha.Flaky("f")')["args"] == ["f"]
        assert scheduler.stats().retried == 2
    assert len(server.calls("Flaky")) == 3


def test_retries_stop_at_max_retries(catalog: HttpCatalog, server: PackServer) -> None:
    server.state.hold_s = 0.01
    server.fail_times('Flaky:["f"]', 10)
    scheduler, ev = make(catalog, config=SchedulerConfig(max_retries=1, backoff_base_s=0.01))
    with scheduler, pytest.raises(GuestError) as info:
        ev.evaluate('Alpha.Flaky("f")')
    assert info.value.status == 503
    assert len(server.calls("Flaky")) == 2


def test_permanent_failure_is_not_retried_and_names_the_call(catalog: HttpCatalog,
                                                             server: PackServer) -> None:
    server.state.hold_s = 0.01
    scheduler, ev = make(catalog)
    with scheduler, pytest.raises(GuestError) as info:
        ev.evaluate('1 + Alpha.Broken("x")')
    assert len(server.calls("Broken")) == 1
    assert "(in Alpha.Broken at line 1, column 5)" in str(info.value)
    assert info.value.details["call"] == "Alpha.Broken"
    assert (info.value.details["line"], info.value.details["column"]) == (1, 5)


def test_non_idempotent_action_is_never_retried(catalog: HttpCatalog,
                                                server: PackServer) -> None:
    server.state.hold_s = 0.01
    server.fail_times('Send:["m"]', 1)
    scheduler, ev = make(catalog)
    with scheduler, pytest.raises(GuestError):
        ev.evaluate('Alpha.Send("m")')
    assert len(server.calls("Send")) == 1


def test_idempotent_action_is_retried(catalog: HttpCatalog, server: PackServer) -> None:
    server.state.hold_s = 0.01
    server.fail_times('SafeSend:["m"]', 1)
    scheduler, ev = make(catalog)
    with scheduler:
        assert ev.evaluate('Alpha.SafeSend("m")')["args"] == ["m"]
    assert len(server.calls("SafeSend")) == 2


# -- the deadline -----------------------------------------------------------------------


def test_deadline_stops_the_evaluation_and_names_the_waiting_call(
        catalog: HttpCatalog, server: PackServer) -> None:
    scheduler, ev = make(catalog)
    with scheduler:
        with pytest.raises(FormulaDeadlineExceeded) as info:
            ev.evaluate('Alpha.Echo(Alpha.Slow(1))', deadline_s=1.0)
    assert "Alpha.Slow at line 1, column 12" in str(info.value)
    assert server.calls("Echo") == []  # the dependent call never started


def test_queued_call_past_its_deadline_never_starts(catalog: HttpCatalog,
                                                    server: PackServer) -> None:
    scheduler, _ = make(catalog, config=SchedulerConfig(per_pack_concurrency=1))
    gated = catalog.resolve("Alpha", "Gated")
    with scheduler:
        blocker = scheduler.submit(CallRequest("Alpha", "Gated", ("g",)), gated)
        assert server.wait_for_hit("Gated")
        late = scheduler.submit(CallRequest("Alpha", "Echo", ("late",)),
                                catalog.resolve("Alpha", "Echo"), time.monotonic() + 0.05)
        time.sleep(0.1)
        server.gate("g").set()
        blocker.result(10)
        with pytest.raises(CorralError) as info:
            late.result(10)
    assert info.value.kind == "timeout"
    assert server.calls("Echo") == []


# -- lifecycle --------------------------------------------------------------------------


def test_close_fails_queued_calls_and_refuses_new_ones(catalog: HttpCatalog,
                                                       server: PackServer) -> None:
    scheduler, _ = make(catalog, config=SchedulerConfig(per_pack_concurrency=1))
    gated = catalog.resolve("Alpha", "Gated")
    running = scheduler.submit(CallRequest("Alpha", "Gated", ("c",)), gated)
    assert server.wait_for_hit("Gated")
    queued: Future[Any] = scheduler.submit(CallRequest("Alpha", "Gated", ("d",)), gated)
    closer = threading.Thread(target=scheduler.close)
    closer.start()  # fails the queued call at once, then waits for the running one
    assert isinstance(queued.exception(10), Overloaded)
    server.gate("c").set()
    closer.join(10)
    scheduler.close()  # idempotent
    assert running.result(10)["args"] == ["c"]
    assert [h.args for h in server.calls("Gated")] == [["c"]]
    with pytest.raises(Closed, match="the scheduler is closed"):
        scheduler.submit(CallRequest("Alpha", "Echo", (1,)), catalog.resolve("Alpha", "Echo"))
