"""2. Cold start: compiling a pack against loading it from the precompiled cache.

Each sample makes a new Sandbox (a new wasmtime Engine, as a restarted host has) and
times ``pack_from_bytes``: read the manifest, get the module, check its imports and
exports, link it. "compile" starts from an empty module cache (and writes the
precompiled artifact, as a first start does); "load" finds the artifact on disk and
deserializes it. The artifact file is in the OS page cache, as on a warm restart.
Creating the Sandbox itself is timed apart (``engine_start``).
"""

from __future__ import annotations

from pathlib import Path

from corral import Sandbox, SandboxConfig, pack_from_bytes

from ._artifacts import bigpack_wasm, example_packs, perfbench_wasm
from ._context import Context
from ._measure import Latency, timed
from ._results import BenchResult, Target

TITLE = "2. Cold start: compile vs load from the precompiled cache"
LOAD_LIMIT_MS = 5.0


def run(ctx: Context) -> BenchResult:
    result = BenchResult("cold_start", TITLE)
    examples = example_packs()
    packs = {**examples, "perfbench": perfbench_wasm(), "bigpack (large)": bigpack_wasm()}
    engine_samples: list[float] = []
    for name, wasm in packs.items():
        large = name.startswith("bigpack")
        compile_count = ctx.size(2, 3) if large else ctx.size(3, 10)
        cache_dir = ctx.fresh_dir("cold-start")
        compiled = Latency.of([_start(wasm, cache_dir=ctx.fresh_dir("cold-start-empty"),
                                      engine_samples=engine_samples)
                               for _ in range(compile_count)])
        _start(wasm, cache_dir=cache_dir, engine_samples=engine_samples)  # fills the cache
        loaded = Latency.of([_start(wasm, cache_dir=cache_dir, engine_samples=engine_samples,
                                    expect_cached=True)
                             for _ in range(ctx.size(10, 40))])
        key = name.split(" ")[0]
        result.rows.append({"pack": name, "wasm_kb": len(wasm) / 1024,
                            "compile_p50_ms": compiled.p50_s * 1e3,
                            "load_p50_ms": loaded.p50_s * 1e3, "load_p99_ms": loaded.p99_s * 1e3,
                            "speedup": compiled.p50_s / loaded.p50_s})
        result.metrics[f"{key}_compile_p50_ms"] = compiled.p50_s * 1e3
        result.metrics[f"{key}_load_p50_ms"] = loaded.p50_s * 1e3
        result.metrics[f"{key}_load_p99_ms"] = loaded.p99_s * 1e3
        result.series[key] = {"compile_ms": compiled.p50_s * 1e3, "load_ms": loaded.p50_s * 1e3}
        if name in examples:
            result.targets.append(Target(f"load_precompiled_{key}",
                                         f"load precompiled example pack {key}, p50",
                                         loaded.p50_s * 1e3, "<=", LOAD_LIMIT_MS, "ms"))
    engine = Latency.of(engine_samples)
    result.metrics["engine_start_p50_ms"] = engine.p50_s * 1e3
    result.notes.append(f"a new Sandbox (Engine + linker + epoch thread) takes "
                        f"{engine.p50_s * 1e3:.2f} ms p50, once per process; not in the rows")
    result.notes.append(f"small pack: hello; large pack: bigpack "
                        f"({len(packs['bigpack (large)']) / 1e6:.1f} MB of wasm)")
    return result


def _start(wasm: bytes, *, cache_dir: Path, engine_samples: list[float],
           expect_cached: bool = False) -> float:
    engine_seconds, sandbox = timed(lambda: Sandbox(SandboxConfig(cache_dir=cache_dir)))
    engine_samples.append(engine_seconds)
    try:
        seconds, pack = timed(lambda: pack_from_bytes(wasm, sandbox=sandbox))
    finally:
        sandbox.close()
    if pack.compiled.from_cache != expect_cached:
        raise AssertionError(f"pack {pack.name}: expected from_cache={expect_cached}, got "
                             f"{pack.compiled.from_cache}")
    return seconds
