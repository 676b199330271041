"""The hot route without the framework around it: ``POST /v1/packs/{pack}/formulas/{f}``
and ``.../actions/{a}`` with an API key, answered by a plain ASGI handler.

A call is the service's hot path, and FastAPI's layers around one route (its error and
body-limit middlewares, routing, dependency solving, the request object) cost more than
the pack call itself. :class:`CorralApp` sends the common case here: a POST to a call
route with a valid bearer key, a declared ``Content-Length`` within the body cap, and a
caller within its rate limit. Everything else, and every request that fails one of
those checks, goes through the whole app, before this handler has changed anything (a
failed key check or a refused rate token has no effect), so refusals are answered by the
guard exactly as before. Once admitted, the call runs through the same code as the
route (:func:`.calling.call_value`) and its errors become the same problem documents;
the request is counted and logged under the route's template, as the app would.
"""

from __future__ import annotations

import json
import logging
import time
from json.encoder import encode_basestring
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from .._errors import CorralError
from .apikeys import Principal
from .calling import call_value
from .guard import read_body, scope_header
from .problems import internal_problem, problem_for, validation_problem
from .service import Service, problem_response

log = logging.getLogger("corral.server")
access_log = logging.getLogger("corral.access")

_ROUTES = {"formulas": ("/v1/packs/{pack}/formulas/{formula}", False),
           "actions": ("/v1/packs/{pack}/actions/{action}", True)}


class CorralApp(FastAPI):
    """The service's FastAPI app, with the call routes' fast path in front of it."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            target = _call_target(scope["path"])
            if target is not None and await _answer_fast(self.state.corral, scope, receive,
                                                         send, *target):
                return
        await super().__call__(scope, receive, send)


def _call_target(path: str) -> tuple[str, str, str, bool] | None:
    """(route template, pack, name, is an action) when ``path`` is a call route."""
    parts = path.split("/")
    if len(parts) != 6 or parts[0] or parts[1] != "v1" or parts[2] != "packs":
        return None
    route = _ROUTES.get(parts[4])
    if route is None or not parts[3] or not parts[5]:
        return None
    return route[0], parts[3], parts[5], route[1]


async def _answer_fast(service: Service, scope: Scope, receive: Receive, send: Send,
                       route: str, pack: str, name: str, action: bool) -> bool:
    """Answer the call and return True, or return False having changed nothing."""
    principal = _admitted(service, scope)
    if principal is None:
        return False
    started, status = time.perf_counter(), 500
    try:
        body = await read_body(receive, service.settings.max_body_bytes)
        value = await call_value(service, Request(scope), principal, pack, name, body,
                                 action=action)
        response: Any = _Result(_result_body(value))
        status = 200
    except CorralError as exc:
        found = problem_for(exc, instance=scope["path"])
        if found.status in (503, 507):  # as the app's handler logs them
            log.warning("request %s refused: %s", scope["path"], exc)
        elif found.status >= 500 and found.status not in (502, 504):
            log.error("request %s failed: %s", scope["path"], exc, exc_info=exc)
        response, status = problem_response(found), found.status
    except RequestValidationError as exc:
        response = problem_response(validation_problem(list(exc.errors()),
                                                       instance=scope["path"]))
        status = 400
    except Exception as exc:
        log.error("request %s failed unexpectedly", scope["path"], exc_info=exc)
        response = problem_response(internal_problem(instance=scope["path"]))
    try:
        await response(scope, receive, send)
    finally:
        _count(service, scope, route, status, started)
    return True


# What JSONResponse renders with, made once rather than on each response.
_encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, indent=None,
                           separators=(",", ":")).encode


def _result_body(value: Any) -> bytes:
    """``{"result": value}`` as ``_encode`` writes it; a lone number, string, boolean or
    null (most results) without the encoder's set-up for a container."""
    kind = type(value)
    if kind is float:  # finite: to_json turned the others into strings
        text = float.__repr__(value)
    elif kind is int:
        text = int.__repr__(value)
    elif kind is str:
        text = encode_basestring(value)
    elif value is None or kind is bool:
        text = _LITERALS[value]
    else:
        return _encode({"result": value}).encode()
    return b'{"result":' + text.encode() + b"}"


_LITERALS = {None: "null", True: "true", False: "false"}


class _Result:
    """A 200 JSON body sent as JSONResponse would send it, without building one."""

    __slots__ = ("body",)

    def __init__(self, body: bytes) -> None:
        self.body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-length", str(len(self.body)).encode()),
            (b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": self.body})


def _admitted(service: Service, scope: Scope) -> Principal | None:
    """The caller, if the guard would admit this request without reading anything more:
    a valid bearer key, a declared body within the cap, a rate token taken."""
    declared = scope_header(scope, b"content-length")
    if declared is None or not declared.isdigit() or (
            int(declared) > service.settings.max_body_bytes):
        return None
    scheme, _, key = (scope_header(scope, b"authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return None
    try:
        principal = service.keys.authenticate(key.strip())
        service.rate.check(principal.name)
    except CorralError:  # refused, or the key store unreachable (StoreUnavailable)
        return None  # the whole app answers it again, with the guard's problem
    return principal


def _count(service: Service, scope: Scope, route: str, status: int, started: float) -> None:
    service.host.metrics.inc_sorted("corral_http_requests_total", (
        ("method", "POST"), ("route", route), ("status", str(status))))
    if access_log.isEnabledFor(logging.INFO):
        access_log.info("POST %s %d %.1f ms", scope["path"], status,
                        (time.perf_counter() - started) * 1e3)
