"""Noisy neighbours: one caller saturates hostile packs while another caller's calls
keep completing correctly on the same Host."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from corral._errors import CorralError

from ..harness import Attack, Bench, Observation


def _victim_completes(flood: Callable[[Bench], Any], flooders: int,
                      victim_calls: int = 20) -> Callable[[Bench], Any]:
    """Run ``flooders`` hostile calls in parallel with the victim's sequential calls.

    Returns the victim's results and the slowest victim call, for ``verify``."""
    def run(bench: Bench) -> Any:
        started = threading.Event()
        with ThreadPoolExecutor(max_workers=flooders) as pool:
            hostile = [pool.submit(_quietly, flood, bench, started) for _ in range(flooders)]
            started.wait(5)
            results: list[tuple[str, Any]] = []
            slowest = 0.0
            for i in range(victim_calls):
                name = f"victim{bench.unique_name('n')}-{i}"
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


def _quietly(flood: Callable[[Bench], Any], bench: Bench, started: threading.Event) -> None:
    started.set()
    try:
        flood(bench)
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
        Attack("24 parallel infinite loops while another caller calls hello", "neighbours",
               "ok", _victim_completes(lambda b: b.call("zdeadline", "Spin", principal="eve"),
                                       flooders=24),
               verify=_all_victim_calls_correct, quick=True, language="zig"),
        Attack("16 parallel memory bombs while another caller calls hello", "neighbours",
               "ok", _victim_completes(lambda b: b.call("chostile", "MallocBomb", 65536,
                                                        principal="eve"), flooders=16),
               verify=_all_victim_calls_correct, language="c"),
        Attack("16 parallel slow-drip fetches while another caller calls hello",
               "neighbours", "ok",
               _victim_completes(lambda b: b.call("zdeadline", "Fetch", b.url("/slow"),
                                                  principal="eve"), flooders=16),
               verify=_all_victim_calls_correct, language="zig"),
    ]
