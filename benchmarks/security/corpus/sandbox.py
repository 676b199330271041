"""Attacks on the sandbox limits: CPU, memory, stack, and oversized input and output."""

from __future__ import annotations

from ..harness import Attack, Bench, Observation, Verify


def _at_most_bytes(cap: int) -> Verify:
    def verify(bench: Bench, seen: Observation) -> str | None:
        if not isinstance(seen.value, int) or seen.value > cap:
            return f"the allocation reported {seen.value!r} bytes, over the cap of {cap}"
        return None
    return verify


def _log_lines_capped(attempts: int) -> Verify:
    """64 KiB of log per call, 5 bytes a line: at most 13,107 lines per attempt (the
    scheduler retries a timed-out call up to twice)."""
    def verify(bench: Bench, seen: Observation) -> str | None:
        storm = [line for line in seen.new_logs if line.endswith(": storm")]
        cap = attempts * (65536 // 5)
        return None if len(storm) <= cap else f"{len(storm)} log lines passed the byte cap"
    return verify


def _log_flood_capped(bench: Bench, seen: Observation) -> str | None:
    logged = sum(len(line) for line in seen.new_logs if line.startswith("corral.pack."))
    return None if logged <= 65536 + 64 * 100 else f"{logged} bytes of pack log passed the cap"


def attacks() -> list[Attack]:
    return [
        # -- cpu ----------------------------------------------------------------------------
        Attack("infinite loop (Zig), fuel-bound", "cpu", "fuel_exhausted",
               lambda b: b.call("zhostile", "Spin"), quick=True, language="zig"),
        Attack("infinite loop (Zig), deadline-bound", "cpu", "timeout",
               lambda b: b.call("zdeadline", "Spin"), language="zig"),
        Attack("infinite loop (C), fuel-bound", "cpu", "fuel_exhausted",
               lambda b: b.call("chostile", "Spin"), quick=True, language="c"),
        Attack("fuel-heavy work past the budget", "cpu", "fuel_exhausted",
               lambda b: b.call("zhostile", "Burn", 2_000_000_000), language="zig"),
        # Bound by count, not by time: 100M calls need far more than the 5M fuel of zfuel,
        # whose wall clock (120 s) no machine reaches first, so the verdict is the same on
        # a fast machine and a slow one.
        Attack("100M corral.log calls, cut by fuel (Zig)", "cpu", "fuel_exhausted",
               lambda b: b.call("zfuel", "LogStorm", 100_000_000),
               verify=_log_lines_capped(attempts=1), quick=True, language="zig"),
        Attack("20k corral.log calls, log bytes capped (C)", "cpu", "ok",
               lambda b: b.call("chostile", "LogStorm", 20_000),
               verify=_log_lines_capped(attempts=1), language="c"),
        Attack("log flood: 1000 lines of 60 KiB", "cpu", "ok",
               lambda b: b.call("zhostile", "LogFlood", 60_000, 1000),
               verify=_log_flood_capped, language="zig"),
        # -- memory -------------------------------------------------------------------------
        Attack("memory.grow bomb (Zig)", "memory", "memory_limit",
               lambda b: b.call("zhostile", "GrowBomb"), quick=True, language="zig"),
        Attack("1 GiB allocation (Zig)", "memory", "memory_limit",
               lambda b: b.call("zhostile", "AllocHuge"), language="zig"),
        Attack("malloc bomb, 64 KiB blocks (C)", "memory", "memory_limit",
               lambda b: b.call("chostile", "MallocBomb", 65536), quick=True, language="c"),
        Attack("malloc bomb, 1 MiB blocks (C)", "memory", "memory_limit",
               lambda b: b.call("chostile", "MallocBomb", 1 << 20), language="c"),
        Attack("output buffer grown until realloc fails (C)", "memory", "memory_limit",
               lambda b: b.call("chostile", "OutputBomb"), language="c"),
        Attack("12 MiB allocation inside the 32 MiB cap", "memory", "ok",
               lambda b: b.call("zhostile", "AllocInCap", 12),
               verify=_at_most_bytes(32 << 20), language="zig"),
        # -- stack --------------------------------------------------------------------------
        Attack("unbounded recursion (Zig)", "stack", "stack_overflow",
               lambda b: b.call("zhostile", "Recurse", 5_000_000), quick=True, language="zig"),
        Attack("unbounded recursion (C)", "stack", "stack_overflow",
               lambda b: b.call("chostile", "Recurse", 5_000_000), language="c"),
        # -- oversized input and output -----------------------------------------------------
        Attack("2 MiB argument (input cap 1 MiB)", "io", "input_too_large",
               lambda b: b.call("zhostile", "InputSize", "x" * (2 << 20)), quick=True,
               language="zig"),
        Attack("200 KB response (output cap 64 KiB, Zig)", "io", "output_too_large",
               lambda b: b.call("zhostile", "BigOutput", 200_000), quick=True, language="zig"),
        Attack("200 KB response (output cap 64 KiB, C)", "io", "output_too_large",
               lambda b: b.call("chostile", "BigOutput", 200_000), language="c"),
        Attack("argument of the wrong type", "io", "bad_args",
               lambda b: b.call("zhostile", "Recurse", {"levels": [1, 2]}), language="host"),
        Attack("call to a formula the pack does not declare", "io", "not_found",
               lambda b: b.call("zhostile", "../../etc/passwd"), language="host"),
    ]
