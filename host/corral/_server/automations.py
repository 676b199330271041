"""The service's automations: store, runner and scheduler, opened on first use (an app
whose lifespan never runs, or that no one asks about automations, opens nothing)."""

from __future__ import annotations

import threading
from typing import Any

from .._host import Host
from .._settings import Settings
from .automations_runner import AutomationRunner
from .automations_scheduler import AutomationScheduler
from .automations_store import AutomationStore
from .runs import ExecutionLog


class Automations:
    def __init__(self, host: Host, settings: Settings, runs: ExecutionLog) -> None:
        self._host = host
        self._settings = settings
        self._runs = runs
        self._lock = threading.Lock()
        self._scheduler: AutomationScheduler | None = None

    @property
    def scheduler(self) -> AutomationScheduler:
        with self._lock:
            if self._scheduler is None:
                store = AutomationStore.for_settings(self._settings, clock=self._host.clock)
                runner = AutomationRunner(self._host, store, self._runs)
                self._scheduler = AutomationScheduler(
                    runner, tick_s=self._settings.automations_tick_s)
            return self._scheduler

    @property
    def store(self) -> AutomationStore:
        return self.scheduler.runner.store

    @property
    def runner(self) -> AutomationRunner:
        return self.scheduler.runner

    def start(self) -> None:
        self.scheduler.start()

    def close(self) -> None:
        with self._lock:
            scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.stop()
            scheduler.runner.store.close()


def shown(record: dict[str, Any]) -> dict[str, Any]:
    """An automation as the API shows it (never its webhook's secret or hash)."""
    return {**record["definition"], "id": record["id"], "status": record["status"],
            "failures": record["failures"], "next_run_at": record["next_run_at"],
            "last_run_at": record["last_run_at"], "last_error": record["last_error"],
            "created_at": record["created_at"], "updated_at": record["updated_at"]}
