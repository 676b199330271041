"""7. Memory: resident memory per concurrent in-flight call.

The local API (its own process, so its threads are not counted) holds every request of a
round until told to let go. A formula with K ``perfbench.Fetch`` calls is evaluated in
the background; once the API holds all K requests, every call is in flight (a live Store,
Instance and linear memory, a pool thread, an HTTP connection), and this process's
resident set size is read from ``/proc/self/statm``. The idle RSS just before the round
is subtracted. Per-call memory is the slope of a least-squares line through (K, extra RSS).
"""

from __future__ import annotations

import gc
import itertools
import os
import threading
from pathlib import Path
from typing import Any

import wasmtime

from corral import Host

from ._artifacts import perfbench_wasm, with_network_domains
from ._context import Context
from ._local_api import LocalApi
from ._measure import median
from ._results import BenchResult

TITLE = "7. Memory: resident memory per in-flight call"
DOMAIN = "api.bench.test"
COUNTS = (1, 4, 8, 16, 32)
STATM = Path("/proc/self/statm")
HOLD_TIMEOUT_S = 15.0
_rounds = itertools.count()


def run(ctx: Context) -> BenchResult:
    if not STATM.exists():
        raise RuntimeError("this benchmark reads /proc/self/statm (Linux only)")
    result = BenchResult("memory", TITLE)
    reps = ctx.size(1, 3)
    extra: dict[int, float] = {}
    with LocalApi() as api:
        host = ctx.host("memory-host", allow_http=True, host_map={DOMAIN: "127.0.0.1"},
                        max_workers=32, global_concurrency=32, per_pack_concurrency=32)
        try:
            host.register_bytes(with_network_domains(perfbench_wasm(), [f"{DOMAIN}:{api.port}"]),
                                source="perfbench")
            for _ in range(2):  # threads, connections and allocator arenas exist before we count
                _round(host, api, max(COUNTS))
            for k in COUNTS:
                extra[k] = median([_round(host, api, k) for _ in range(reps)])
            linear_memory = _initial_linear_memory(host)
            idle = _rss()
        finally:
            host.close()
    slope, intercept = _fit(list(extra), list(extra.values()))
    for k, delta in extra.items():
        result.rows.append({"in_flight": k, "extra_rss_kib": delta / 1024,
                            "per_call_kib": delta / k / 1024})
        result.metrics[f"extra_rss_{k}_kib"] = delta / 1024
    result.metrics.update({"rss_per_call_kib": slope / 1024,
                           "rss_fixed_kib": intercept / 1024,
                           "guest_linear_memory_kib": linear_memory / 1024,
                           "idle_rss_mib": idle / 2**20})
    result.series = {"in_flight": list(extra), "extra_rss_kib": [v / 1024 for v in
                                                                 extra.values()]}
    result.notes.append(f"slope: {slope / 1024:.0f} KiB resident per in-flight call; the guest's "
                        f"initial linear memory is {linear_memory / 1024:.0f} KiB (resident only "
                        "where touched)")
    result.notes.append("no target: informational")
    return result


def _round(host: Host, api: LocalApi, k: int) -> float:
    """Extra resident bytes while ``k`` calls are held in flight."""
    round_id = f"r{next(_rounds)}"
    urls = [api.url(f"/hold/{round_id}/{i}", host=DOMAIN) for i in range(k)]
    text = "=List(" + ", ".join(f'perfbench.Fetch("{u}")' for u in urls) + ")"
    host.evaluator.parse(text)  # the AST is not what we measure
    gc.collect()
    idle = _rss()
    outcome: dict[str, Any] = {}
    evaluation = threading.Thread(target=_evaluate, args=(host, text, outcome), daemon=True)
    evaluation.start()
    try:
        if not api.wait_pending(round_id, k, HOLD_TIMEOUT_S):
            raise AssertionError(f"only {api.pending(round_id)} of {k} calls reached the API")
        busy = _rss()
    finally:
        api.release(round_id)
        evaluation.join(HOLD_TIMEOUT_S)
    if outcome.get("value") != [200] * k:
        raise AssertionError(f"the round of {k} calls ended with {outcome!r}")
    return float(busy - idle)


def _evaluate(host: Host, text: str, outcome: dict[str, Any]) -> None:
    try:
        outcome["value"] = host.evaluate(text, deadline_s=HOLD_TIMEOUT_S + 5)
    except Exception as exc:  # reported by the caller's check
        outcome["error"] = f"{exc.__class__.__name__}: {exc}"


def _rss() -> int:
    return int(STATM.read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _initial_linear_memory(host: Host) -> int:
    pack = host.pack("perfbench")
    store = wasmtime.Store(pack.sandbox.engine)
    store.set_fuel(pack.manifest.limits.fuel)
    store.set_epoch_deadline(1 << 40)
    memory = pack.compiled.instance_pre.instantiate(store).exports(store)["memory"]
    assert isinstance(memory, wasmtime.Memory)
    return int(memory.data_len(store))


def _fit(xs: list[int], ys: list[float]) -> tuple[float, float]:
    """Least-squares slope and intercept."""
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / spread
    return slope, mean_y - slope * mean_x
