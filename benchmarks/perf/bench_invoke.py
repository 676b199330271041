"""1. In-process invoke of a trivial formula, beside Extism, raw wasmtime-py and Python.

Corral runs every call in a fresh Store and Instance with a full MessagePack round trip
(``Pack.call``: coerce, encode, instantiate, call, decode, check the result schema).
Beside it, in the same run:

* extism-python calling an equivalent plugin (``benchmarks/perf/extism``, built with
  @extism/as-pdk) on an instance it keeps alive; its input is two packed f64, the
  cheapest marshalling there is;
* raw wasmtime-py calling the pack's ``perf_add`` export (the same addition, no ABI) on a
  kept instance, and on a fresh Store and Instance per call (the floor of Corral's design);
* a plain Python function, the floor of any call from Python.

It also splits one Corral call into its steps, timed with wasmtime-py's public API, so the
cost of each is visible.
"""

from __future__ import annotations

import struct
import time
from typing import Any, Callable

import wasmtime

from corral._pack import abi as _abi
from corral import Pack, Sandbox, SandboxConfig, pack_from_bytes

from ._artifacts import extism_plugin_wasm, perfbench_wasm
from ._context import Context
from ._measure import Latency, percentile, sample_calls
from ._results import BenchResult, Target

P50_LIMIT_US = 60.0
EXTISM_RATIO_LIMIT = 1.5
NO_DEADLINE_TICKS = 1 << 40


