"""Timing primitives: per-call samples, percentiles and rates.

Every latency here is a list of per-call durations in seconds taken with
``time.perf_counter_ns`` around one call; percentiles use the nearest-rank method so a
p99 is always a duration that was actually observed.
"""

from __future__ import annotations

import gc
import math
import time
from dataclasses import dataclass
from typing import Any, Callable


def percentile(samples: list[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` in [0, 1]) of a non-empty sample."""
    if not samples:
        raise ValueError("percentile of an empty sample")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"percentile fraction must be in [0, 1], got {fraction}")
    ordered = sorted(samples)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def median(samples: list[float]) -> float:
    return percentile(samples, 0.5)


@dataclass(frozen=True)
class Latency:
    """What one sampled operation measured."""

    count: int
    p50_s: float
    p99_s: float
    mean_s: float
    per_s: float

    @classmethod
    def of(cls, samples: list[float]) -> Latency:
        total = sum(samples)
        return cls(count=len(samples), p50_s=percentile(samples, 0.5),
                   p99_s=percentile(samples, 0.99), mean_s=total / len(samples),
                   per_s=len(samples) / total if total > 0 else math.inf)

    def row(self, name: str, **extra: Any) -> dict[str, Any]:
        """A table row in microseconds (the unit every in-process latency is shown in)."""
        return {"name": name, "p50_us": self.p50_s * 1e6, "p99_us": self.p99_s * 1e6,
                "calls_per_s": self.per_s, "samples": self.count, **extra}


def sample_calls(call: Callable[[], Any], count: int, *, warmup: int = 50) -> list[float]:
    """Run ``call`` ``warmup`` times, then ``count`` times, timing each call on its own."""
    for _ in range(warmup):
        call()
    gc.collect()
    clock = time.perf_counter_ns
    samples = [0.0] * count
    for index in range(count):
        started = clock()
        call()
        samples[index] = (clock() - started) / 1e9
    return samples


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    """Wall time in seconds of one call, and what it returned."""
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def rate(call: Callable[[], Any], count: int) -> float:
    """Calls per second over ``count`` back-to-back calls (no per-call timer in the loop)."""
    call()
    started = time.perf_counter()
    for _ in range(count):
        call()
    elapsed = time.perf_counter() - started
    return count / elapsed if elapsed > 0 else math.inf
