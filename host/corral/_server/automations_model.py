"""What an automation is (when → if → then), as the API takes and shows it, and the
checks a definition passes before it is stored.

- **when**, the trigger: ``schedule`` (``every_s`` seconds, or ``daily_at`` "HH:MM" in
  ``timezone``), ``webhook`` (``POST /v1/hooks/{secret}``; the body is ``payload``), or
  ``rows`` (new rows of a sync table since the last look, every ``every_s`` seconds; each
  new row runs the actions with ``row`` bound).
- **if**, an optional condition formula over the trigger's data, bound as formula
  variables: ``$$[variable:payload]``, ``$$[variable:row]``, ``$$[variable:trigger]``.
- **then**, one or more steps: a pack action (or formula) with its arguments. An argument
  that is a string starting with ``=`` is a formula over the same variables; anything
  else is taken as it is.

This module does not use ``from __future__ import annotations``: pydantic reads these
annotations at import time.
"""

import re
from datetime import datetime, timedelta
from typing import Any, Iterator, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from .._errors import ArgumentError, FormulaSyntaxError, NotFoundError
from .._formula.parser import parse_formula
from .._host import Host
from .._types import check_timezone

STATUSES = ("ok", "failing", "disabled")
_DAILY = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
#: A rows trigger looks at its table this often unless ``every_s`` says otherwise.
DEFAULT_ROWS_EVERY_S = 300.0


class Trigger(BaseModel):
    type: Literal["schedule", "webhook", "rows"]
    every_s: float | None = Field(None, ge=1, le=366 * 86400,
                                  description="schedule, rows: run every this many seconds.")
    daily_at: str | None = Field(None, description='schedule: a time of day, "HH:MM".')
    timezone: str = Field("UTC", description="The IANA zone daily_at is read in.")
    pack: str | None = Field(None, description="rows: the pack of the sync table.")
    table: str | None = Field(None, description="rows: the sync table.")
    args: list[Any] = Field(default_factory=list, description="rows: the table's arguments.")


class Step(BaseModel):
    pack: str = Field(min_length=1)
    name: str = Field(min_length=1, description="An action (or formula) of the pack.")
    args: list[Any] = Field(default_factory=list, max_length=32,
                            description='Arguments; a string starting with "=" is a formula.')


class AutomationIn(BaseModel):
    name: str = Field(min_length=1, max_length=120)
    trigger: Trigger
    condition: str | None = Field(None, max_length=10_000,
                                  description="A formula; the actions run when it is true.")
    actions: list[Step] = Field(min_length=1, max_length=10)
    connections: dict[str, str] = Field(
        default_factory=dict, description="Pack name -> the owner's connection id, used by "
                                          "the trigger, the condition and every step.")
    enabled: bool = True


class AutomationOut(AutomationIn):
    id: str
    status: Literal["ok", "failing", "disabled"]
    failures: int = Field(description="Consecutive failed runs.")
    next_run_at: float | None = Field(description="When it next runs (Unix seconds); none "
                                                  "for a webhook that is not backing off.")
    last_run_at: float | None
    last_error: dict[str, str] | None
    created_at: float
    updated_at: float


class AutomationCreated(AutomationOut):
    webhook_url: str | None = Field(None, description="webhook: the URL to POST to. It holds "
                                                      "the secret and is shown only now.")


class AutomationList(BaseModel):
    automations: list[AutomationOut]


class HookAccepted(BaseModel):
    run: str | None = Field(description="The run's id in the execution log (none when the "
                                        "condition was false).")
    outcome: Literal["ok", "error", "skipped"]


# -- checks ---------------------------------------------------------------------------


def check_definition(host: Host, principal: str, body: AutomationIn) -> None:
    """Refuse a definition that cannot run, naming the field: an unknown pack, action or
    table, a schedule without a time, a formula that does not parse (line and column)."""
    _check_trigger(host, body.trigger)
    if body.condition is not None:
        check_formula(body.condition, "condition")
    for i, step in enumerate(body.actions):
        _known(host, step.pack, step.name, f"actions[{i}].name")
        for j, arg in enumerate(step.args):
            if is_formula(arg):
                check_formula(arg, f"actions[{i}].args[{j}]")
    for pack, connection in body.connections.items():
        try:
            host.connections.get(principal, connection)
        except NotFoundError:
            raise ArgumentError(f"connection {connection!r} is not one of yours",
                                field=f"connections.{pack}") from None


def _check_trigger(host: Host, trigger: Trigger) -> None:
    if trigger.type == "schedule" and (trigger.every_s is None) == (trigger.daily_at is None):
        raise ArgumentError("a schedule needs exactly one of every_s and daily_at",
                            field="trigger.every_s")
    if trigger.daily_at is not None and not _DAILY.fullmatch(trigger.daily_at):
        raise ArgumentError('daily_at must be a time of day such as "07:30"',
                            field="trigger.daily_at")
    check_timezone(trigger.timezone, field="trigger.timezone")
    if trigger.type == "rows":
        if not trigger.pack or not trigger.table:
            raise ArgumentError("a rows trigger needs the pack and table to watch",
                                field="trigger.table")
        try:
            host.pack(trigger.pack).manifest.sync_table(trigger.table)
        except NotFoundError as exc:
            raise ArgumentError(exc.message, field="trigger.table") from None


def _known(host: Host, pack: str, name: str, field: str) -> None:
    try:
        host.resolve(pack, name)
    except NotFoundError as exc:
        raise ArgumentError(exc.message, field=field) from None


def is_formula(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("=")


def check_formula(text: str, field: str) -> None:
    try:
        parse_formula(text)
    except FormulaSyntaxError as exc:
        exc.details["field"] = field
        raise


# -- when it runs ---------------------------------------------------------------------


def next_run(trigger: dict[str, Any], now: float) -> float | None:
    """When a trigger next fires after ``now``; None for a webhook (it fires when called)."""
    kind = trigger.get("type")
    if kind == "webhook":
        return None
    daily = trigger.get("daily_at")
    if kind == "schedule" and daily:
        return _next_daily(daily, trigger.get("timezone") or "UTC", now)
    every = trigger.get("every_s") or DEFAULT_ROWS_EVERY_S
    return now + float(every)


def _next_daily(daily_at: str, zone: str, now: float) -> float:
    hour, minute = (int(part) for part in daily_at.split(":"))
    local = datetime.fromtimestamp(now, ZoneInfo(zone))
    for candidate in _days_from(local):
        at = candidate.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if at.timestamp() > now:
            return at.timestamp()
    raise AssertionError("unreachable: a day has that time")


def _days_from(start: datetime) -> Iterator[datetime]:
    for offset in range(3):
        yield start + timedelta(days=offset)


class AutomationRun(BaseModel):
    runs: list[HookAccepted] = Field(description="One per firing (a rows trigger fires once "
                                                 "per new row; none on its first look).")
