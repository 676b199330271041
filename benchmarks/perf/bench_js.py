"""9. JavaScript packs beside Coda's own runner, on the same pack in the same run.

The Coda sample ``hello_world`` (``Hello("World")``) built with ``corral build``: a fresh
instance of the QuickJS-NG snapshot per call through ``Pack.call``, and loading the
precompiled pack (``pack_from_bytes`` in a new Sandbox whose precompiled cache holds it).
Beside it, Coda's runner on the same source (``guest-sdk/js/coda-bench.mjs``): a fresh
isolated-vm isolate per call, as ``coda execute --vm`` runs every call, and the packs-sdk
thunk in-process with no sandbox at all. Resident memory per in-flight JS call is
benchmark 10's measure (JS calls held inside ``fetch``, the slope of extra RSS over their
count), since ``Hello`` never waits on anything.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from functools import partial
from typing import Any, Callable

from corral import Sandbox, SandboxConfig, pack_from_bytes
from corral._errors import CorralError
from corral._sandbox.state import CallStats
from corral._toolchain.build import build_pack
from corral._toolchain.js_bundle import js_sdk_dir, node

from ._context import Context
from ._measure import Latency, sample_calls, timed
from ._results import BenchResult, Target
from .bench_js_engine import memory_per_call

TITLE = "9. JavaScript packs: Corral's engine vs Coda's runner (hello_world Hello)"
SAMPLE = (js_sdk_dir() / "node_modules" / "@codahq" / "packs-sdk" / "documentation" / "samples"
          / "packs" / "hello_world" / "hello_world.ts")
CALL_LIMIT_MS, IVM_LIMIT_X, THUNK_LIMIT_X, LOAD_LIMIT_MS = 1.0, 30.0, 5.0, 20.0


def _built(ctx: Context) -> bytes:
    pack_dir = ctx.workdir / "js-hello"
    pack_dir.mkdir(exist_ok=True)
    shutil.copyfile(SAMPLE, pack_dir / "pack.ts")
    return build_pack(pack_dir).path.read_bytes()


def _coda(count: int) -> tuple[Latency, Latency]:
    done = subprocess.run([node(), str(js_sdk_dir() / "coda-bench.mjs"), str(SAMPLE), "Hello",
                           '["World"]', str(count)], capture_output=True, text=True,
                          timeout=900, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"coda-bench.mjs failed: {done.stderr[-2000:]}")
    data = json.loads(done.stdout)
    return Latency.of(data["thunk_s"]), Latency.of(data["ivm_s"])


def _corral(ctx: Context, wasm: bytes, fuel: dict[str, int]) -> tuple[Latency, Latency]:
    """Calls through Pack.call, and loads of the precompiled pack in a new Sandbox; the
    guest's fuel for one call and for a request no op answers goes into ``fuel``."""
    cache_dir = ctx.fresh_dir("js-cache")
    with Sandbox(SandboxConfig(cache_dir=cache_dir)) as sandbox:
        pack = pack_from_bytes(wasm, sandbox=sandbox)  # fills the precompiled cache
        assert pack.call("Hello", "World") == "Hello World!"
        calls = Latency.of(sample_calls(lambda: pack.call("Hello", "World"),
                                        ctx.size(300, 2000)))
        fuel.update(hello=_fuel(lambda stats: pack.call("Hello", "World", stats=stats)),
                    no_op=_fuel(lambda stats: pack.invoke("no_such_op", "Hello", stats=stats)))
    loads = []
    for _ in range(ctx.size(5, 20)):
        with Sandbox(SandboxConfig(cache_dir=cache_dir)) as sandbox:
            seconds, loaded = timed(partial(pack_from_bytes, wasm, sandbox=sandbox))
        if not loaded.compiled.from_cache:
            raise AssertionError("the JS pack was not loaded from the precompiled cache")
        loads.append(seconds)
    return calls, Latency.of(loads)


