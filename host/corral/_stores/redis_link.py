"""One node's link to the Redis that holds the state nodes share (``cache_url``).

Every Redis command of the caches, the rate limits, the admission counters and the
single-flight goes through :meth:`RedisLink.call` (worker threads, redis-py's sync API)
or :meth:`RedisLink.acall` (the event loop, its asyncio API). Sockets have short
timeouts, so an outage fails a command in a fraction of a second, never hangs a call.

An outage is remembered: after a failed command the link answers "unavailable" at once
(no socket touched) while a probe thread sends one PING every ``retry_s``; its first
answer ends the outage. So a dead Redis costs one timeout in all, never one per call,
and no call path (the event loop least of all) waits for it again. The outage is
logged once when it starts and once when Redis answers again; the URL's password never
reaches a log.

Keys are ``prefix`` (``cache_prefix``, or the URL's ``?prefix=``) ``+ kind + ":" + hex digest``: digests of what they stand for, never a
secret or a caller's raw argument.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from typing import Any, Awaitable, Callable, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
import redis.asyncio
import redis.asyncio.retry
import redis.retry
from redis.backoff import NoBackoff

from .._closing import Closeable
from .._errors import ConfigError, StoreUnavailable

log = logging.getLogger("corral.redis")

T = TypeVar("T")

#: What a command that cannot reach Redis (or is refused by it) raises.
REDIS_ERRORS = (redis.RedisError, OSError)

DEFAULT_PREFIX = "corral:"


def redacted(url: str) -> str:
    """``redis://host:port/db`` without user or password, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def as_bytes(raw: object) -> bytes | None:
    """A GET's answer as bytes (the clients do not decode), None for anything else."""
    return raw if isinstance(raw, bytes) else None


