"""The kill loop every ``kill -9`` scenario over HTTP shares.

One cycle: start ``corral serve`` on the data dir (a start that fails is counted, and the
scenario carries on in a fresh data dir); check that everything acknowledged so far is
there; write one step after another while a timer sends SIGKILL after a random delay;
then, with the server dead, check that every store opens. After the last cycle one more
start checks everything once more, in full.
"""

from __future__ import annotations

import random
import threading
from pathlib import Path
from typing import Protocol, Sequence

from ._api import Api, Answer
from ._procs import Server
from ._stores import check_stores
from ._tally import Tally

MAX_STEPS_PER_CYCLE = 5000


class Subject(Protocol):
    """A write path under test: it writes, remembers what was acknowledged, and checks."""

    def step(self, api: Api, tally: Tally) -> Answer:
        """One write (or a read between writes); its answer."""

    def verify(self, api: Api, tally: Tally, *, final: bool) -> None:
        """Check every acknowledged write through a freshly started server."""

    def after_kill(self, data_dir: Path, tally: Tally) -> None:
        """Checks made with the server dead (the stores themselves)."""

    def reset(self) -> None:
        """Forget everything: the data dir was lost to a failed start."""


def start(server: Server, tally: Tally, what: str) -> bool:
    """Start ``server``; count a failed start (or a crash, if it died by a signal)."""
    if server.start():
        return True
    kind = "crashes" if server.crashed else "failed_restarts"
    tally.broke(kind, f"{what}: {server.failure}")
    return False


def write_until_killed(server: Server, subject: Subject, tally: Tally, delay_s: float) -> bool:
    """Write steps until the server dies; SIGKILL after ``delay_s``. True if our kill
    landed on a running server."""
    landed: list[bool] = []
    timer = threading.Timer(delay_s, lambda: landed.append(server.kill()))
    timer.start()
    try:
        for _ in range(MAX_STEPS_PER_CYCLE):
            answer = subject.step(server.api, tally)
            if answer.dropped and (server.kill_sent or not server.alive):
                break
            if not answer.ok:
                tally.broke("errors", answer.describe("a write"))
    finally:
        timer.cancel()
        timer.join()
    if not landed and not server.kill():  # it was dead before the timer came
        kind = "crashes" if server.crashed else "errors"
        tally.broke(kind, f"the server died by itself ({server.exit_text()})")
    return bool(landed and landed[0])


def run_kill_cycles(subject: Subject, tally: Tally, *, data_dir: Path, packs: Sequence[Path],
                    cycles: int, window_s: float, rng: random.Random, logs: Path) -> None:
    """``cycles`` kills at random points of ``subject``'s writes, each checked after."""
    generation = 0
    for cycle in range(cycles + 1):
        final = cycle == cycles
        server = Server(data_dir, packs, logs / f"serve-{cycle}.log")
        try:
            if not start(server, tally, f"start after kill {cycle}"):
                generation += 1
                data_dir = data_dir.with_name(f"{data_dir.name}-fresh{generation}")
                subject.reset()
                continue
            subject.verify(server.api, tally, final=final)
            if not final and write_until_killed(server, subject, tally,
                                                rng.uniform(0.0, window_s)):
                tally.kills += 1
        finally:
            server.close()
        subject.after_kill(data_dir, tally)
        check_stores(data_dir, tally)
