"""The reliability report: one row per scenario, the verdict, the table and the JSON.

A scenario *passes* when it ran and broke no invariant (nothing lost, no unreadable
store or secret, no failed restart, no crash, no wrong or internal answer). The run
passes when every scenario that ran passed; a scenario the machine cannot run (no tmpfs)
is ``skipped`` and says why. Each row carries the figure issue #15 reported before the
fixes, where it reported one, as the baseline to compare with.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._tally import BREAKS, Tally

COLUMNS = ("attempts", "kills", "acknowledged", *BREAKS)
HEADINGS = {"acknowledged": "acked", "failed_restarts": "failed restarts"}


@dataclass
class ScenarioResult:
    id: str
    title: str
    tally: Tally
    baseline: str = ""
    seconds: float = 0.0
    error: str | None = None

    @property
    def status(self) -> str:
        if self.error is not None:
            return "error"
        return "skipped" if self.tally.skipped else "ok"

    @property
    def passed(self) -> bool:
        return self.error is None and not self.tally.broken

    @property
    def verdict(self) -> str:
        if self.status != "ok":
            return self.status.upper()
        return "pass" if self.passed else "FAIL"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "status": self.status,
                "passed": self.passed, "error": self.error, "skipped": self.tally.skipped,
                "seconds": round(self.seconds, 2), **self.tally.counts(),
                "baseline_issue_15": self.baseline, "notes": self.tally.notes,
                "findings": self.tally.findings}


@dataclass
class Report:
    quick: bool
    seed: int
    started_at: str
    results: list[ScenarioResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    def totals(self) -> dict[str, int]:
        return {name: sum(r.tally.counts()[name] for r in self.results) for name in COLUMNS}

    def to_dict(self) -> dict[str, Any]:
        return {"suite": "corral-reliability", "quick": self.quick, "seed": self.seed,
                "started_at": self.started_at, "seconds": round(self.seconds, 1),
                "machine": machine_info(), "passed": self.passed,
                "invariants": list(BREAKS), "totals": self.totals(),
                "scenarios": [r.to_dict() for r in self.results]}

    def write_json(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    def table(self) -> str:
        rows = [[r.id, *(str(r.tally.counts()[c]) for c in COLUMNS), r.verdict, r.baseline]
                for r in self.results]
        totals = self.totals()
        rows.append(["total", *(str(totals[c]) for c in COLUMNS),
                     "pass" if self.passed else "FAIL", ""])
        header = ["scenario", *(HEADINGS.get(c, c) for c in COLUMNS), "verdict",
                  "issue #15 (before the fixes)"]
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

        def line(cells: list[str]) -> str:
            return "  ".join(cell.ljust(w) if i in (0, len(cells) - 1) else cell.rjust(w)
                             for i, (cell, w) in enumerate(zip(cells, widths))).rstrip()

        out = [line(header), line(["-" * w for w in widths]), *map(line, rows[:-1]),
               line(["-" * w for w in widths]), line(rows[-1])]
        return "\n".join(out + self._details())

    def _details(self) -> list[str]:
        out = [""]
        for result in self.results:
            shown = first_of_each_kind(result.tally.findings)
            extra = [f"error: {result.error}"] if result.error else []
            if result.tally.skipped:
                extra.append(f"skipped: {result.tally.skipped}")
            for text in extra + shown + [f"note: {n}" for n in result.tally.notes]:
                out.append(f"  {result.id}: {text}")
        kind = "quick" if self.quick else "full"
        out.append(f"\n{self.totals()['kills']} kills in this {kind} run, {self.seconds:.0f} s; "
                   f"seed {self.seed} (repeat the same choices with --seed {self.seed})")
        out.append("verdict: " + ("every invariant held" if self.passed else
                                  "INVARIANTS BROKEN in " + ", ".join(
                                      r.id for r in self.results if not r.passed)))
        return out


def first_of_each_kind(findings: list[str]) -> list[str]:
    """The first finding of each kind of break, in the order the kinds are listed."""
    return [next(f for f in findings if f.startswith(f"{kind}: "))
            for kind in BREAKS if any(f.startswith(f"{kind}: ") for f in findings)]


def machine_info() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    def package(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    return {"python": sys.version.split()[0], "platform": platform.platform(),
            "cpus": os.cpu_count(), "wasmtime": package("wasmtime"), "lmdb": package("lmdb"),
            "uvicorn": package("uvicorn")}
