"""One pack call over HTTP, from the request body to the JSON value: the part the call
routes and the fast path (:mod:`.fast_calls`) share, so both answer alike."""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.requests import Request

from .._errors import ArgumentError
from .apikeys import Principal
from .models import CallBody
from .runs import PendingRun
from .service import Service, to_json


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
    submit = partial(service.host.submit_resolved, resolved, *body.args,
                     connection=body.connection, principal=principal.name,
                     invocation=invocation)
    cached = service.cached_call(resolved, body.args, body.connection, principal.name,
                                 invocation)
    return to_json(await service.await_future(principal.name, submit, probe=cached))


def _logged_args(body: CallBody) -> dict[str, Any]:
    """What the execution log keeps of a call's body: its arguments and connection id."""
    return {"args": body.args, "connection": body.connection}