def split_prefix(url: str, default: str) -> tuple[str, str]:
    """A ``?prefix=`` in the URL (one Redis, several deployments or test runs) replaces
    ``default``; the URL redis-py is given has it removed."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefixes = [value for name, value in query if name == "prefix"]
    if not prefixes:
        return url, default
    rest = urlencode([(name, value) for name, value in query if name != "prefix"])
    return urlunsplit(parts._replace(query=rest)), prefixes[-1]


class RedisLink(Closeable):
    """Sync and asyncio clients on one URL, a key prefix and the outage state."""

    closeable_name = "Redis link"

    def __init__(self, url: str, *, prefix: str = DEFAULT_PREFIX, timeout_s: float = 0.25,
                 retry_s: float = 1.0, max_connections: int = 128) -> None:
        if urlsplit(url).scheme not in ("redis", "rediss", "unix"):
            raise ConfigError("cache_url must be a redis://, rediss:// or unix:// URL, got "
                              f"{redacted(url)!r}", setting="cache_url")
        url, prefix = split_prefix(url, prefix)
        self.url = url
        self.where = redacted(url)
        self.prefix = prefix
        self.timeout_s = timeout_s
        self._retry_s = retry_s
        # No retries inside redis-py: an outage must cost one short timeout, not several.
        options: dict[str, Any] = dict(socket_timeout=timeout_s,
                                       socket_connect_timeout=timeout_s,
                                       health_check_interval=0, retry_on_timeout=False)
        self.sync = redis.Redis.from_url(url, max_connections=max_connections,
                                         retry=redis.retry.Retry(NoBackoff(), 0), **options)
        self._async_options = dict(options, retry=redis.asyncio.retry.Retry(NoBackoff(), 0))
        #: One asyncio client per event loop: its connections belong to the loop.
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop,
                                               redis.asyncio.Redis] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        self._down = False
        self._prober: threading.Thread | None = None
        self._stop = threading.Event()

    # -- keys ---------------------------------------------------------------------------

    def key(self, kind: str, digest: bytes) -> str:
        return f"{self.prefix}{kind}:{digest.hex()}"

    def name(self, kind: str, suffix: str) -> str:
        """A key or channel under the prefix for a name that is not secret (a principal)."""
        return f"{self.prefix}{kind}:{suffix}"

    # -- commands -----------------------------------------------------------------------

    @property
    def available(self) -> bool:
        """False during a remembered outage (no socket is touched to say so)."""
        return not self._down

    def call(self, fn: Callable[[redis.Redis], T]) -> T:
        """``fn(client)`` on the sync client; :class:`StoreUnavailable` on an outage."""
        self._check_open()
        if not self.available:
            raise self._unavailable()
        try:
            result = fn(self.sync)
        except REDIS_ERRORS as exc:
            raise self.failed(exc) from None
        self._up()
        return result

    async def acall(self, fn: Callable[[redis.asyncio.Redis], Awaitable[T]]) -> T:
        """``await fn(client)`` on the asyncio client (made on first use)."""
        self._check_open()
        if not self.available:
            raise self._unavailable()
        try:
            result = await fn(self._async_client())
        except REDIS_ERRORS as exc:
            raise self.failed(exc) from None
        self._up()
        return result

    async def aeval(self, script: str, sha: str, keys: list[str], args: list[Any]) -> Any:
        """A Lua script by its sha1, loaded again if Redis forgot it (after a restart)."""
        async def run(client: redis.asyncio.Redis) -> Any:
            try:
                return await client.evalsha(sha, len(keys), *keys, *args)
            except redis.exceptions.NoScriptError:
                return await client.eval(script, len(keys), *keys, *args)

        return await self.acall(run)

    def put_expiring(self, kind: str, digest: bytes, value: bytes, ttl_s: float) -> bool:
        """``value`` under ``kind``/``digest`` for ``ttl_s``; False when Redis cannot
        take it now (an outage leaves the entry uncached, never fails the caller)."""
        name = self.key(kind, digest)
        try:
            self.call(lambda r: r.set(name, value, px=max(1, int(ttl_s * 1000))))
        except StoreUnavailable:
            return False
        return True

    def ping(self) -> bool:
        """Whether Redis answers now (for readiness); tries even during an outage."""
        try:
            self.sync.ping()
        except REDIS_ERRORS:
            return False
        self._up()
        return True

    async def aping(self) -> bool:
        """``ping`` for the event loop (``/readyz``)."""
        try:
            await self._async_client().ping()
        except REDIS_ERRORS:
            return False
        self._up()
        return True

    def healthy(self) -> bool:
        """Whether the last command reached Redis (no I/O)."""
        return not self._down

    def failed(self, exc: BaseException) -> StoreUnavailable:
        """Remember an outage (one log line when it starts); the error to raise."""
        with self._lock:
            started = not self._down
            self._down = True
            if started and not self._closed:
                self._prober = threading.Thread(target=self._probe_until_up, daemon=True,
                                                name="corral-redis-probe")
                self._prober.start()
        if started:
            log.warning("Redis at %s is unreachable (%s); caching runs uncached and shared "
                        "limits fall back to this node until it returns",
                        self.where, type(exc).__name__)
        return self._unavailable()

    def _up(self) -> None:
        if self._down:
            with self._lock:
                was_down, self._down = self._down, False
            if was_down:
                log.info("Redis at %s answers again; shared caching resumes", self.where)

    def _probe_until_up(self) -> None:
        """During an outage, one PING every ``retry_s`` off the call paths: no call ever
        waits for a timeout after the first, and the link comes back by itself."""
        while not self._stop.wait(self._retry_s):
            if self.ping():
                return

    def _unavailable(self) -> StoreUnavailable:
        return StoreUnavailable("the shared cache (Redis) cannot be reached now", store="redis",
                                retry_after_s=max(1.0, self._retry_s))

    def _async_client(self) -> redis.asyncio.Redis:
        loop = asyncio.get_running_loop()
        client = self._async.get(loop)
        if client is None:
            client = self._async[loop] = redis.asyncio.Redis.from_url(self.url,
                                                                      **self._async_options)
        return client

    def _close(self) -> None:
        self._stop.set()
        self.sync.close()
        self._async.clear()  # their connections close with the loops that made them

