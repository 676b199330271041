"""One pack call over HTTP, from the request body to the JSON value: the part the call
routes and the fast path (:mod:`.fast_calls`) share, so both answer alike; and one
evaluated formula, with its result's schema, whether the memo answered, and its time."""

from __future__ import annotations

import time
from functools import partial
from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.requests import Request

from .._errors import ArgumentError, CorralError
from .._formula.nodes import PackCall
from .apikeys import Principal
from .models import CallBody, EvaluateBody
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
    resolved = service.host.resolve(pack, name)
    definition = resolved.formula
    if definition.is_action != action:
        what, path = ("an action", "actions") if definition.is_action else ("a formula",
                                                                            "formulas")
        raise ArgumentError(f"{pack}.{definition.name} is {what}: POST it to "
                            f"/v1/packs/{pack}/{path}/{definition.name}", pack=pack,
                            formula=definition.name)
    invocation = service.invocation(request, body.timezone, body.doc_id)
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


#: Response headers of ``POST /v1/evaluate`` beside the value: the server's time (the
#: standard Server-Timing), whether the formula memo answered, and the pack formula whose
#: declared result the value is (when the formula is one pack call), for rendering by schema.
EVALUATE_HEADERS = {
    "Server-Timing": "evaluate;dur=<milliseconds>: how long the server took",
    CACHE_HEADER: "hit when the formula memo answered without running the formula, else miss",
    RESULT_OF_HEADER: "pack.Formula whose declared result schema the value follows, when the "
                      "formula is a single pack call",
}


async def evaluate_formula(service: Service, request: Request, principal: Principal,
                           body: EvaluateBody) -> tuple[Any, dict[str, str]]:
    """Evaluate ``body.formula`` for ``principal``: its value as JSON, and the
    :data:`EVALUATE_HEADERS`. The memo is asked first, on the worker thread (or by the
    gate's probe), so the answer says whether it was memoised."""
    invocation = service.invocation(request, body.timezone, body.doc_id)
    memo = service.memo_answer(body.formula, principal.name, body.connections, invocation,
                               body.variables)

    def evaluated() -> tuple[Any, bool, str | None]:
        found, value = memo()
        if not found:
            value = service.host.evaluate(body.formula, principal=principal.name,
                                          connections=body.connections,
                                          invocation=invocation, variables=body.variables)
        return value, found, single_pack_call(service, body.formula)

    def probe() -> tuple[bool, Any]:
        found, value = memo()
        return found, (value, True, single_pack_call(service, body.formula) if found else None)

    started = time.perf_counter()
    value, hit, result_of = await service.run(principal.name, evaluated, probe=probe)
    elapsed_ms = (time.perf_counter() - started) * 1000
    headers = {"Server-Timing": f"evaluate;dur={elapsed_ms:.3f}",
               CACHE_HEADER: "hit" if hit else "miss"}
    if result_of is not None:
        headers[RESULT_OF_HEADER] = result_of
    return to_json(value), headers


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
