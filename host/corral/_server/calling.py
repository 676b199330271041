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
