"""11. The store seam: LMDB beside PostgreSQL, and a registry lookup on each.

A fresh database on the PostgreSQL server of ``CORRAL_STORE_URL`` (else
``CORRAL_TEST_POSTGRES_URL``, else ``postgresql://postgres@127.0.0.1:5432/test``), dropped
after the run. Rows: a one-key read and a one-key write through the KV seam on each
backend; ``Registry.get`` of an active pack on each (on PostgreSQL it answers from memory
until the change listener says the registry changed); and the time from a write's commit
to a change listener's callback, what another node waits before it re-reads.
"""

from __future__ import annotations

import os
import secrets
import threading
from contextlib import contextmanager
from typing import Iterator

import psycopg
from psycopg import conninfo

from corral._stores.kv import KvStore
from corral._stores.opening import open_kv
from corral._stores.pg import open_pg_space

from ._artifacts import perfbench_wasm
from ._context import Context
from ._measure import Latency, sample_calls
from ._results import BenchResult

TITLE = "11. Store seam: LMDB and PostgreSQL"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
VALUE = b"v" * 100


def run(ctx: Context) -> BenchResult:
    result = BenchResult("store", TITLE)
    count = ctx.size(500, 5000)
    with _fresh_database() as url:
        for label, store_url in (("LMDB", None), ("PostgreSQL", url)):
            kv = open_kv(store_url, "bench", lmdb_dir=ctx.fresh_dir("kv"), map_size=16 << 20,
                         max_dbs=2, name="bench store")
            try:
                get, put = _kv_latencies(kv, count)
            finally:
                kv.close()
            lookup = _registry_lookup(ctx, store_url, count * 10)
            key = label.lower()
            result.rows += [get.row(f"{label}: read one key"), put.row(f"{label}: write one key"),
                            lookup.row(f"{label}: Registry.get (active pack)")]
            result.metrics.update({f"{key}_get_p50_us": get.p50_s * 1e6,
                                   f"{key}_put_p50_us": put.p50_s * 1e6,
                                   f"{key}_registry_get_p50_us": lookup.p50_s * 1e6})
        notify = _notify_latency(url, ctx.size(50, 500))
        result.rows.append(notify.row("PostgreSQL: commit to change callback"))
        result.metrics["notify_p50_us"] = notify.p50_s * 1e6
    return result


def _kv_latencies(kv: KvStore, count: int) -> tuple[Latency, Latency]:
    db = kv.open_db(b"bench")
    kv.write(lambda txn: txn.put(b"key", VALUE, db=db))
    get = Latency.of(sample_calls(lambda: kv.read(lambda txn: txn.get(b"key", db=db)), count))
    put = Latency.of(sample_calls(lambda: kv.write(lambda txn: txn.put(b"key", VALUE, db=db)),
                                  count))
    return get, put


def _registry_lookup(ctx: Context, store_url: str | None, count: int) -> Latency:
    host = ctx.host("store-registry", store_url=store_url)
    try:
        host.register_bytes(perfbench_wasm(), source="perfbench")
        host.registry.get("perfbench")
        return Latency.of(sample_calls(lambda: host.registry.get("perfbench"), count))
    finally:
        host.close()


def _notify_latency(url: str, count: int) -> Latency:
    writer = open_pg_space(url, "bench-notify", name="bench store")
    changed = threading.Event()
    writer.on_change(changed.set)

    def commit_and_hear() -> None:
        changed.clear()
        writer.write(lambda txn: txn.put(b"tick", secrets.token_bytes(8)))
        if not changed.wait(5.0):
            raise AssertionError("the change listener never heard the commit")

    try:
        return Latency.of(sample_calls(commit_and_hear, count, warmup=5))
    finally:
        writer.close()


@contextmanager
def _fresh_database() -> Iterator[str]:
    server = (os.environ.get("CORRAL_STORE_URL") or os.environ.get("CORRAL_TEST_POSTGRES_URL")
              or DEFAULT_URL)
    name = f"corral_bench_{secrets.token_hex(6)}"
    with psycopg.connect(server, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield conninfo.make_conninfo(server, dbname=name)
    finally:
        with psycopg.connect(server, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
