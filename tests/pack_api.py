"""A stand-in for the APIs behind the scheduler's and evaluator's packs, on 127.0.0.1.

``PackServer`` holds each request for ``hold_s`` (or until a gate opens, or until the
overlap a test asked for has happened), records every request and the peak number it
held at once. ``HttpCatalog`` is a PackCatalog whose ``invoke`` does a real ``httpx``
GET against it.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from corral import (CallRequest, FetchNetworkError, FetchTimeout, FormulaDef, GuestError,
                    NotFoundError, ParamDef, ResolvedFormula)
from corral.testing import Exchange, LocalServer, Reply

@dataclass
class Hit:
    pack: str
    formula: str
    args: list[Any]
    connection: str


@dataclass
class _ServerState:
    hold_s: float = 0.2
    gates: dict[str, threading.Event] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)
    active: int = 0
    peak: int = 0
    failures_left: Counter[str] = field(default_factory=Counter)
    meet: int = 1
    lock: threading.Condition = field(default_factory=threading.Condition)
    stopping: threading.Event = field(default_factory=threading.Event)


class PackServer(LocalServer):
    """Routes ``/<pack>/<formula>?args=<json>``. Formula names pick the behaviour:

    Flaky   503 (Retry-After: 0) until ``fail_times(...)`` failures are used up, then echo
    Broken  400, a permanent error
    Slow    held until the server stops
    Gated   held until ``open_gate(arg)`` for its first argument
    other   echo ``{"formula", "args", "connection"}``; ``Add`` returns the sum

    An echo is held until ``meet(n)`` requests have been in flight together (1 unless a
    test says so), then for ``hold_s`` more: a test that checks concurrency waits for
    the overlap it expects instead of hoping the machine is quick enough to show it.
    """

    def __init__(self) -> None:
        super().__init__(name="pack-server")
        self.state = _ServerState()
        self.handle("GET", "/{pack}/{formula}", self._call)
        self.start()

    def _call(self, exchange: Exchange) -> Reply:
        request, state = exchange.request, self.state
        args = json.loads(request.query.get("args", ["[]"])[0])
        hit = Hit(exchange.params["pack"], exchange.params["formula"], args,
                  request.headers.get("x-connection", ""))
        with state.lock:
            state.hits.append(hit)
            state.active += 1
            state.peak = max(state.peak, state.active)
            state.lock.notify_all()
        try:
            status, body = _respond(state, hit)
        finally:
            with state.lock:
                state.active -= 1
        return Reply(status=status, json=body,
                     headers={"Retry-After": "0"} if status == 503 else {})

    def calls(self, formula: str | None = None) -> list[Hit]:
        """The calls that arrived (of ``formula`` only, if given)."""
        with self.state.lock:
            return [h for h in self.state.hits if formula is None or h.formula == formula]

    @property
    def peak(self) -> int:
        return self.state.peak

    def meet(self, in_flight: int) -> None:
        """Hold echoes until ``in_flight`` requests have been held together."""
        self.state.meet = in_flight

    def fail_times(self, key: str, times: int) -> None:
        self.state.failures_left[key] = times

    def gate(self, name: str) -> threading.Event:
        return self.state.gates.setdefault(name, threading.Event())

    def wait_for_hit(self, formula: str, timeout: float = 10.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.calls(formula):
                return True
            time.sleep(0.01)
        return False

    def close(self) -> None:
        self.state.stopping.set()
        for gate in self.state.gates.values():
            gate.set()
        with self.state.lock:
            self.state.lock.notify_all()
        super().close()


def _respond(state: _ServerState, hit: Hit) -> tuple[int, Any]:
    if hit.formula in ("Flaky", "Send", "SafeSend"):
        key = f"{hit.formula}:{json.dumps(hit.args)}"
        with state.lock:
            failing = state.failures_left[key] > 0
            state.failures_left[key] -= 1
        if failing:
            return 503, {"error": "try again"}
    if hit.formula == "Broken":
        return 400, {"error": "bad request"}
    if hit.formula == "Slow":
        state.stopping.wait(30)
        return 200, {"result": "late"}
    if hit.formula == "Gated":
        state.gates.setdefault(str(hit.args[0]), threading.Event()).wait(30)
    else:
        with state.lock:
            state.lock.wait_for(lambda: state.peak >= state.meet or state.stopping.is_set(),
                                timeout=10)
        state.stopping.wait(state.hold_s)
    if hit.formula == "Add":
        return 200, {"result": sum(hit.args)}
    return 200, {"result": {"formula": hit.formula, "args": hit.args,
                            "connection": hit.connection}}


# -- the catalog ------------------------------------------------------------------------

ANY = ParamDef("value", type="any")
REST = ParamDef("values", type="any", vararg=True)


def default_packs() -> dict[str, dict[str, FormulaDef]]:
    formulas = [
        FormulaDef("Echo", params=(ANY, REST)),
        FormulaDef("Add", params=(ParamDef("a", type="number"), ParamDef("b", type="number"))),
        FormulaDef("Cached", params=(ANY,), cache_ttl_s=60),
        FormulaDef("Flaky", params=(ANY,)),
        FormulaDef("Broken", params=(ANY,)),
        FormulaDef("Slow", params=(ANY,)),
        FormulaDef("Gated", params=(ANY,)),
        FormulaDef("Private", params=(ANY,), cache_ttl_s=60, connection="required"),
        FormulaDef("Public", params=(ANY,), cache_ttl_s=60, connection="none"),
        FormulaDef("Send", params=(ANY,), is_action=True),
        FormulaDef("SafeSend", params=(ANY,), is_action=True, idempotent=True),
    ]
    table = {f.name: f for f in formulas}
    return {"Alpha": dict(table), "Beta": dict(table)}


class HttpCatalog:
    """A PackCatalog whose packs are the routes of a PackServer."""

    def __init__(self, server: PackServer,
                 packs: dict[str, dict[str, FormulaDef]] | None = None) -> None:
        self.server = server
        self.packs = packs if packs is not None else default_packs()
        self.client = httpx.Client(trust_env=False, verify=False)  # plain http on loopback

    def resolve(self, pack: str, formula: str) -> ResolvedFormula:
        pack_name = _pick(list(self.packs), pack, "pack")
        formula_name = _pick(list(self.packs[pack_name]), formula, f"formula of {pack_name}")
        return ResolvedFormula(pack=pack_name, pack_hash=f"hash-of-{pack_name}",
                               formula=self.packs[pack_name][formula_name])

    def invoke(self, call: CallRequest, resolved: ResolvedFormula, *,
               deadline: float | None) -> Any:
        # A grace beyond the deadline: the evaluation's own deadline, not this request's
        # timeout racing it on a loaded machine, is what a test of deadlines must see.
        timeout = 30.0 if deadline is None else max(0.01, deadline - time.monotonic()) + 2.0
        try:
            response = self.client.get(
                f"{self.server.base_url}/{call.pack}/{call.formula}",
                params={"args": json.dumps(list(call.args))},
                headers={"X-Connection": call.connection_id or ""}, timeout=timeout)
        except httpx.TimeoutException as exc:
            raise FetchTimeout("the API did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise FetchNetworkError(f"the API is unreachable: {type(exc).__name__}") from exc
        if response.status_code != 200:
            retry_after = response.headers.get("Retry-After")
            raise GuestError(f"the API answered {response.status_code}", pack=call.pack,
                             formula=call.formula, status=response.status_code,
                             retry_after_s=float(retry_after) if retry_after else None)
        return response.json()["result"]

    def close(self) -> None:
        self.client.close()


def _pick(names: list[str], wanted: str, what: str) -> str:
    if wanted in names:
        return wanted
    folded = [n for n in names if n.lower() == wanted.lower()]
    if len(folded) == 1:
        return folded[0]
    raise NotFoundError(f"no {what} named {wanted!r}")


