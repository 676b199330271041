"""Noisy neighbours: one caller saturates hostile packs while another caller's calls
keep completing correctly on the same Host."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from corral import CorralError

from ..harness import Attack, Bench, Observation


def _victim_completes(flood: Callable[[Bench, int], Any], flooders: int,
                      victim_calls: int = 20) -> Callable[[Bench], Any]:
    """Run ``flooders`` distinct hostile calls in parallel (distinct, so the scheduler
    cannot fold them into one); the victim calls hello until the flood is over (at least
    ``victim_calls`` times). Returns the victim's results and its slowest call."""
    def run(bench: Bench) -> Any:
        ready = threading.Barrier(flooders + 1)
        with ThreadPoolExecutor(max_workers=flooders) as pool:
            hostile = [pool.submit(_quietly, flood, bench, i, ready) for i in range(flooders)]
            ready.wait(10)
            time.sleep(0.05)  # let every hostile call reach the scheduler first
            results: list[tuple[str, Any]] = []
            slowest = 0.0
            while len(results) < victim_calls or not all(f.done() for f in hostile):
                name = f"victim{bench.unique_name('n')}"
                begun = time.perf_counter()
                try:
                    results.append((name, bench.call("hello", "Greet", name, principal="bob")))
                except CorralError as exc:
                    results.append((name, exc))
                slowest = max(slowest, time.perf_counter() - begun)
            for future in hostile:
                future.result()
        return {"results": results, "slowest_s": slowest}
    return run


def _quietly(flood: Callable[[Bench, int], Any], bench: Bench, index: int,
             ready: threading.Barrier) -> None:
    ready.wait(10)
    try:
        flood(bench, index)
    except CorralError:
        pass  # each hostile call is expected to fail with its own limit


def _all_victim_calls_correct(bench: Bench, seen: Observation) -> str | None:
    results = seen.value["results"]
    wrong = [(name, got) for name, got in results if got != f"Hello, {name}!"]
    if wrong:
        return f"{len(wrong)} of {len(results)} victim calls failed, e.g. {wrong[0][1]!r}"
    return None


def attacks() -> list[Attack]:
    return [
        Attack("16 parallel endless loops while another caller calls hello", "neighbours",
               "ok", _victim_completes(lambda b, i: b.call("zdeadline", "Burn", 10**12 + i,
                                                        principal="eve"), flooders=16),
               verify=_all_victim_calls_correct, quick=True, language="zig"),
        Attack("16 parallel memory bombs while another caller calls hello", "neighbours",
               "ok", _victim_completes(lambda b, i: b.call("chostile", "MallocBomb", 65536 + 16 * i,
                                                        principal="eve"), flooders=16),
               verify=_all_victim_calls_correct, language="c"),
        Attack("16 parallel slow-drip fetches while another caller calls hello",
               "neighbours", "ok",
               _victim_completes(lambda b, i: b.call("zdeadline", "Fetch", b.url(f"/slow?n={i}"),
                                                  principal="eve"), flooders=16),
               verify=_all_victim_calls_correct, language="zig"),
    ]
