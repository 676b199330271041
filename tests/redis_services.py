"""Redis for the tests: the shared one (``CORRAL_TEST_REDIS_URL``, else 127.0.0.1:6379,
else a private server started from ``redis-server`` on PATH) with a key prefix per test,
and private servers a test may stop and start (outages).

``redis_url`` is a ``cache_url`` whose ``?prefix=`` is the test's own: every key a host
makes under it starts with that prefix, and the fixture deletes them at the end.
``redis_space`` gives the same URL with a client and the prefix, to look at the keys.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

DEFAULT_URL = "redis://127.0.0.1:6379/0"
STARTUP_TIMEOUT_S = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers(url: str) -> bool:
    try:
        with redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1) as client:
            return bool(client.ping())
    except (redis.RedisError, OSError):
        return False


class PrivateRedis:
    """A ``redis-server`` of this test's own, on a free port, in a temp dir, with no
    persistence; ``stop()`` and ``start()`` it again on the same port."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("the Redis tests need redis-server on PATH (apt-get install "
                        "redis-server) or CORRAL_TEST_REDIS_URL naming a running Redis")
        self._binary = binary
        self._dir = Path(tempfile.mkdtemp(prefix="corral-redis-"))
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def unused_port() -> int:
        """A port nothing listens on (for a Redis that is not there)."""
        return free_port()

    def start(self) -> PrivateRedis:
        log = open(self._dir / "redis.log", "ab")
        self._process = subprocess.Popen(
            [self._binary, "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self._dir)],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not answers(self.url):
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start; see {self._dir}/redis.log")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=10)
        self._process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)


_session_server: PrivateRedis | None = None


def base_url() -> str:
    """The Redis the tests share: the configured one, the local one, else a private one."""
    global _session_server
    configured = os.environ.get("CORRAL_TEST_REDIS_URL")
    if configured:
        if not answers(configured):
            pytest.fail(f"CORRAL_TEST_REDIS_URL ({configured}) does not answer")
        return configured
    if answers(DEFAULT_URL):
        return DEFAULT_URL
    if _session_server is None:
        _session_server = PrivateRedis().start()
    return _session_server.url


@dataclass
class RedisSpace:
    """One test's keys: ``url`` (a cache_url with the prefix), ``prefix``, ``client``."""

    url: str
    prefix: str
    client: redis.Redis

    def keys(self) -> list[bytes]:
        return list(self.client.scan_iter(f"{self.prefix}*", count=1000))

    def clear(self) -> None:
        for key in self.keys():
            self.client.delete(key)


def with_prefix(url: str, prefix: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}prefix={prefix}"


def open_space(url: str) -> RedisSpace:
    prefix = f"corral-test-{uuid.uuid4().hex[:12]}:"
    return RedisSpace(with_prefix(url, prefix), prefix, redis.Redis.from_url(url))


@pytest.fixture
def redis_space() -> Iterator[RedisSpace]:
    space = open_space(base_url())
    try:
        yield space
    finally:
        space.clear()
        space.client.close()


@pytest.fixture
def redis_url(redis_space: RedisSpace) -> str:
    """A ``cache_url`` on the shared Redis with this test's own key prefix."""
    return redis_space.url


@pytest.fixture
def redis_cache_url(redis_space: RedisSpace) -> str:
    """The same, by the name the distributed tests use."""
    return redis_space.url


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    """A running Redis of this test's own (``.url``, ``.stop()``, ``.start()``)."""
    server = PrivateRedis().start()
    try:
        yield server
    finally:
        server.close()
