"""Prometheus metrics, kept in-process and rendered in the text exposition format."""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections import defaultdict
from itertools import accumulate

from ._errors import FetchDenied

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            10.0, 30.0)

Labels = tuple[tuple[str, str], ...]


class _Histogram:
    def __init__(self) -> None:
        #: Per bucket, not cumulative (one increment per observation); over the last
        #: bound, nothing: ``count`` holds every observation.
        self.counts = [0] * len(_BUCKETS)
        self.total = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.count += 1
        self.total += value
        index = bisect_left(_BUCKETS, value)
        if index < len(_BUCKETS):
            self.counts[index] += 1

    def cumulative(self) -> list[int]:
        return list(accumulate(self.counts))


class Metrics:
    """Counters and histograms by label set; thread-safe; cheap on the hot path."""

    _HELP = {
        "corral_calls_total": ("counter", "Pack calls by pack, formula and outcome."),
        "corral_call_duration_seconds": ("histogram", "Pack call duration."),
        "corral_fuel_used_total": ("counter", "Fuel consumed by pack calls."),
        "corral_cache_total": ("counter", "Result cache lookups by result (hit or miss)."),
        "corral_fetches_total": ("counter", "Host-mediated fetches by pack and outcome."),
        "corral_fetch_denials_total": ("counter", "Fetches refused by the policy, by rule."),
        "corral_fetch_duration_seconds": ("histogram", "Fetch duration."),
        "corral_http_requests_total": ("counter", "HTTP requests by route and status."),
        "corral_rejected_total": ("counter", "Requests refused for capacity or rate limits."),
        "corral_sync_rows_total": ("counter", "Rows produced by sync tables."),
        "corral_call_path": ("gauge", "The path pack calls take: 1 for the active one."),
    }

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, dict[Labels, float]] = defaultdict(lambda: defaultdict(float))
        self._histograms: dict[str, dict[Labels, _Histogram]] = defaultdict(dict)
        self._gauges: dict[str, dict[Labels, float]] = defaultdict(dict)

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            self._counters[name][key] += amount

    def inc_sorted(self, name: str, labels: Labels, amount: float = 1.0) -> None:
        """``inc`` for a hot path whose label pairs are already sorted by name."""
        with self._lock:
            self._counters[name][labels] += amount

    def observe(self, name: str, value: float, **labels: str) -> None:
        with self._lock:
            self._observe_locked(name, tuple(sorted(labels.items())), value)

    def _observe_locked(self, name: str, labels: Labels, value: float) -> None:
        hist = self._histograms[name].get(labels)
        if hist is None:
            hist = self._histograms[name][labels] = _Histogram()
        hist.observe(value)

    def set_gauge(self, name: str, value: float, **labels: str) -> None:
        with self._lock:
            self._gauges[name][tuple(sorted(labels.items()))] = value

    def value(self, name: str, **labels: str) -> float:
        key = tuple(sorted(labels.items()))
        with self._lock:
            if key in self._gauges.get(name, {}):
                return self._gauges[name][key]
            return self._counters.get(name, {}).get(key, 0.0)

    # -- domain helpers -------------------------------------------------------------------

    def call_done(self, pack: str, formula: str, outcome: str, seconds: float, fuel: int) -> None:
        # Once per pack call, so the label tuples are built here in sorted order and the
        # lock is taken once.
        with self._lock:
            self._counters["corral_calls_total"][
                (("formula", formula), ("outcome", outcome), ("pack", pack))] += 1
            self._observe_locked("corral_call_duration_seconds",
                                 (("formula", formula), ("pack", pack)), seconds)
            if fuel:
                self._counters["corral_fuel_used_total"][(("pack", pack),)] += fuel

    def call_path(self, active: str, paths: tuple[str, ...] = ("native", "public")) -> None:
        """``corral_call_path{path=...}``: 1 for the path sandbox calls take, 0 for the rest."""
        for path in paths:
            self.set_gauge("corral_call_path", 1.0 if path == active else 0.0, path=path)

    def cache_lookup(self, hit: bool) -> None:
        self.inc("corral_cache_total", result="hit" if hit else "miss")

    def fetch_done(self, pack: str, outcome: str, rule: str | None, seconds: float) -> None:
        self.inc("corral_fetches_total", pack=pack, outcome=outcome)
        self.observe("corral_fetch_duration_seconds", seconds, pack=pack)
        if outcome == FetchDenied.kind:
            self.inc("corral_fetch_denials_total", pack=pack, rule=rule or "unknown")

    # -- exposition -----------------------------------------------------------------------

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            names = {*self._counters, *self._histograms, *self._gauges, *self._HELP}
            for name in sorted(names):
                kind, help_text = self._HELP.get(name, ("counter", name))
                lines.append(f"# HELP {name} {help_text}")
                lines.append(f"# TYPE {name} {kind}")
                values = {**self._counters.get(name, {}), **self._gauges.get(name, {})}
                for labels, value in sorted(values.items()):
                    lines.append(f"{name}{_fmt(labels)} {_num(value)}")
                for labels, hist in sorted(self._histograms.get(name, {}).items()):
                    lines += _histogram_lines(name, labels, hist)
        return "\n".join(lines) + "\n"


def _histogram_lines(name: str, labels: Labels, hist: _Histogram) -> list[str]:
    out = []
    for bound, count in zip(_BUCKETS, hist.cumulative()):
        out.append(f"{name}_bucket{_fmt(labels + (('le', str(bound)),))} {count}")
    out.append(f"{name}_bucket{_fmt(labels + (('le', '+Inf'),))} {hist.count}")
    out.append(f"{name}_sum{_fmt(labels)} {hist.total:.6f}")
    out.append(f"{name}_count{_fmt(labels)} {hist.count}")
    return out


def _fmt(labels: Labels) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)
