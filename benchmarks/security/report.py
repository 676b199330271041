"""The containment report: a console table, JSON and Markdown, all from one ``Report``."""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .harness import Outcome

COLUMNS = ("attack", "category", "expected", "observed", "contained", "time to contain",
           "host healthy after")


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)
    rss_baseline_kib: int = 0
    rss_after_kib: int = 0
    rss_margin_kib: int = 0
    final_call_ok: bool = False
    quick: bool = False
    seconds: float = 0.0
    environment: dict[str, str] = field(default_factory=dict)

    @property
    def not_contained(self) -> list[Outcome]:
        return [o for o in self.outcomes if not (o.contained and o.healthy)]

    @property
    def rss_within_margin(self) -> bool:
        return self.rss_after_kib - self.rss_baseline_kib <= self.rss_margin_kib

    @property
    def passed(self) -> bool:
        return not self.not_contained and self.final_call_ok and self.rss_within_margin

    def summary(self) -> dict[str, Any]:
        by_category: dict[str, list[int]] = {}
        for outcome in self.outcomes:
            counts = by_category.setdefault(outcome.category, [0, 0])
            counts[0] += 1
            counts[1] += int(outcome.contained and outcome.healthy)
        return {
            "attacks": len(self.outcomes),
            "contained": len(self.outcomes) - len(self.not_contained),
            "categories": {k: {"attacks": v[0], "contained": v[1]}
                           for k, v in by_category.items()},
            "final_call_ok": self.final_call_ok,
            "rss_baseline_kib": self.rss_baseline_kib,
            "rss_after_kib": self.rss_after_kib,
            "rss_delta_kib": self.rss_after_kib - self.rss_baseline_kib,
            "rss_margin_kib": self.rss_margin_kib,
            "rss_within_margin": self.rss_within_margin,
            "passed": self.passed,
            "quick": self.quick,
            "seconds": round(self.seconds, 2),
        }

    def to_json(self) -> str:
        return json.dumps({"summary": self.summary(), "environment": self.environment,
                           "attacks": [o.to_dict() for o in self.outcomes]}, indent=2)

    def _rows(self) -> list[tuple[str, ...]]:
        return [(o.name, o.category, o.expected, o.observed, "yes" if o.contained else "NO",
                 f"{o.seconds * 1000:.0f} ms", "yes" if o.healthy else "NO")
                for o in self.outcomes]

    def table(self) -> str:
        rows = [COLUMNS, *self._rows()]
        widths = [min(max(len(row[i]) for row in rows), 60) for i in range(len(COLUMNS))]
        lines = ["  ".join(cell[:60].ljust(w) for cell, w in zip(row, widths)) for row in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines + ["", self._footer()])

    def _footer(self) -> str:
        s = self.summary()
        lines = [f"{s['contained']}/{s['attacks']} attacks contained "
                 f"({'quick subset' if self.quick else 'full suite'}, {s['seconds']} s)",
                 f"normal call after the run: {'correct' if self.final_call_ok else 'FAILED'}",
                 f"RSS: {self.rss_baseline_kib} KiB after warm-up, {self.rss_after_kib} KiB "
                 f"after the run (delta {s['rss_delta_kib']:+d} KiB, margin "
                 f"{self.rss_margin_kib} KiB: {'ok' if self.rss_within_margin else 'EXCEEDED'})"]
        for outcome in self.not_contained:
            lines.append(f"NOT CONTAINED: {outcome.name}: {outcome.note}")
        return "\n".join(lines)

    def markdown(self) -> str:
        out = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |"
                for row in self._rows()]
        notes = [f"- **{o.name}**: {o.note}" for o in self.outcomes if o.note]
        return "\n".join(["## Security benchmark", "", *self._footer().splitlines(), "",
                          *out, "", *(["### Notes", "", *notes] if notes else [])]) + "\n"

    def write(self, json_path: Path | None, markdown_path: Path | None) -> None:
        for path, text in ((json_path, self.to_json()), (markdown_path, self.markdown())):
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")


def environment() -> dict[str, str]:
    import wasmtime

    import corral

    return {"python": platform.python_version(), "platform": platform.platform(),
            "corral": corral.__version__, "wasmtime": getattr(wasmtime, "__version__", "?")}
