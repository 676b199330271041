"""10. The JavaScript engine: a QuickJS snapshot's call beside a Zig pack's, in the same run.

The JS pack is the engine's hand-written test bundle (``tests/toolchain/js/hello.js``, no
Coda SDK) snapshotted by Wizer; each call runs on a fresh instance of the snapshot through
``Pack.call``, as for every pack. The Zig ``hello`` pack's ``Greet`` is the baseline. Pack
load is ``pack_from_bytes`` in a new Sandbox whose precompiled cache holds the pack.
Resident memory per in-flight call is measured as in benchmark 7: K JS calls held inside
``__corral.fetch`` by the local API, the slope of extra RSS over K. Each round runs on a
fresh Host (a copy of one data directory, so the pack is registered and precompiled): a
pooled slot keeps the pages its last call touched resident (``KEEP_RESIDENT_BYTES``), so
on a warm Host a round would count only the slots no earlier round used.
"""

from __future__ import annotations

import gc
import itertools
import shutil
import threading
from functools import partial
from pathlib import Path
from typing import Any

from corral import Host, Sandbox, SandboxConfig, Settings, pack_from_bytes

from ._artifacts import REPO, example_packs
from ._context import Context
from ._local_api import LocalApi
from ._measure import Latency, median, sample_calls, timed
from ._results import BenchResult, Target
from .bench_memory import HOLD_TIMEOUT_S, _fit, _rss

TITLE = "10. The JavaScript engine (QuickJS snapshot) beside a Zig pack"
BUNDLE = REPO / "tests" / "toolchain" / "js" / "hello.js"
DOMAIN = "api.bench.test"
CALL_LIMIT_MS = 1.0
LOAD_LIMIT_MS = 20.0
COUNTS = (1, 4, 8, 16)
_rounds = itertools.count()


def js_wasm(domains: list[str] | None = None) -> bytes:
    from corral._toolchain.js_snapshot import snapshot_js_pack

    formulas = [{"name": name, "params": [{"name": "x", "type": "string", "optional": True}],
                 "result": {"type": "any"}} for name in ("Hello", "Status")]
    manifest = {"pack": {"name": "jsbench", "version": "0.1.0",
                         "network_domains": domains or []}, "formulas": formulas}
    return snapshot_js_pack(BUNDLE.read_text(), manifest)


def run(ctx: Context) -> BenchResult:
    result = BenchResult("js_engine", TITLE)
    packs = {"js (QuickJS snapshot)": (js_wasm(), "Hello"),
             "zig (hello)": (example_packs()["hello"], "Greet")}
    count = ctx.size(300, 2000)
    p50: dict[str, float] = {}
    for label, (wasm, formula) in packs.items():
        cache_dir = ctx.fresh_dir("js-load")
        with Sandbox(SandboxConfig(cache_dir=cache_dir)) as sandbox:
            pack = pack_from_bytes(wasm, sandbox=sandbox)  # fills the precompiled cache
            calls = Latency.of(sample_calls(partial(pack.call, formula, "Ada"), count))
        loads = Latency.of([_load(wasm, cache_dir) for _ in range(ctx.size(5, 20))])
        key = label.split(" ")[0]
        p50[key] = calls.p50_s * 1e3
        result.rows.append({"pack": label, "wasm_kb": len(wasm) / 1024,
                            "call_p50_ms": calls.p50_s * 1e3, "call_p99_ms": calls.p99_s * 1e3,
                            "load_p50_ms": loads.p50_s * 1e3})
        result.metrics[f"{key}_call_p50_ms"] = calls.p50_s * 1e3
        result.metrics[f"{key}_call_p99_ms"] = calls.p99_s * 1e3
        result.metrics[f"{key}_load_p50_ms"] = loads.p50_s * 1e3
        result.series[key] = {"call_p50_ms": calls.p50_s * 1e3, "load_p50_ms": loads.p50_s * 1e3}
        if key == "js":
            result.targets.append(Target("js_engine_call_p50", "JS pack call (Hello), fresh "
                                         "instance of the snapshot, p50", calls.p50_s * 1e3,
                                         "<=", CALL_LIMIT_MS, "ms"))
            result.targets.append(Target("js_engine_load_p50", "load a precompiled JS pack, p50",
                                         loads.p50_s * 1e3, "<=", LOAD_LIMIT_MS, "ms"))
    result.metrics["js_over_zig_call"] = p50["js"] / p50["zig"]
    per_call = memory_per_call(ctx)
    result.metrics["js_rss_per_call_kib"] = per_call / 1024
    result.notes.append(f"JS call p50 is {p50['js'] / p50['zig']:.1f}x the Zig pack's; "
                        f"{per_call / 1024:.0f} KiB resident per in-flight JS call (slope over "
                        f"{', '.join(map(str, COUNTS))} calls held in fetch)")
    return result


