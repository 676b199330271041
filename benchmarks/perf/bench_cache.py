"""3. Result cache: evaluating a cached formula, and LMDB lookups per second.

A Host on a fresh data directory (real LMDB) evaluates ``=perfbench.AddCached(1, 2)``
once to fill the cache, then again and again: each evaluate finds the parsed formula in
the parse cache and the result in LMDB, and runs no guest code. Beside it: ``Host.call``
of the same cached call, ``ResultCache.get`` alone, and a bare ``lmdb`` read of a value of the
same shape in an environment opened the same way (the floor).
"""

from __future__ import annotations

import lmdb
import msgpack

from corral._calls.result_cache import result_key

from ._artifacts import perfbench_wasm
from ._context import Context
from ._measure import Latency, rate, sample_calls
from ._results import BenchResult, Target

TITLE = "3. Result cache: cached evaluate and LMDB lookups"
EVALUATE_LIMIT_US = 25.0
FORMULA = "=perfbench.AddCached(1, 2)"


def run(ctx: Context) -> BenchResult:
    result = BenchResult("result_cache", TITLE)
    count = ctx.size(3000, 30000)
    host = ctx.host("cache-host")
    try:
        pack = host.register_bytes(perfbench_wasm(), source="perfbench")
        if host.evaluate(FORMULA) != 3:
            raise AssertionError(f"{FORMULA} did not evaluate to 3")
        started = host.scheduler.stats().started
        evaluate = Latency.of(sample_calls(lambda: host.evaluate(FORMULA), count))
        call = Latency.of(sample_calls(lambda: host.call("perfbench", "AddCached", 1, 2), count))
        ran = host.scheduler.stats().started - started
        if ran:
            raise AssertionError(f"{ran} cached calls ran the pack; the cache did not answer")
        key = result_key(pack.name, pack.sha256, "AddCached", [1, 2], None,
                         context=host.invocation().cache_scope())
        cache = host.result_cache
        if cache.get(key) is None:
            raise AssertionError("the result cache has no entry under the expected key")
        lookups = ctx.size(50_000, 500_000)
        cache_rate = rate(lambda: cache.get(key), lookups)
        raw_rate = _raw_lmdb_rate(ctx, key, lookups)
    finally:
        host.close()
    result.rows += [evaluate.row(f"Host.evaluate('{FORMULA}')"),
                    call.row("Host.call (cached)")]
    result.rows += [{"name": "ResultCache.get", "calls_per_s": cache_rate},
                    {"name": "raw lmdb txn.get (floor)", "calls_per_s": raw_rate}]
    result.metrics.update({
        "evaluate_p50_us": evaluate.p50_s * 1e6, "evaluate_p99_us": evaluate.p99_s * 1e6,
        "evaluate_per_s": evaluate.per_s, "call_p50_us": call.p50_s * 1e6,
        "call_p99_us": call.p99_s * 1e6, "cache_lookups_per_s": cache_rate,
        "raw_lmdb_lookups_per_s": raw_rate})
    result.targets.append(Target("cached_evaluate_p50", "cached evaluate, p50",
                                 evaluate.p50_s * 1e6, "<=", EVALUATE_LIMIT_US, "us"))
    return result


def _raw_lmdb_rate(ctx: Context, key: bytes, count: int) -> float:
    """Reads of one small value in an LMDB environment of our own, opened as the cache opens its."""
    env = lmdb.open(str(ctx.fresh_dir("raw-lmdb")), map_size=16 << 20, sync=False,
                    metasync=False, readahead=False)
    try:
        with env.begin(write=True) as txn:
            txn.put(key, msgpack.packb([1, 4e9, 1e9, 3]))

        def lookup() -> bytes | None:
            with env.begin() as txn:
                value: bytes | None = txn.get(key)
                return value

        if lookup() is None:
            raise AssertionError("the raw LMDB read found nothing")
        return rate(lookup, count)
    finally:
        env.close()
