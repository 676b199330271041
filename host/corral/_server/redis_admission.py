"""Rate limits and per-principal admission counters shared by the nodes, in Redis.

:class:`SharedRateLimiter` is :class:`~corral._server.admission.RateLimiter`'s token
bucket kept in a Redis hash per caller and updated by one Lua script (atomic, on Redis's
own clock, so the nodes' clocks need not agree): a caller's limit holds across the
nodes. :class:`SharedSlots` counts each principal's running calls across the nodes as
members of a sorted set scored by their lease's end, so the slots of a node killed
mid-call free themselves when their leases run out.

Keys are ``<prefix>rl:<scope>:<sha256 of the caller>`` and ``<prefix>run:<sha256 of the
principal>``: no caller name or address in clear.

Redis unreachable: the rate limit falls back to this node's own bucket, unless
``strict``, then the request is refused with :class:`StoreUnavailable` (503 with
``Retry-After``); admission falls back to the node's own gate alone.
"""

from __future__ import annotations

import hashlib
import math
import time
import uuid
from typing import Callable

from .._errors import Overloaded, StoreUnavailable
from .._stores.redis_link import RedisLink
from .admission import RateLimiter

_BUCKET = """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1]) or burst
local ts = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local wait = 0
if tokens < 1 then
  wait = (1 - tokens) / rate
else
  tokens = tokens - 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return tostring(wait)
"""

_TAKE_SLOT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
"""


def _digest(who: str) -> bytes:
    return hashlib.sha256(who.encode("utf-8", "surrogatepass")).digest()


class SharedRateLimiter(RateLimiter):
    """A token bucket per caller in Redis; this node's own bucket while Redis is away."""

    def __init__(self, link: RedisLink, rate_per_s: float, burst: int, *, scope: str,
                 strict: bool = False, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(rate_per_s, burst, clock)  # the fallback's clock
        self._link = link
        self._scope = scope
        self._strict = strict
        self._script = link.sync.register_script(_BUCKET)

    def check(self, who: str) -> None:
        if self._rate <= 0:
            return
        if not self._link.available:
            return self._degraded(who)
        key = self._link.key(f"rl:{self._scope}", _digest(who))
        try:
            wait = self._link.call(lambda r: self._script(
                keys=[key], args=[self._rate, self._burst], client=r))
        except StoreUnavailable:
            return self._degraded(who)
        self._refuse_if_waiting(float(wait))

    async def acheck(self, who: str) -> None:
        if self._rate <= 0:
            return
        if not self._link.available:
            return self._degraded(who)
        key = self._link.key(f"rl:{self._scope}", _digest(who))
        try:
            wait = await self._link.aeval(_BUCKET, self._script.sha, [key],
                                          [self._rate, self._burst])
        except StoreUnavailable:
            return self._degraded(who)
        self._refuse_if_waiting(float(wait))

    def _refuse_if_waiting(self, wait_s: float) -> None:
        if wait_s > 0:
            raise Overloaded(f"rate limit of {self._rate:g} requests per second exceeded; "
                             f"retry in {math.ceil(wait_s)} s", retry_after_s=wait_s)

    def _degraded(self, who: str) -> None:
        if self._strict:
            raise StoreUnavailable("the shared rate limit (Redis) cannot be reached now; "
                                   "retry shortly", store="redis", retry_after_s=1.0)
        super().check(who)


class SharedSlots:
    """Each principal's running calls across the nodes, at most ``share`` at once."""

    def __init__(self, link: RedisLink, share: int, *, lease_s: float) -> None:
        self._link = link
        self._share = max(1, share)
        self._lease_ms = max(1000, int(lease_s * 1000))
        self._script = link.sync.register_script(_TAKE_SLOT)

    async def take(self, who: str) -> str | None:
        """A slot's id, "" if ``who`` holds its share across the nodes, None when Redis
        is unreachable (the node's own gate then decides alone)."""
        if not self._link.available:
            return None
        slot = uuid.uuid4().hex
        key = self._link.key("run", _digest(who))
        try:
            taken = await self._link.aeval(_TAKE_SLOT, self._script.sha, [key],
                                           [slot, self._share, self._lease_ms])
        except StoreUnavailable:
            return None
        return slot if taken else ""

    async def give_back(self, who: str, slot: str | None) -> None:
        if not slot:
            return
        key = self._link.key("run", _digest(who))
        try:
            await self._link.acall(lambda r: r.zrem(key, slot))
        except StoreUnavailable:
            pass  # its lease ends by itself

    def running_for(self, who: str) -> int:
        """How many calls ``who`` runs across the nodes (live leases), 0 if unknown."""
        key = self._link.key("run", _digest(who))
        try:
            return int(self._link.call(lambda r: r.zcount(key, "(" + str(_redis_ms(r)), "+inf")))
        except StoreUnavailable:
            return 0


def _redis_ms(client: object) -> int:
    seconds, micros = client.time()  # type: ignore[attr-defined]
    return int(seconds) * 1000 + int(micros) // 1000


def rate_limiter(link: RedisLink | None, rate_per_s: float, burst: int, *, scope: str,
                 strict: bool, clock: Callable[[], float]) -> RateLimiter:
    """The node's own bucket without Redis; the nodes' shared one with it."""
    if link is None:
        return RateLimiter(rate_per_s, burst, clock)
    return SharedRateLimiter(link, rate_per_s, burst, scope=scope, strict=strict, clock=clock)


def shared_slots(link: RedisLink | None, share: int, *, lease_s: float) -> SharedSlots | None:
    """The count of running calls across the nodes, when there is a Redis and a share."""
    if link is None or share <= 0:
        return None
    return SharedSlots(link, share, lease_s=lease_s)
