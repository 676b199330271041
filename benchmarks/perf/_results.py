"""What a benchmark reports: rows for the table, named metrics, and targets met or not.

The JSON written by the runner is ``SuiteReport.to_dict()``; each benchmark carries every
measured metric, and each target its measured value, its limit and a plain ``met`` flag.
"""

from __future__ import annotations

import math
import operator
import platform
import sys
from dataclasses import dataclass, field
from typing import Any, Callable

_OPERATORS: dict[str, Callable[[float, float], bool]] = {"<=": operator.le, ">=": operator.ge}


@dataclass(frozen=True)
class Target:
    """One goal from the issue: ``measured <op> limit``."""

    id: str
    description: str
    measured: float
    op: str
    limit: float
    unit: str

    def __post_init__(self) -> None:
        if self.op not in _OPERATORS:
            raise ValueError(f"target {self.id}: operator must be one of {sorted(_OPERATORS)}, "
                             f"got {self.op!r}")

    @property
    def met(self) -> bool:
        return math.isfinite(self.measured) and _OPERATORS[self.op](self.measured, self.limit)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "description": self.description, "measured": self.measured,
                "op": self.op, "limit": self.limit, "unit": self.unit, "met": self.met}

    def line(self) -> str:
        verdict = "MET" if self.met else "NOT MET"
        return (f"[{verdict:>7}] {self.description}: {_fmt(self.measured)} {self.unit} "
                f"(target {self.op} {_fmt(self.limit)} {self.unit})")


@dataclass
class BenchResult:
    """One benchmark's outcome. ``error`` is set (and the rest may be empty) if it failed."""

    id: str
    title: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    series: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0

    @property
    def met(self) -> bool | None:
        """All targets met; None when this benchmark has no target of its own."""
        if self.error is not None:
            return False if self.targets else None
        return all(t.met for t in self.targets) if self.targets else None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "status": "error" if self.error else "ok",
                "error": self.error, "seconds": self.seconds, "met": self.met,
                "metrics": self.metrics, "targets": [t.to_dict() for t in self.targets],
                "rows": self.rows, "notes": self.notes, "settings": self.settings,
                "series": self.series}


@dataclass
class SuiteReport:
    quick: bool
    started_at: str
    results: list[BenchResult] = field(default_factory=list)
    seconds: float = 0.0
    build_seconds: float = 0.0
    machine: dict[str, Any] = field(default_factory=dict)

    @property
    def targets(self) -> list[Target]:
        return [t for r in self.results for t in r.targets]

    @property
    def failed(self) -> list[BenchResult]:
        return [r for r in self.results if r.error is not None]

    def to_dict(self) -> dict[str, Any]:
        targets = self.targets
        return {"suite": "corral-perf", "quick": self.quick, "started_at": self.started_at,
                "seconds": self.seconds, "build_seconds": self.build_seconds,
                "machine": self.machine,
                "targets_met": sum(t.met for t in targets), "targets_total": len(targets),
                "all_targets_met": all(t.met for t in targets) and not self.failed,
                "benchmarks": [r.to_dict() for r in self.results]}


def machine_info() -> dict[str, Any]:
    import os
    from importlib.metadata import PackageNotFoundError, version

    def package(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    return {"python": sys.version.split()[0], "platform": platform.platform(),
            "cpus": os.cpu_count(), "wasmtime": package("wasmtime"),
            "extism": package("extism"), "fastapi": package("fastapi"),
            "uvicorn": package("uvicorn")}


# -- the printed table ----------------------------------------------------------------------


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}" if magnitude else "0"


def format_rows(rows: list[dict[str, Any]]) -> list[str]:
    """Rows as an aligned text table; columns are the union of keys, in first-seen order."""
    if not rows:
        return []
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    cells = [[_fmt(row.get(col, "")) for col in columns] for row in rows]
    widths = [max(len(col), *(len(line[i]) for line in cells)) for i, col in enumerate(columns)]
    header = "  ".join(col.ljust(w) for col, w in zip(columns, widths))
    lines = [header, "  ".join("-" * w for w in widths)]
    for line in cells:
        lines.append("  ".join(cell.rjust(w) if i else cell.ljust(w)
                               for i, (cell, w) in enumerate(zip(line, widths))))
    return lines


def format_result(result: BenchResult) -> str:
    lines = [f"== {result.title} ({result.seconds:.1f} s)"]
    if result.error:
        lines.append(f"   FAILED: {result.error}")
    lines += ["   " + line for line in format_rows(result.rows)]
    lines += ["   " + target.line() for target in result.targets]
    lines += ["   note: " + note for note in result.notes]
    return "\n".join(lines)


def format_summary(report: SuiteReport) -> str:
    targets = report.targets
    met = sum(t.met for t in targets)
    lines = [f"== Targets: {met} of {len(targets)} met"
             f"{' (quick run)' if report.quick else ''}"]
    lines += ["   " + t.line() for t in targets]
    for failed in report.failed:
        lines.append(f"   [ FAILED] benchmark {failed.id}: {failed.error}")
    return "\n".join(lines)
