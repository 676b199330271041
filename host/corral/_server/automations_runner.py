"""Running one automation: its trigger's data bound as formula variables, the condition,
then each step, as the automation's owner with the owner's connections; the run goes to
the execution log (kind ``automation``) and its outcome to the automation's state.

A run is recorded when the actions were attempted or something failed: a condition that
is false, or a rows trigger that found no new row, leaves no run (and counts as a
success). A rows trigger's first look only remembers the rows it sees.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from .._errors import CorralError
from .._host import Host
from .._types import CallTally, Invocation
from .automations_model import is_formula
from .automations_store import AutomationStore
from .runs import ExecutionLog, describe_error

log = logging.getLogger("corral.automations")


class Fired:
    """What one firing did: the run's id in the log (None when none was recorded)."""

    def __init__(self, automation: str, run: str | None, outcome: str,
                 error: dict[str, str] | None) -> None:
        self.automation = automation
        self.run = run
        self.outcome = outcome
        self.error = error


class AutomationRunner:
    def __init__(self, host: Host, store: AutomationStore, runs: ExecutionLog) -> None:
        self.host = host
        self.store = store
        self.runs = runs

    # -- entry points -----------------------------------------------------------------

    def run_hook(self, record: dict[str, Any], payload: Any) -> Fired:
        """A webhook delivery (the claim was taken by the caller)."""
        fired = self._fire(record, {"payload": payload, "trigger": self._trigger(record)},
                           {"trigger": "webhook", "payload": payload})
        self.store.finish(record["id"], self.store.clock(), fired.error)
        return fired

    def run_due(self, record: dict[str, Any], now: float) -> list[Fired]:
        """A claimed scheduled run (a schedule, or a look at a table for new rows)."""
        kind = record["definition"]["trigger"]["type"]
        try:
            fired = (self._new_rows(record) if kind == "rows" else
                     [self._fire(record, {"trigger": self._trigger(record)},
                                 {"trigger": "schedule"})])
        except Exception as exc:
            fired = [self._failed_look(record, exc)]
        errors = [f.error for f in fired if f.error is not None]
        self.store.finish(record["id"], now, errors[0] if errors else None)
        return fired

    # -- one firing -------------------------------------------------------------------

    def _fire(self, record: dict[str, Any], variables: dict[str, Any],
              shown: dict[str, Any], look: CallTally | None = None) -> Fired:
        fired = self._fire_once(record, variables, shown, look)
        self.host.metrics.inc("corral_automation_runs_total", outcome=fired.outcome)
        return fired

    def _fire_once(self, record: dict[str, Any], variables: dict[str, Any],
                   shown: dict[str, Any], look: CallTally | None) -> Fired:
        definition = record["definition"]
        first = definition["actions"][0]
        pending = self.runs.begin(record["owner"], "automation", first["pack"], first["name"],
                                  shown, automation=record["id"])
        if look is not None:  # what reading the table cost goes with the first new row
            pending.tally.add(first["pack"], first["name"], look.fuel, look.fetches,
                              [(line["level"], line["message"]) for line in look.logs])
        try:
            results = self._steps(record, variables, pending)
        except Exception as exc:
            if not isinstance(exc, CorralError):
                log.error("automation %s failed unexpectedly", record["id"], exc_info=exc)
            run = self.runs.finish(pending, exc)
            return Fired(record["id"], run["id"], "error", describe_error(exc))
        if results is None:
            return Fired(record["id"], None, "skipped", None)
        pending.args = {**shown, "results": results}
        return Fired(record["id"], self.runs.finish(pending)["id"], "ok", None)

    def _steps(self, record: dict[str, Any], variables: dict[str, Any],
               pending: Any) -> list[Any] | None:
        definition = record["definition"]
        owner, links = record["owner"], definition.get("connections") or {}
        invocation = pending.invocation(self.host.invocation())

        def evaluate(text: str) -> Any:
            return self.host.evaluate(text, principal=owner, connections=links,
                                      variables=variables, invocation=invocation)

        if definition.get("condition") and not _truthy(evaluate(definition["condition"])):
            return None
        results = []
        for step in definition["actions"]:
            args = [evaluate(a) if is_formula(a) else a for a in step["args"]]
            results.append(self.host.call(step["pack"], step["name"], *args,
                                          connection=links.get(step["pack"]), principal=owner,
                                          invocation=invocation))
        return results

    # -- rows triggers ----------------------------------------------------------------

    def _new_rows(self, record: dict[str, Any]) -> list[Fired]:
        trigger = record["definition"]["trigger"]
        look = CallTally()
        rows = self._table_rows(record, look)
        id_property = self.host.pack(trigger["pack"]).manifest.sync_table(
            trigger["table"]).schema.id_property
        keyed = [(_row_id(row, id_property), row) for row in rows]
        seen = self.store.seen_rows(record["id"])
        new = [] if seen is None else [row for key, row in keyed if key not in seen]
        known = list(seen or ()) + [key for key, _ in keyed if key not in (seen or ())]
        self.store.remember_rows(record["id"], known)
        return [self._fire(record, {"row": row, "rows": new,
                                    "trigger": self._trigger(record)},
                           {"trigger": "rows", "table": trigger["table"], "row": row},
                           look if n == 0 else None)
                for n, row in enumerate(new)]

    def _table_rows(self, record: dict[str, Any], look: CallTally) -> list[dict[str, Any]]:
        definition = record["definition"]
        trigger = definition["trigger"]
        links = definition.get("connections") or {}
        base = self.host.invocation()
        rows: list[dict[str, Any]] = []
        for page in self.host.sync(trigger["pack"], trigger["table"], *trigger["args"],
                                   connection=links.get(trigger["pack"]),
                                   principal=record["owner"],
                                   invocation=Invocation(base.timezone, base.protocol_and_host,
                                                         base.doc_id, look)):
            rows.extend(page)
        return rows

    def _failed_look(self, record: dict[str, Any], exc: Exception) -> Fired:
        trigger = record["definition"]["trigger"]
        pending = self.runs.begin(record["owner"], "automation", trigger.get("pack"),
                                  trigger.get("table"), {"trigger": trigger["type"]},
                                  automation=record["id"])
        run = self.runs.finish(pending, exc)
        return Fired(record["id"], run["id"], "error", describe_error(exc))

    def _trigger(self, record: dict[str, Any]) -> dict[str, Any]:
        return {"type": record["definition"]["trigger"]["type"], "at": self.store.clock(),
                "automation": record["id"], "name": record["definition"]["name"]}


def _truthy(value: Any) -> bool:
    return value not in (None, False, 0, "", [], {})


def _row_id(row: dict[str, Any], id_property: str | None) -> str:
    if id_property and row.get(id_property) is not None:
        return str(row[id_property])
    encoded = json.dumps(row, sort_keys=True, default=str).encode()
    return "sha256:" + hashlib.sha256(encoded).hexdigest()[:32]
