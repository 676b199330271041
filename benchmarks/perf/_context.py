"""What every benchmark gets: the run's size (quick or full) and a scratch directory."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, TypeVar

from corral import Host, Settings

T = TypeVar("T")


@dataclass
class Context:
    quick: bool
    workdir: Path
    _counter: Iterator[int] = field(default_factory=itertools.count)

    def size(self, quick: T, full: T) -> T:
        """``quick`` on a quick run, ``full`` otherwise."""
        return quick if self.quick else full

    def fresh_dir(self, name: str) -> Path:
        """A new, empty directory under the run's scratch directory."""
        path = self.workdir / f"{name}-{next(self._counter)}"
        path.mkdir(parents=True)
        return path

    def host(self, name: str, **settings: object) -> Host:
        """A Host on its own fresh data directory (real LMDB, real module cache)."""
        return Host(Settings(data_dir=self.fresh_dir(name), **settings))  # type: ignore[arg-type]
