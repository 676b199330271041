"""One pack call over HTTP, from the request body to the JSON value: the part the call
routes and the fast path (:mod:`.fast_calls`) share, so both answer alike; and one
evaluated formula, with the pack formula it is, whether pack code ran, and its time."""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.requests import Request

from .._errors import ArgumentError, CorralError
from .._formula.nodes import PackCall
from .apikeys import Principal
from .models import CallBody, EvaluateBody
from .runs import PendingRun
from .service import Service, to_json

CACHE_HEADER = "Corral-Cache"
RESULT_OF_HEADER = "Corral-Result-Of"


def parse_call_body(raw: bytes) -> CallBody:
    """The JSON body of a call, validated as FastAPI would (an empty body means no
    arguments); errors name the field, never echo the input."""
    if not raw.strip():
        return CallBody(connection=None, timezone=None, doc_id=None)
    try:
        return CallBody.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError([{**err, "loc": ("body", *err["loc"])}
                                      for err in exc.errors(include_input=False)]) from None


async def call_value(service: Service, request: Request, principal: Principal, pack: str,
                     name: str, raw_body: bytes, *, action: bool) -> Any:
    """Run ``pack.name`` (a formula, or an action when ``action``) for ``principal`` with
    the arguments in ``raw_body``; the result as JSON-ready data. ``request`` gives the
    call's context (its ``Corral-Timezone`` header, its base URL)."""
    body = parse_call_body(raw_body)
    run = service.runs.begin(principal.name, "action" if action else "formula", pack, name,
                             _logged_args(body))
    try:
        value = await _run_call(service, request, principal, pack, name, body, action, run)
    except BaseException as exc:
        service.runs.finish(run, exc)
        raise
    service.runs.finish(run)
    return value


async def _run_call(service: Service, request: Request, principal: Principal, pack: str,
                    name: str, body: CallBody, action: bool, run: PendingRun) -> Any:
    resolved = service.host.resolve(pack, name)
    definition = resolved.formula
    run.formula = definition.name
    if definition.is_action != action:
        what, path = ("an action", "actions") if definition.is_action else ("a formula",
                                                                            "formulas")
        raise ArgumentError(f"{pack}.{definition.name} is {what}: POST it to "
                            f"/v1/packs/{pack}/{path}/{definition.name}", pack=pack,
                            formula=definition.name)
    invocation = run.invocation(service.invocation(request, body.timezone, body.doc_id))
    shared = await service.shared_cache_answer(resolved, body.args, body.connection,
                                               principal.name, invocation)
    if shared is not None and shared[0]:
        return to_json(shared[1])
    submit = partial(service.host.submit_resolved, resolved, *body.args,
                     connection=body.connection, principal=principal.name,
                     invocation=invocation, looked_up=shared is not None)
    cached = None if shared is not None else service.cached_call(
        resolved, body.args, body.connection, principal.name, invocation)
    return to_json(await service.await_future(principal.name, submit, probe=cached))


def _logged_args(body: CallBody) -> dict[str, Any]:
    """What the execution log keeps of a call's body: its arguments and connection id."""
    return {"args": body.args, "connection": body.connection}


#: Response headers of ``POST /v1/evaluate`` beside the value: the server's time (the
#: standard Server-Timing), whether it was answered without running pack code, and the
#: pack formula whose declared result the value is (when the formula is one pack call).
EVALUATE_HEADERS = {
    "Server-Timing": "evaluate;dur=<milliseconds>: how long the server took",
    CACHE_HEADER: "hit when no pack code ran (the formula memo or the result cache "
                  "answered), else miss",
    RESULT_OF_HEADER: "pack.Formula whose declared result schema the value follows, when the "
                      "formula is a single pack call",
}


async def evaluate_formula(service: Service, request: Request, principal: Principal,
                           body: EvaluateBody) -> tuple[Any, dict[str, str]]:
    """Evaluate ``body.formula`` for ``principal``, recorded in the execution log: its
    value as JSON, and the :data:`EVALUATE_HEADERS` (from the log's record). The result's
    formula is found on the worker thread (or by the gate's probe), off the event loop."""
    logged = service.runs.begin(principal.name, "formula", None, None, {
        "formula": body.formula, "variables": body.variables, "connections": body.connections})
    invocation = logged.invocation(service.invocation(request, body.timezone, body.doc_id))
    memo = service.memo_answer(body.formula, principal.name, body.connections, invocation,
                               body.variables)

    def evaluated() -> tuple[Any, str | None]:
        value = service.host.evaluate(body.formula, principal=principal.name,
                                      connections=body.connections, invocation=invocation,
                                      variables=body.variables)
        return value, single_pack_call(service, body.formula)

    def probe() -> tuple[bool, Any]:
        found, value = memo()
        return found, (value, single_pack_call(service, body.formula) if found else None)

    try:
        value, result_of = await service.run(principal.name, evaluated, probe=probe)
        result = to_json(value)
    except BaseException as exc:
        service.runs.finish(logged, exc)
        raise
    record = service.runs.finish(logged)
    headers = {"Server-Timing": f"evaluate;dur={record['duration_ms']:.3f}",
               CACHE_HEADER: "hit" if record["cache_hit"] else "miss"}
    if result_of is not None:
        headers[RESULT_OF_HEADER] = result_of
    return result, headers


def single_pack_call(service: Service, formula: str) -> str | None:
    """``pack.Formula`` when ``formula`` is one pack call (its parse is in the evaluator's
    cache by now), else None."""
    try:
        tree = service.host.evaluator.parse(formula)
        if not isinstance(tree, PackCall):
            return None
        resolved = service.host.resolve(tree.pack, tree.formula)
    except CorralError:
        return None
    return f"{resolved.pack}.{resolved.formula.name}"