def _load(wasm: bytes, cache_dir: Any) -> float:
    with Sandbox(SandboxConfig(cache_dir=cache_dir)) as sandbox:
        seconds, pack = timed(lambda: pack_from_bytes(wasm, sandbox=sandbox))
    if not pack.compiled.from_cache:
        raise AssertionError("the JS pack was not loaded from the precompiled cache")
    return seconds


def memory_per_call(ctx: Context) -> float:
    """Resident bytes per in-flight call of the engine pack (the slope over ``COUNTS``)."""
    with LocalApi() as api:
        settings = {"allow_http": True, "host_map": {DOMAIN: "127.0.0.1"}, "max_workers": 32,
                    "global_concurrency": 32, "per_pack_concurrency": 32}
        base = ctx.fresh_dir("js-memory")
        host = Host(Settings(data_dir=base, **settings))  # type: ignore[arg-type]
        try:
            host.register_bytes(js_wasm([f"{DOMAIN}:{api.port}"]), source="jsbench")
        finally:
            host.close()
        extra = {k: median([_fresh_round(ctx, base, settings, api, k)
                            for _ in range(ctx.size(1, 3))]) for k in COUNTS}
    slope, _ = _fit(list(extra), list(extra.values()))
    return slope


def _fresh_round(ctx: Context, base: Path, settings: dict[str, Any], api: LocalApi,
                 k: int) -> float:
    data_dir = ctx.fresh_dir("js-memory-round")
    shutil.copytree(base, data_dir, dirs_exist_ok=True)
    host = Host(Settings(data_dir=data_dir, **settings))
    try:
        _round(host, api, 1)  # the module is loaded and a thread exists before we count
        return _round(host, api, k)
    finally:
        host.close()


def _round(host: Host, api: LocalApi, k: int) -> float:
    round_id = f"js{next(_rounds)}"
    urls = [api.url(f"/hold/{round_id}/{i}", host=DOMAIN) for i in range(k)]
    text = "=List(" + ", ".join(f'jsbench.Status("{u}")' for u in urls) + ")"
    gc.collect()
    idle = _rss()
    outcome: dict[str, Any] = {}

    def evaluate() -> None:
        try:
            outcome["value"] = host.evaluate(text, deadline_s=HOLD_TIMEOUT_S + 5)
        except Exception as exc:  # reported below
            outcome["error"] = f"{exc.__class__.__name__}: {exc}"

    thread = threading.Thread(target=evaluate, daemon=True)
    thread.start()
    try:
        if not api.wait_pending(round_id, k, HOLD_TIMEOUT_S):
            raise AssertionError(f"only {api.pending(round_id)} of {k} JS calls reached the API")
        busy = _rss()
    finally:
        api.release(round_id)
        thread.join(HOLD_TIMEOUT_S)
    if outcome.get("value") != [200] * k:
        raise AssertionError(f"the round of {k} JS calls ended with {outcome!r}")
    return float(busy - idle)


def plot(ax: Any, result: BenchResult) -> None:
    """The panel in the suite's plot: call and load p50 of the JS and the Zig pack."""
    from ._plot import _bars

    labels = [f"{key} {what}" for key in result.series for what in ("call", "load")]
    values = [result.series[key][f"{what}_p50_ms"] for key in result.series
              for what in ("call", "load")]
    _bars(ax, labels, values, "p50 ms (log)", log=True, limit=CALL_LIMIT_MS)
