"""5. Scheduler: N independent fetching calls in one formula, against one after another.

A local API (its own process) answers ``/delay/50`` after 50 ms. The formula
``=List(perfbench.Fetch(url_1), ..., perfbench.Fetch(url_N))`` has N independent pack
calls, each fetching a distinct URL through the real fetch path (policy, pinned
transport); the scheduler runs them in parallel. The baseline evaluates the same N
calls one formula at a time. The host is configured for 32 concurrent calls (the
defaults allow 8 per pack); one N = 32 run with the default settings is shown beside.
"""

from __future__ import annotations

import itertools
from typing import Any

from corral import Host

from ._artifacts import perfbench_wasm, with_network_domains
from ._context import Context
from ._local_api import LocalApi
from ._measure import median, timed
from ._results import BenchResult, Target

TITLE = "5. Scheduler: N independent 50 ms fetches, parallel vs sequential"
DOMAIN = "api.bench.test"
DELAY_MS = 50
COUNTS = (1, 2, 4, 8, 16, 32)
SPEEDUP_LIMIT = 1.5
CONCURRENCY = {"max_workers": 32, "global_concurrency": 32, "per_pack_concurrency": 32}
_nonce = itertools.count()


def run(ctx: Context) -> BenchResult:
    result = BenchResult("scheduler", TITLE, settings=dict(CONCURRENCY))
    reps = ctx.size(2, 5)
    parallel: dict[int, float] = {}
    sequential: dict[int, float] = {}
    with LocalApi() as api:
        host = _host(ctx, api, **CONCURRENCY)
        try:
            _warm_up(host, api)
            for n in COUNTS:
                parallel[n] = median([_parallel(host, api, n) for _ in range(reps)])
                sequential[n] = median([_sequential(host, api, n)
                                        for _ in range(ctx.size(1, 2))])
        finally:
            host.close()
        default_host = _host(ctx, api)
        try:
            _warm_up(default_host, api)
            default_32 = median([_parallel(default_host, api, 32) for _ in range(reps)])
        finally:
            default_host.close()
    for n in COUNTS:
        result.rows.append({"calls": n, "parallel_ms": parallel[n] * 1e3,
                            "sequential_ms": sequential[n] * 1e3,
                            "parallel_vs_one": parallel[n] / parallel[1],
                            "speedup": sequential[n] / parallel[n]})
        result.metrics[f"parallel_{n}_ms"] = parallel[n] * 1e3
        result.metrics[f"sequential_{n}_ms"] = sequential[n] * 1e3
    ratio = parallel[32] / parallel[1]
    result.metrics["ratio_32_to_1"] = ratio
    result.metrics["default_settings_parallel_32_ms"] = default_32 * 1e3
    result.series = {"counts": list(COUNTS), "parallel_ms": [parallel[n] * 1e3 for n in COUNTS],
                     "sequential_ms": [sequential[n] * 1e3 for n in COUNTS]}
    result.targets.append(Target("scheduler_32_vs_1", "32 independent 50 ms calls / one call, "
                                 "wall time", ratio, "<=", SPEEDUP_LIMIT, "x"))
    result.notes.append(f"with default settings (8 workers, 8 per pack) 32 calls took "
                        f"{default_32 * 1e3:.0f} ms ({default_32 / parallel[1]:.1f}x one call)")
    return result


def _host(ctx: Context, api: LocalApi, **settings: Any) -> Host:
    host = ctx.host("scheduler-host", allow_http=True, host_map={DOMAIN: "127.0.0.1"},
                    **settings)
    wasm = with_network_domains(perfbench_wasm(), [f"{DOMAIN}:{api.port}"])
    host.register_bytes(wasm, source="perfbench")
    return host


def _urls(api: LocalApi, n: int) -> list[str]:
    run = next(_nonce)
    return [api.url(f"/delay/{DELAY_MS}?run={run}&call={i}", host=DOMAIN) for i in range(n)]


def _formula(urls: list[str]) -> str:
    return "=List(" + ", ".join(f'perfbench.Fetch("{url}")' for url in urls) + ")"


def _parallel(host: Host, api: LocalApi, n: int) -> float:
    text = _formula(_urls(api, n))
    seconds, value = timed(lambda: host.evaluate(text))
    if value != [200] * n:
        raise AssertionError(f"{n} parallel fetches returned {value!r}, not {n} times 200")
    return float(seconds)


def _sequential(host: Host, api: LocalApi, n: int) -> float:
    texts = [_formula([url]) for url in _urls(api, n)]

    def one_after_another() -> list[Any]:
        return [host.evaluate(text)[0] for text in texts]

    seconds, value = timed(one_after_another)
    if value != [200] * n:
        raise AssertionError(f"{n} sequential fetches returned {value!r}")
    return float(seconds)


def _warm_up(host: Host, api: LocalApi) -> None:
    """Start the pool's threads and open connections before anything is timed."""
    _parallel(host, api, 32)
