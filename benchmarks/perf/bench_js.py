"""9. JavaScript packs beside Coda's own runner, on the same pack in the same run.

The Coda sample ``hello_world`` (``Hello("World")``) built with ``corral build``: a fresh
instance of the QuickJS-NG snapshot per call through ``Pack.call``, and loading the
precompiled pack. Beside it, Coda's runner on the same source (``guest-sdk/js/coda-bench.mjs``):
a fresh isolated-vm isolate per call, as ``coda execute --vm`` runs every call, and the
packs-sdk thunk in-process with no sandbox at all.
"""

from __future__ import annotations

import json
import shutil
import subprocess

from corral import Sandbox, SandboxConfig, pack_from_bytes
from corral._toolchain.build import build_pack
from corral._toolchain.js_bundle import js_sdk_dir, node

from ._context import Context
from ._measure import Latency, sample_calls, timed
from ._results import BenchResult, Target

TITLE = "9. JavaScript packs: Corral's engine vs Coda's runner (hello_world Hello)"
SAMPLE = (js_sdk_dir() / "node_modules" / "@codahq" / "packs-sdk" / "documentation" / "samples"
          / "packs" / "hello_world" / "hello_world.ts")


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


def run(ctx: Context) -> BenchResult:
    result = BenchResult("js", TITLE)
    wasm = _built(ctx)
    count = ctx.size(200, 2000)
    sandbox = Sandbox(SandboxConfig(cache_dir=ctx.fresh_dir("js-cache")))
    try:
        pack_from_bytes(wasm, sandbox=sandbox)  # fills the precompiled cache
        loads = [timed(lambda: pack_from_bytes(wasm, sandbox=sandbox))[0]
                 for _ in range(ctx.size(5, 20))]
        pack = pack_from_bytes(wasm, sandbox=sandbox)
        assert pack.call("Hello", "World") == "Hello World!"
        corral = Latency.of(sample_calls(lambda: pack.call("Hello", "World"), count))
    finally:
        sandbox.close()
    thunk, ivm = _coda(ctx.size(20, 100))
    load = Latency.of(loads)
    for name, latency in (("corral JS pack, fresh snapshot instance (Pack.call)", corral),
                          ("coda isolated-vm, fresh isolate per call", ivm),
                          ("coda thunk in-process, no sandbox", thunk)):
        result.rows.append(latency.row(name))
    result.metrics.update({"corral_p50_ms": corral.p50_s * 1e3, "ivm_p50_ms": ivm.p50_s * 1e3,
                           "thunk_p50_ms": thunk.p50_s * 1e3, "load_p50_ms": load.p50_s * 1e3,
                           "speedup_vs_ivm": ivm.p50_s / corral.p50_s,
                           "ratio_vs_thunk": corral.p50_s / thunk.p50_s})
    result.targets += [
        Target("js_call_p50", "JS pack call, fresh instance, p50", corral.p50_s * 1e3, "<=",
               1.0, "ms"),
        Target("js_vs_ivm", "faster than Coda's isolated-vm runner", ivm.p50_s / corral.p50_s,
               ">=", 30.0, "x"),
        Target("js_vs_thunk", "within 5x of Coda's unsandboxed thunk",
               corral.p50_s / thunk.p50_s, "<=", 5.0, "x"),
        Target("js_load", "load a precompiled JS pack, p50", load.p50_s * 1e3, "<=", 20.0, "ms"),
    ]
    result.notes.append(f"pack: {len(wasm) / 1e6:.1f} MB of wasm (engine + snapshot heap)")
    return result
