"""10. A cache hit across nodes (PostgreSQL + Redis) beside a local LMDB hit, over HTTP.

Two ``corral serve`` nodes share one PostgreSQL database (made for the run and dropped
after it) and one Redis key space; a third node is the embedded default, LMDB in its data
dir. ``AddCached`` is called once per distinct argument on node A (or on the LMDB node),
then each argument is asked again of node B (or of the LMDB node): the second round is all
cache hits, and its latency is what is measured, one request at a time over keep-alive.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ._artifacts import REPO, perfbench_wasm
from ._context import Context
from ._measure import percentile
from ._results import BenchResult
from .bench_workers import ADMIN_KEY, _free_port, _wait_until_answering

TITLE = "10. Cache hit over HTTP: across nodes (PostgreSQL + Redis) vs local LMDB"
PATH = "/v1/packs/perfbench/formulas/AddCached"
POSTGRES_URL = os.environ.get("CORRAL_TEST_POSTGRES_URL",
                              "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("CORRAL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def run(ctx: Context) -> BenchResult:
    result = BenchResult("cluster", TITLE)
    keys = ctx.size(200, 1000)
    result.settings = {"distinct_keys": keys, "nodes": "A, B on PostgreSQL + Redis; L on LMDB"}
    wasm = ctx.fresh_dir("cluster-pack") / "perfbench.wasm"
    wasm.write_bytes(perfbench_wasm())
    rows: dict[str, list[float]] = {}
    with _database() as store_url, _redis_prefix() as (cache_url, prefix):
        shared = {"CORRAL_STORE_URL": store_url, "CORRAL_CACHE_URL": cache_url,
                  "CORRAL_CACHE_PREFIX": prefix,
                  "CORRAL_PUBLIC_URL": "https://corral.example.test",
                  "CORRAL_SECRET_KEY": secrets.token_urlsafe(32)}
        with _node(ctx, wasm, "a", shared) as a, _node(ctx, wasm, "b", shared) as b, \
                _node(ctx, wasm, "lmdb", {}) as local:
            rows["cross-node hit (A filled, B read)"] = _hits(a, b, keys, offset=0)
            rows["local LMDB hit"] = _hits(local, local, keys, offset=0)
    for name, latencies in rows.items():
        result.rows.append({"name": name, "p50_ms": percentile(latencies, 0.5) * 1e3,
                            "p99_ms": percentile(latencies, 0.99) * 1e3,
                            "requests": len(latencies)})
    cross, local_row = result.rows[0], result.rows[1]
    result.metrics.update({"cross_node_hit_p50_ms": cross["p50_ms"],
                           "local_hit_p50_ms": local_row["p50_ms"],
                           "cross_vs_local_p50": cross["p50_ms"] / local_row["p50_ms"]})
    result.series["p50_ms"] = {row["name"]: row["p50_ms"] for row in result.rows}
    result.notes.append("each hit is one HTTP request with an API key; on the shared nodes "
                        "the value is read from Redis (the key, checked against PostgreSQL "
                        "once, is remembered until the store announces a change)")
    return result


def _hits(filler: int, reader: int, count: int, *, offset: int) -> list[float]:
    for n in range(count):
        _post(filler, n + offset)
    latencies = []
    connection = http.client.HTTPConnection("127.0.0.1", reader, timeout=30)
    try:
        for n in range(count):
            started = time.perf_counter()
            _post_on(connection, n + offset)
            latencies.append(time.perf_counter() - started)
    finally:
        connection.close()
    return latencies


def _post(port: int, n: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        _post_on(connection, n)
    finally:
        connection.close()


def _post_on(connection: http.client.HTTPConnection, n: int) -> Any:
    connection.request("POST", PATH, body=json.dumps({"args": [n, 0.5]}),
                       headers={"Authorization": f"Bearer {ADMIN_KEY}",
                                "Content-Type": "application/json"})
    reply = connection.getresponse()
    body = reply.read()
    if reply.status != 200:
        raise AssertionError(f"{PATH} answered {reply.status}: {body[:300]!r}")
    return json.loads(body)


@contextmanager
def _node(ctx: Context, wasm: Path, name: str, extra: dict[str, str]) -> Iterator[int]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    env.update(CORRAL_ADMIN_KEY=ADMIN_KEY, CORRAL_PACKS=str(wasm),
               CORRAL_RATE_LIMIT_PER_S="1e9", CORRAL_RATE_LIMIT_BURST="1000000000", **extra)
    server = subprocess.Popen(
        [sys.executable, "-m", "corral", "serve", "--data-dir",
         str(ctx.fresh_dir(f"cluster-{name}")), "--port", str(port)], cwd=REPO, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_until_answering(port, server)
        yield port
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@contextmanager
def _database() -> Iterator[str]:
    import psycopg

    name = f"corral_bench_{secrets.token_hex(6)}"
    with psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = POSTGRES_URL.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def _redis_prefix() -> Iterator[tuple[str, str]]:
    import redis

    prefix = f"corral-bench-{secrets.token_hex(6)}:"
    try:
        yield REDIS_URL, prefix
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            client.delete(key)
        client.close()