def run(ctx: Context) -> BenchResult:
    result = BenchResult("js", TITLE)
    wasm = _built(ctx)
    fuel: dict[str, int] = {}
    corral, load = _corral(ctx, wasm, fuel)
    thunk, ivm = _coda(ctx.size(20, 100))
    rss_kib = memory_per_call(ctx) / 1024
    vs_ivm, vs_thunk = ivm.p50_s / corral.p50_s, corral.p50_s / thunk.p50_s
    result.rows += [
        _row("corral JS pack, fresh snapshot instance (Pack.call)", corral, f"<= {CALL_LIMIT_MS:g} ms"),
        _row("coda isolated-vm, fresh isolate per call", ivm),
        _row("coda thunk in-process, no sandbox", thunk),
        _row("load a precompiled JS pack (pack_from_bytes)", load, f"<= {LOAD_LIMIT_MS:g} ms"),
        {"measure": "isolated-vm p50 / corral p50", "value": vs_ivm, "unit": "x",
         "target": f">= {IVM_LIMIT_X:g} x"},
        {"measure": "corral p50 / thunk p50", "value": vs_thunk, "unit": "x",
         "target": f"<= {THUNK_LIMIT_X:g} x"},
        {"measure": "RSS per in-flight JS call", "value": rss_kib, "unit": "KiB",
         "target": "reported"},
    ]
    result.metrics.update({"corral_p50_ms": corral.p50_s * 1e3, "corral_p99_ms": corral.p99_s * 1e3,
                           "ivm_p50_ms": ivm.p50_s * 1e3, "thunk_p50_ms": thunk.p50_s * 1e3,
                           "load_p50_ms": load.p50_s * 1e3, "speedup_vs_ivm": vs_ivm,
                           "ratio_vs_thunk": vs_thunk, "rss_per_call_kib": rss_kib})
    result.series = {"p50_ms": {"corral (Pack.call)": corral.p50_s * 1e3,
                                "coda isolated-vm": ivm.p50_s * 1e3,
                                "coda thunk": thunk.p50_s * 1e3,
                                "corral load": load.p50_s * 1e3}}
    result.targets += [
        Target("js_call_p50", "JS pack call, fresh instance, p50", corral.p50_s * 1e3, "<=",
               CALL_LIMIT_MS, "ms"),
        Target("js_vs_ivm", "faster than Coda's isolated-vm runner", vs_ivm, ">=",
               IVM_LIMIT_X, "x"),
        Target("js_vs_thunk", "within 5x of Coda's unsandboxed thunk", vs_thunk, "<=",
               THUNK_LIMIT_X, "x"),
        Target("js_load", "load a precompiled JS pack, p50", load.p50_s * 1e3, "<=",
               LOAD_LIMIT_MS, "ms"),
    ]
    result.metrics.update({"hello_fuel": fuel["hello"], "no_op_fuel": fuel["no_op"]})
    result.notes.append(f"pack: {len(wasm) / 1e6:.1f} MB of wasm (engine + snapshot heap); "
                        f"{rss_kib:.0f} KiB resident per in-flight JS call")
    result.notes.append(f"guest work: {fuel['hello']:,} fuel per Hello call, "
                        f"{fuel['no_op']:,} for a request no op answers (the runtime's fixed "
                        "per-call work: decoding the request, settling, encoding the reply)")
    return result


def _fuel(call: Callable[[CallStats], Any]) -> int:
    stats = CallStats()
    try:
        call(stats)
    except CorralError:  # the no-op request is answered with not_found
        pass
    return stats.fuel_used


def _row(name: str, latency: Latency, target: str = "") -> dict[str, Any]:
    return {"measure": name, "value": latency.p50_s * 1e3, "unit": "ms p50",
            "target": target, "p99_ms": latency.p99_s * 1e3, "samples": latency.count}


def plot(ax: Any, result: BenchResult) -> None:
    """The panel in the suite's plot: p50 of each runner and of the load, log scale."""
    from ._plot import _bars

    p50 = result.series["p50_ms"]
    _bars(ax, list(p50), list(p50.values()), "p50 ms (log)", log=True, limit=CALL_LIMIT_MS)
