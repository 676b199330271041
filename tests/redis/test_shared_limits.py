"""Rate limits and admission counters shared through Redis: a caller's bucket holds
across limiters on different links (nodes), and the running calls a principal may hold
across the nodes are counted with leases, so a killed node's slots free themselves."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import Future

import pytest

from corral._errors import Overloaded
from corral._server.admission import CallGate
from corral._server.redis_admission import SharedRateLimiter, SharedSlots
from corral._stores.redis_link import RedisLink

from ..redis_services import RedisSpace


def links(space: RedisSpace, count: int = 2) -> list[RedisLink]:
    return [RedisLink(space.url) for _ in range(count)]


def test_a_callers_rate_limit_holds_across_two_limiters(redis_space: RedisSpace) -> None:
    a_link, b_link = links(redis_space)
    a = SharedRateLimiter(a_link, 0.001, 3, scope="key")
    b = SharedRateLimiter(b_link, 0.001, 3, scope="key")
    a.check("linus")
    b.check("linus")
    a.check("linus")
    with pytest.raises(Overloaded) as refused:
        b.check("linus")
    assert refused.value.retry_after_s > 0
    with pytest.raises(Overloaded):
        a.check("linus")
    b.check("ada")  # another caller has a bucket of its own
    keys = redis_space.keys()
    assert keys and not any(b"linus" in key or b"ada" in key for key in keys), keys
    a_link.close()
    b_link.close()


def test_the_async_check_shares_the_same_bucket(redis_space: RedisSpace) -> None:
    a_link, b_link = links(redis_space)
    a = SharedRateLimiter(a_link, 0.001, 2, scope="key")
    b = SharedRateLimiter(b_link, 0.001, 2, scope="key")

    async def three() -> None:
        await a.acheck("linus")
        b.check("linus")
        with pytest.raises(Overloaded):
            await a.acheck("linus")

    asyncio.run(three())
    a_link.close()
    b_link.close()


def test_a_principals_running_calls_are_counted_across_nodes(redis_space: RedisSpace) -> None:
    a_link, b_link = links(redis_space)
    a, b = SharedSlots(a_link, 2, lease_s=30), SharedSlots(b_link, 2, lease_s=30)

    async def scenario() -> None:
        first = await a.take("linus")
        second = await b.take("linus")
        assert first and second
        assert await a.take("linus") == "", "two running across the nodes: the share"
        assert await b.take("ada"), "another principal is not held back"
        await a.give_back("linus", first)
        assert await b.take("linus"), "a freed slot is free on every node"

    asyncio.run(scenario())
    assert a.running_for("linus") == 2
    a_link.close()
    b_link.close()


def test_the_slots_of_a_killed_node_free_themselves(redis_space: RedisSpace) -> None:
    (link,) = links(redis_space, 1)
    killed, survivor = SharedSlots(link, 1, lease_s=1), SharedSlots(link, 1, lease_s=30)

    async def scenario() -> None:
        assert await killed.take("linus")  # and never given back: the node died
        assert await survivor.take("linus") == ""
        deadline = time.monotonic() + 20
        while not await survivor.take("linus"):
            assert time.monotonic() < deadline, "the dead node's lease never ran out"
            await asyncio.sleep(0.05)

    asyncio.run(scenario())
    link.close()


def test_two_gates_hold_a_principal_to_its_share_across_the_nodes(
        redis_space: RedisSpace) -> None:
    a_link, b_link = links(redis_space)
    a = CallGate(8, 8, shared=SharedSlots(a_link, 1, lease_s=30))
    b = CallGate(8, 8, shared=SharedSlots(b_link, 1, lease_s=30))

    async def scenario() -> None:
        started, release = asyncio.Event(), asyncio.Event()

        async def hold() -> str:
            started.set()
            await release.wait()
            return "done"

        def submit() -> Future[str]:
            return asyncio.run_coroutine_threadsafe(hold(), loop)  # type: ignore[return-value]

        loop = asyncio.get_running_loop()
        holding = asyncio.ensure_future(a.await_future("linus", submit))
        await started.wait()
        with pytest.raises(Overloaded):
            await b.run("linus", lambda: "never")
        assert await b.run("ada", lambda: "ada runs") == "ada runs"
        release.set()
        assert await holding == "done"
        assert await b.run("linus", lambda: "now") == "now", "the slot came back"

    asyncio.run(scenario())
    a_link.close()
    b_link.close()