def run(ctx: Context) -> BenchResult:
    result = BenchResult("invoke", "1. In-process invoke of a trivial formula")
    count = ctx.size(2000, 20000)
    sandbox = Sandbox(SandboxConfig(cache_dir=ctx.fresh_dir("invoke-modules")))
    try:
        pack = pack_from_bytes(perfbench_wasm(), sandbox=sandbox)
        _check_answers(pack)
        latencies = {
            "corral Pack.call, fresh instance": Latency.of(
                sample_calls(lambda: pack.call("Add", 1.5, 2.25), count)),
            "corral Host.call via scheduler, uncached": _host_call_latency(ctx, count // 4),
            "extism-python, kept instance": Latency.of(sample_calls(_extism_add(), count)),
            "raw wasmtime-py, fresh instance": Latency.of(
                sample_calls(_raw_fresh_add(pack), count)),
            "raw wasmtime-py, kept instance": Latency.of(sample_calls(_raw_kept_add(pack), count)),
            "plain Python function": Latency.of(sample_calls(lambda: _python_add(1.5, 2.25),
                                                             count)),
        }
        breakdown = _breakdown(pack, ctx.size(1000, 5000))
    finally:
        sandbox.close()
    _report(result, latencies, breakdown)
    return result


def _report(result: BenchResult, latencies: dict[str, Latency],
            breakdown: dict[str, float]) -> None:
    corral = latencies["corral Pack.call, fresh instance"]
    for name, latency in latencies.items():
        result.rows.append(latency.row(name, vs_corral=corral.p50_s / latency.p50_s))
    keys = {"corral Pack.call, fresh instance": "corral", "extism-python, kept instance": "extism",
            "raw wasmtime-py, fresh instance": "raw_fresh",
            "raw wasmtime-py, kept instance": "raw_kept", "plain Python function": "python",
            "corral Host.call via scheduler, uncached": "corral_host_call"}
    for name, key in keys.items():
        result.metrics[f"{key}_p50_us"] = latencies[name].p50_s * 1e6
        result.metrics[f"{key}_p99_us"] = latencies[name].p99_s * 1e6
        result.metrics[f"{key}_calls_per_s"] = latencies[name].per_s
    for key in ("extism", "raw_fresh", "raw_kept", "python"):
        result.metrics[f"ratio_corral_to_{key}"] = (
            result.metrics["corral_p50_us"] / result.metrics[f"{key}_p50_us"])
    for step, seconds in breakdown.items():
        result.metrics[f"step_{step}_p50_us"] = seconds * 1e6
    result.series["breakdown_p50_us"] = {k: v * 1e6 for k, v in breakdown.items()}
    result.series["p50_us"] = {k: v.p50_s * 1e6 for k, v in latencies.items()}
    result.targets += [
        Target("invoke_p50", "in-process invoke, fresh instance, p50",
               result.metrics["corral_p50_us"], "<=", P50_LIMIT_US, "us"),
        Target("invoke_vs_extism", "in-process invoke p50 / extism-python kept-instance p50",
               result.metrics["ratio_corral_to_extism"], "<=", EXTISM_RATIO_LIMIT, "x"),
    ]
    steps = ", ".join(f"{k} {v * 1e6:.1f}" for k, v in breakdown.items())
    result.notes.append(f"one Corral call, step by step (p50 us, public wasmtime-py API): {steps}")
    result.notes.append("vs_corral = how many times slower Corral's p50 is than the row's p50")


def _check_answers(pack: Pack) -> None:
    """Every contender must compute the same sum before any of them is timed."""
    answers = {"corral": pack.call("Add", 1.5, 2.25), "extism": _extism_add()(),
               "raw fresh": _raw_fresh_add(pack)(), "raw kept": _raw_kept_add(pack)(),
               "python": _python_add(1.5, 2.25)}
    wrong = {name: value for name, value in answers.items() if value != 3.75}
    if wrong:
        raise AssertionError(f"contenders disagree on 1.5 + 2.25: {wrong}")


def _host_call_latency(ctx: Context, count: int) -> Latency:
    host = ctx.host("invoke-host")
    try:
        host.register_bytes(perfbench_wasm(), source="perfbench")
        return Latency.of(sample_calls(lambda: host.call("perfbench", "Add", 1.5, 2.25), count))
    finally:
        host.close()


def _python_add(a: float, b: float) -> float:
    return a + b


def _extism_add() -> Callable[[], float]:
    import extism

    plugin = extism.Plugin(extism_plugin_wasm(), wasi=False)
    pack_args = struct.Struct("<dd").pack
    unpack_sum = struct.Struct("<d").unpack

    def call() -> float:
        value: float = unpack_sum(plugin.call("add", pack_args(1.5, 2.25)))[0]
        return value

    return call


def _fresh_store(pack: Pack) -> wasmtime.Store:
    store = wasmtime.Store(pack.sandbox.engine)
    store.set_fuel(pack.manifest.limits.fuel)
    store.set_epoch_deadline(NO_DEADLINE_TICKS)
    return store


def _raw_fresh_add(pack: Pack) -> Callable[[], Any]:
    instance_pre = pack.compiled.instance_pre

    def call() -> Any:
        store = _fresh_store(pack)
        add = instance_pre.instantiate(store).exports(store)["perf_add"]
        assert isinstance(add, wasmtime.Func)
        return add(store, 1.5, 2.25)

    return call


def _raw_kept_add(pack: Pack) -> Callable[[], Any]:
    store = _fresh_store(pack)
    store.set_fuel(1 << 60)
    add = pack.compiled.instance_pre.instantiate(store).exports(store)["perf_add"]
    assert isinstance(add, wasmtime.Func)
    return lambda: add(store, 1.5, 2.25)


def _breakdown(pack: Pack, count: int) -> dict[str, float]:
    """The p50 of each step of one ABI call, as Sandbox.run does it with the public API."""
    steps: dict[str, list[float]] = {}
    clock = time.perf_counter_ns
    limits = pack.manifest.limits
    for _ in range(count):
        marks = [clock()]
        request = _abi.build_request("formula", "Add", [1.5, 2.25], {"pack": pack.name})
        marks.append(clock())
        store = wasmtime.Store(pack.sandbox.engine)
        marks.append(clock())
        store.set_fuel(limits.fuel)
        store.set_epoch_deadline(NO_DEADLINE_TICKS)
        store.set_limits(memory_size=limits.memory_bytes, table_elements=100_000, instances=1,
                         tables=4, memories=1)
        marks.append(clock())
        instance = pack.compiled.instance_pre.instantiate(store)
        marks.append(clock())
        exports = instance.exports(store)
        memory, alloc, call = (exports["memory"], exports["corral_alloc"],
                               exports["corral_call"])
        assert isinstance(memory, wasmtime.Memory)
        assert isinstance(alloc, wasmtime.Func) and isinstance(call, wasmtime.Func)
        marks.append(clock())
        ptr = alloc(store, len(request))
        marks.append(clock())
        memory.write(store, request, ptr)
        marks.append(clock())
        packed = call(store, ptr, len(request))
        marks.append(clock())
        bits = packed & 0xFFFF_FFFF_FFFF_FFFF
        out_ptr, out_len = bits >> 32, bits & 0xFFFF_FFFF
        raw = bytes(memory.read(store, out_ptr, out_ptr + out_len))
        marks.append(clock())
        reply = _abi.parse_reply(raw, pack=pack.name, formula="Add")
        marks.append(clock())
        assert reply.ok and reply.value == 3.75
        names = ("encode_request", "new_store", "set_fuel_epoch_limits", "instantiate",
                 "export_lookup", "call_alloc", "write_request", "call_corral_call",
                 "read_response", "decode_reply")
        for name, start, end in zip(names, marks, marks[1:]):
            steps.setdefault(name, []).append((end - start) / 1e9)
    return {name: percentile(samples, 0.5) for name, samples in steps.items()}
