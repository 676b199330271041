"""The call gate is fair per principal: each caller has its own share of running slots and
of the waiting room, a flood waits behind itself, freed slots go to the caller running the
fewest, and answers a probe finds (cache, memo) never wait. Counted with futures the test
completes itself: no sleeping, no timing."""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from typing import Any, Coroutine

import pytest

from corral._errors import Overloaded
from corral._server.admission import CallGate


class Calls:
    """Calls through a gate whose work the test finishes by hand."""

    def __init__(self, gate: CallGate) -> None:
        self.gate = gate
        self.work: dict[str, Future[str]] = {}
        self.started: list[str] = []

    def start(self, who: str, name: str, probe: Any = None) -> asyncio.Task[str]:
        def submit() -> Future[str]:
            self.started.append(name)
            return self.work.setdefault(name, Future())

        async def call() -> str:
            return await self.gate.await_future(who, submit, probe=probe)

        return asyncio.ensure_future(call())

    def finish(self, name: str) -> None:
        self.work[name].set_result(name)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def run(scenario: Coroutine[Any, Any, None]) -> None:
    asyncio.run(scenario)


def test_a_flood_takes_only_its_share_and_another_caller_runs_at_once() -> None:
    async def scenario() -> None:
        calls = Calls(CallGate(capacity=4, max_queue=8, share=2, share_queue=2))
        flood = [calls.start("mallory", f"m{i}") for i in range(10)]
        await settle()
        assert calls.started == ["m0", "m1"]
        refused = [t for t in flood if t.done()]
        assert len(refused) == 6
        assert all(isinstance(t.exception(), Overloaded) for t in refused)
        assert (calls.gate.running_for("mallory"), calls.gate.waiting_for("mallory")) == (2, 2)
        victim = calls.start("alice", "a0")
        await settle()
        assert calls.started[-1] == "a0", "alice runs while mallory's flood waits"
        calls.finish("a0")
        assert await victim == "a0"
        for name in ("m0", "m1", "m2", "m3"):
            await settle()
            calls.finish(name)
        results = await asyncio.gather(*[t for t in flood if t not in refused])
        assert results == ["m0", "m1", "m2", "m3"]
        assert (calls.gate.running, calls.gate.waiting) == (0, 0)

    run(scenario())


def test_a_freed_slot_goes_to_the_caller_running_the_fewest() -> None:
    async def scenario() -> None:
        calls = Calls(CallGate(capacity=2, max_queue=8, share=2, share_queue=4))
        first = [calls.start("mallory", f"m{i}") for i in range(4)]  # two run, two wait
        await settle()
        late = calls.start("alice", "a0")  # arrives after mallory's waiters
        await settle()
        assert calls.started == ["m0", "m1"]
        calls.finish("m0")
        await settle()
        assert calls.started == ["m0", "m1", "a0"], "alice (running none) goes first"
        for name in ("a0", "m1", "m2", "m3"):
            await settle()
            calls.finish(name)
        await asyncio.gather(late, *first)

    run(scenario())


def test_a_full_waiting_room_pushes_out_the_heaviest_callers_latest_waiter() -> None:
    async def scenario() -> None:
        calls = Calls(CallGate(capacity=1, max_queue=3, share=1, share_queue=3))
        mallory = [calls.start("mallory", f"m{i}") for i in range(4)]  # one runs, 3 wait
        await settle()
        assert calls.gate.waiting == 3
        alice = calls.start("alice", "a0")
        await settle()
        assert isinstance(mallory[3].exception(), Overloaded), "mallory's latest made room"
        assert (calls.gate.waiting_for("alice"), calls.gate.waiting_for("mallory")) == (1, 2)
        bob = calls.start("bob", "b0")
        await settle()
        assert isinstance(mallory[2].exception(), Overloaded)
        carol = calls.start("carol", "c0")  # everyone waits with one: no room, no victim
        await settle()
        assert isinstance(carol.exception(), Overloaded)
        for name in ("m0", "m1", "a0", "b0"):  # one at a time, in the order they start
            assert calls.started[-1] == name
            calls.finish(name)
            await settle()
        assert [await alice, await bob, await mallory[1]] == ["a0", "b0", "m1"]

    run(scenario())


def test_a_probe_answer_never_waits_and_is_never_refused() -> None:
    async def scenario() -> None:
        calls = Calls(CallGate(capacity=2, max_queue=2, share=1, share_queue=1))
        held = [calls.start("alice", "a0"), calls.start("alice", "a1")]  # share and queue
        await settle()
        asked: list[str] = []

        def cached() -> tuple[bool, Any]:
            asked.append("probe")
            return True, "from cache"

        def missing() -> tuple[bool, Any]:
            asked.append("probe")
            return False, None

        hit = calls.start("alice", "a2", probe=cached)
        miss = calls.start("alice", "a3", probe=missing)
        await settle()
        assert await hit == "from cache"
        assert isinstance(miss.exception(), Overloaded)
        assert asked == ["probe", "probe"] and "a2" not in calls.started
        fast = calls.start("bob", "b0", probe=cached)  # a free slot: the probe is not asked
        await settle()
        assert "b0" in calls.started and len(asked) == 2
        for name in ("b0", "a0", "a1"):
            calls.finish(name)
            await settle()
        assert await fast == "b0"
        await asyncio.gather(*held)

    run(scenario())


def test_a_waiter_that_gives_up_leaves_its_slot_to_the_next() -> None:
    async def scenario() -> None:
        calls = Calls(CallGate(capacity=1, max_queue=4, share=1, share_queue=4))
        first = calls.start("alice", "a0")
        quitter = calls.start("alice", "a1")
        last = calls.start("alice", "a2")
        await settle()
        quitter.cancel()
        await settle()
        assert calls.gate.waiting == 1
        calls.finish("a0")
        await settle()
        assert calls.started == ["a0", "a2"]
        calls.finish("a2")
        assert [await first, await last] == ["a0", "a2"]
        with pytest.raises(asyncio.CancelledError):
            await quitter
        assert (calls.gate.running, calls.gate.waiting) == (0, 0)

    run(scenario())
