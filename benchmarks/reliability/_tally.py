"""What one scenario counts, and the run's context (seed, size, scratch space).

A :class:`Tally` holds the counts of the report's row: writes attempted, kills delivered,
writes acknowledged, and the invariant breaks (acknowledged writes lost, stores or secrets
that did not open, restarts that failed, processes that died by a signal of their own,
wrong or internal answers), with the first few examples of each kind of break. A scenario breaks
an invariant when any of the last five is not zero.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

FINDINGS_PER_KIND = 8
T = TypeVar("T")

BREAKS = ("lost", "unreadable", "failed_restarts", "crashes", "errors")


@dataclass
class Tally:
    attempts: int = 0
    kills: int = 0
    acknowledged: int = 0
    lost: int = 0
    unreadable: int = 0
    failed_restarts: int = 0
    crashes: int = 0
    errors: int = 0
    #: Why the scenario could not run here ('' when it ran).
    skipped: str = ""
    notes: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)

    def attempt(self, acknowledged: bool) -> None:
        self.attempts += 1
        self.acknowledged += int(acknowledged)

    def broke(self, what: str, message: str, count: int = 1) -> None:
        """Count ``count`` breaks of kind ``what`` (one of BREAKS) and keep an example."""
        if what not in BREAKS:
            raise ValueError(f"unknown invariant {what!r}")
        setattr(self, what, getattr(self, what) + count)
        if sum(f.startswith(f"{what}: ") for f in self.findings) < FINDINGS_PER_KIND:
            self.findings.append(f"{what}: {message}")

    def merge(self, other: Tally) -> None:
        """Add the counts and findings of a tally kept by another thread."""
        for name, value in other.counts().items():
            setattr(self, name, getattr(self, name) + value)
        self.notes += other.notes
        for finding in other.findings:
            what = finding.split(":", 1)[0]
            if sum(f.startswith(f"{what}: ") for f in self.findings) < FINDINGS_PER_KIND:
                self.findings.append(finding)

    @property
    def broken(self) -> bool:
        return any(getattr(self, name) for name in BREAKS)

    def counts(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in
                ("attempts", "kills", "acknowledged", *BREAKS)}


@dataclass
class Context:
    """The run: quick or full, the seed every scenario's random choices derive from."""

    quick: bool
    seed: int
    workdir: Path
    extra: dict[str, Any] = field(default_factory=dict)

    def size(self, quick: T, full: T) -> T:
        return quick if self.quick else full

    def rng(self, scenario: str) -> random.Random:
        """A generator of its own per scenario: rerunning one alone repeats its choices."""
        return random.Random(f"{self.seed}/{scenario}")

    def scratch(self, scenario: str) -> Path:
        path = self.workdir / scenario
        path.mkdir(parents=True, exist_ok=True)
        return path
