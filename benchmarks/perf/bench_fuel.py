"""6. Fuel cost: a compute-heavy formula with fuel metering on, and off (epoch only).

Two wasmtime Engines built here differ only in ``consume_fuel``; both keep epoch
interruption and Corral's other engine settings. Each compiles the perfbench pack and
runs ``Work(rounds)`` (sieving the primes below 100,000, ``rounds`` times) in a fresh
Store per call through the ABI, alternating between the engines. Corral's own
``Pack.call`` of the same formula is shown beside, with the fuel it used.
"""

from __future__ import annotations

from typing import Any

import wasmtime

from corral._pack import abi as _abi
from corral import CallStats, Sandbox, SandboxConfig, pack_from_bytes
from corral._sandbox.engine import set_wasm_stack
from corral._sandbox.sandbox import unpack_slice

from ._artifacts import perfbench_wasm
from ._context import Context
from ._measure import Latency, timed
from ._results import BenchResult

TITLE = "6. Fuel cost: compute-heavy formula, fuel on vs off (epoch only)"
NO_DEADLINE_TICKS = 1 << 40
FUEL = 1 << 40


class _Runner:
    """One engine and the perfbench module compiled for it; runs Work(n) in fresh Stores."""

    def __init__(self, wasm: bytes, *, fuel: bool) -> None:
        defaults = SandboxConfig()
        config = wasmtime.Config()
        config.consume_fuel = fuel
        config.epoch_interruption = True
        set_wasm_stack(config, defaults.max_wasm_stack)
        config.cranelift_opt_level = defaults.opt_level
        config.wasm_threads = False
        self.fuel = fuel
        self.engine = wasmtime.Engine(config)
        linker = wasmtime.Linker(self.engine)
        i32, i64 = wasmtime.ValType.i32(), wasmtime.ValType.i64()
        linker.define_func("corral", "fetch", wasmtime.FuncType([i32, i32], [i64]), _no_import)
        linker.define_func("corral", "log", wasmtime.FuncType([i32, i32, i32], []), _no_import)
        self.instance_pre = linker.instantiate_pre(wasmtime.Module(self.engine, wasm))

    def work(self, n: int) -> Any:
        store = wasmtime.Store(self.engine)
        if self.fuel:
            store.set_fuel(FUEL)
        store.set_epoch_deadline(NO_DEADLINE_TICKS)
        exports = self.instance_pre.instantiate(store).exports(store)
        memory, alloc, call = exports["memory"], exports["corral_alloc"], exports["corral_call"]
        assert isinstance(memory, wasmtime.Memory)
        assert isinstance(alloc, wasmtime.Func) and isinstance(call, wasmtime.Func)
        request = _abi.build_request("formula", "Work", [n], {})
        ptr = alloc(store, len(request))
        memory.write(store, request, ptr)
        out_ptr, out_len = unpack_slice(call(store, ptr, len(request)))
        reply = _abi.parse_reply(bytes(memory.read(store, out_ptr, out_ptr + out_len)),
                                 pack="perfbench", formula="Work")
        if not reply.ok:
            raise AssertionError(f"Work({n}) failed: {reply.error_kind}: {reply.message}")
        return reply.value


def _no_import(*args: Any) -> Any:
    raise RuntimeError("Work must not call a host import")


def run(ctx: Context) -> BenchResult:
    result = BenchResult("fuel", TITLE)
    n = ctx.size(40, 100)  # rounds of a sieve below 100,000
    samples = ctx.size(9, 21)
    wasm = perfbench_wasm()
    fueled, unfueled = _Runner(wasm, fuel=True), _Runner(wasm, fuel=False)
    expected = fueled.work(n)
    if unfueled.work(n) != expected:
        raise AssertionError("Work gave different answers with and without fuel")
    on: list[float] = []
    off: list[float] = []
    for _ in range(samples):
        on.append(timed(lambda: fueled.work(n))[0])
        off.append(timed(lambda: unfueled.work(n))[0])
    fuel_on, fuel_off = Latency.of(on), Latency.of(off)
    corral, fuel_used = _corral_work(ctx, n, samples)
    # The work is deterministic, so the fastest sample is the one least disturbed by the
    # rest of the machine: the overhead is computed from the minima.
    overhead = (min(on) / min(off) - 1) * 100
    result.rows += [
        {"name": "fuel on + epoch (Corral's engine settings)", "min_ms": min(on) * 1e3,
         "p50_ms": fuel_on.p50_s * 1e3, "p99_ms": fuel_on.p99_s * 1e3},
        {"name": "fuel off, epoch only", "min_ms": min(off) * 1e3,
         "p50_ms": fuel_off.p50_s * 1e3, "p99_ms": fuel_off.p99_s * 1e3},
        {"name": "corral Pack.call (fuel on)", "p50_ms": corral.p50_s * 1e3,
         "p99_ms": corral.p99_s * 1e3},
    ]
    result.metrics.update({"fuel_on_min_ms": min(on) * 1e3, "fuel_off_min_ms": min(off) * 1e3,
                           "fuel_on_p50_ms": fuel_on.p50_s * 1e3,
                           "fuel_off_p50_ms": fuel_off.p50_s * 1e3,
                           "fuel_overhead_percent": overhead,
                           "corral_work_p50_ms": corral.p50_s * 1e3,
                           "fuel_units_per_call": float(fuel_used),
                           "fuel_units_per_ms": fuel_used / (corral.p50_s * 1e3)})
    result.settings = {"formula": f"Work({n})", "samples": samples}
    result.series = {"fuel_on_ms": min(on) * 1e3, "fuel_off_ms": min(off) * 1e3}
    result.notes.append(f"fuel metering costs {overhead:+.1f}% on Work({n}) (fastest of each); "
                        f"one call uses {fuel_used:,} fuel units (no target: informational)")
    return result


def _corral_work(ctx: Context, n: int, samples: int) -> tuple[Latency, int]:
    sandbox = Sandbox(SandboxConfig(cache_dir=ctx.fresh_dir("fuel-modules")))
    try:
        pack = pack_from_bytes(perfbench_wasm(), sandbox=sandbox)
        stats = CallStats()
        pack.call("Work", n, stats=stats)
        return Latency.of([timed(lambda: pack.call("Work", n))[0] for _ in range(samples)]), \
            stats.fuel_used
    finally:
        sandbox.close()
