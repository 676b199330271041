"""The server's automation scheduler: a thread that, every ``automations_tick_s``, claims
the automations that are due and runs them (started and stopped with the service's
lifespan). Each due run is claimed in a store transaction first, so with several nodes
or ``--workers`` on one store only one of them runs it. :meth:`tick` does one round and
can be driven by a test with its own clock.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

from .automations_runner import AutomationRunner, Fired

log = logging.getLogger("corral.automations")


class AutomationScheduler:
    def __init__(self, runner: AutomationRunner, *, tick_s: float = 1.0,
                 clock: Callable[[], float] | None = None) -> None:
        self.runner = runner
        self.tick_s = max(tick_s, 0.01)
        self.clock = clock or runner.store.clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="corral-automations",
                                            daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=60)

    def tick(self, now: float | None = None) -> list[Fired]:
        """Run every automation due at ``now`` that this node can claim."""
        now = self.clock() if now is None else now
        store = self.runner.store
        fired: list[Fired] = []
        for record in store.due(now):
            if self._stop.is_set() and self._thread is not None:
                break
            claimed = store.claim(record["id"], now)
            if claimed is not None:
                fired.extend(self.runner.run_due(claimed, now))
        return fired

    def _loop(self) -> None:
        while not self._stop.wait(self.tick_s):
            try:
                self.tick()
            except Exception as exc:  # a store outage: try again next tick
                log.warning("the automation scheduler's round failed: %s", exc)
