"""Which upstream failures a pack reports the scheduler retries, and for how long.

The catalog here answers each call with the failure a pack would report (a
``GuestError`` with the upstream's status and Retry-After) until it has failed
``failures`` times; the scheduler is the real one.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from corral import (CallRequest, FormulaDef, GuestError, ResolvedFormula, Scheduler,
                    SchedulerConfig)

FAST = SchedulerConfig(backoff_base_s=0.001, backoff_max_s=0.002)


class Upstream:
    """A PackCatalog whose one formula fails like an upstream, then answers ``"ok"``."""

    def __init__(self, status: int, *, failures: int = 10, retry_after_s: float | None = None,
                 action: bool = False, idempotent: bool = False) -> None:
        self.status = status
        self.failures = failures
        self.retry_after_s = retry_after_s
        self.formula = FormulaDef("Get", is_action=action, idempotent=idempotent)
        self.attempts = 0
        self._lock = threading.Lock()

    def resolve(self, pack: str, formula: str) -> ResolvedFormula:
        return ResolvedFormula(pack="up", pack_hash="hash", formula=self.formula)

    def invoke(self, call: CallRequest, resolved: ResolvedFormula, *,
               deadline: float | None) -> Any:
        with self._lock:
            self.attempts += 1
            failing = self.attempts <= self.failures
        if failing:
            raise GuestError(f"the upstream answered {self.status}", pack="up", formula="Get",
                             status=self.status, retry_after_s=self.retry_after_s)
        return "ok"


def run(catalog: Upstream, *, deadline_s: float | None = 30.0,
        config: SchedulerConfig = FAST) -> Any:
    with Scheduler(catalog, config=config) as scheduler:
        deadline = None if deadline_s is None else time.monotonic() + deadline_s
        return scheduler.submit(CallRequest("up", "Get", ()), catalog.resolve("up", "Get"),
                                deadline).result(30)


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_a_retryable_upstream_status_is_retried_until_it_succeeds(status: int) -> None:
    catalog = Upstream(status, failures=2)
    assert run(catalog) == "ok"
    assert catalog.attempts == 3


@pytest.mark.parametrize("status", [400, 403, 404, 500, 501, 505])
def test_other_upstream_statuses_are_not_retried(status: int) -> None:
    catalog = Upstream(status, failures=1)
    with pytest.raises(GuestError) as info:
        run(catalog)
    assert info.value.status == status
    assert catalog.attempts == 1


def test_exhausted_retries_hand_the_caller_the_status_and_retry_after() -> None:
    catalog = Upstream(503, retry_after_s=0.0)
    with pytest.raises(GuestError) as info:
        run(catalog)
    assert catalog.attempts == 1 + FAST.max_retries
    assert (info.value.status, info.value.retry_after_s) == (503, 0.0)


def test_a_retry_after_past_the_deadline_ends_the_retries_at_once() -> None:
    catalog = Upstream(429, retry_after_s=60.0)
    with pytest.raises(GuestError) as info:
        run(catalog, deadline_s=30.0)
    assert catalog.attempts == 1
    assert info.value.retry_after_s == 60.0


def test_a_call_without_a_deadline_waits_no_longer_than_the_default_one() -> None:
    catalog = Upstream(503, retry_after_s=60.0)
    with pytest.raises(GuestError):
        run(catalog, deadline_s=None, config=SchedulerConfig(default_deadline_s=30.0))
    assert catalog.attempts == 1


def test_an_action_is_retried_only_when_idempotent() -> None:
    plain = Upstream(503, failures=1, action=True)
    with pytest.raises(GuestError):
        run(plain)
    assert plain.attempts == 1
    idempotent = Upstream(503, failures=1, action=True, idempotent=True)
    assert run(idempotent) == "ok"
    assert idempotent.attempts == 2
