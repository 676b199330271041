"""Redis key injection: caller names with ``:``, ``*``, newlines, NULs, Lua or glob
syntax, or a megabyte of text, each get a rate-limit bucket and an admission count of
their own; exhausting one never touches another's (nor a public address's bucket of the
same spelling), and every key the limits make is the prefix, a kind and a digest."""

from __future__ import annotations

import asyncio
import re

import pytest

from corral._errors import Overloaded
from corral._server.redis_admission import SharedRateLimiter, SharedSlots
from corral._stores.redis_link import RedisLink

from ..redis_services import RedisSpace

VICTIM = "ada"
HOSTILE = ["ada:", "ada*", "*", "ada\n", "ada\r\nFLUSHALL\r\n", "ada\x00", "ada ",
           "ADA", "rl:key:ada", "address:127.0.0.1", "') return 0 --", "ada[a-z]", "a?a",
           "x" * 1_000_000, "ád​a"]


def key_shape(prefix: str) -> re.Pattern[bytes]:
    return re.compile(re.escape(prefix).encode() + rb"(rl:key|rl:address|run):[0-9a-f]{64}")


def test_hostile_names_never_share_or_drain_the_victims_bucket(
        redis_space: RedisSpace) -> None:
    link = RedisLink(redis_space.url)
    try:
        keyed = SharedRateLimiter(link, 0.001, 2, scope="key")
        public = SharedRateLimiter(link, 0.001, 2, scope="address")
        for name in HOSTILE:
            keyed.check(name)
            keyed.check(name)
            with pytest.raises(Overloaded):
                keyed.check(name)  # each hostile name drained its own bucket
        public.check("127.0.0.1")
        public.check("127.0.0.1")
        keyed.check(VICTIM)  # the victim's bucket is untouched by all of them
        keyed.check(VICTIM)
        with pytest.raises(Overloaded):
            keyed.check(VICTIM)
        keyed.check("127.0.0.1")  # a principal of that spelling is not the address
        shape = key_shape(redis_space.prefix)
        keys = redis_space.keys()
        assert len(keys) == len(HOSTILE) + 3, keys
        assert all(shape.fullmatch(key) for key in keys), keys
    finally:
        link.close()


def test_hostile_names_hold_admission_slots_of_their_own(redis_space: RedisSpace) -> None:
    link = RedisLink(redis_space.url)
    slots = SharedSlots(link, 1, lease_s=30)

    async def attack() -> None:
        held = [await slots.take(name) for name in HOSTILE]
        assert all(held), "each hostile name takes its own first slot"
        assert [await slots.take(name) for name in HOSTILE] == [""] * len(HOSTILE)
        mine = await slots.take(VICTIM)
        assert mine, "the victim's share is its own"
        await slots.give_back(VICTIM, mine)
        for name, slot in zip(HOSTILE, held):
            await slots.give_back(name, slot)

    try:
        asyncio.run(attack())
        assert slots.running_for(VICTIM) == 0
        shape = key_shape(redis_space.prefix)
        assert all(shape.fullmatch(key) for key in redis_space.keys()), redis_space.keys()
    finally:
        link.close()
