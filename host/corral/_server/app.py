"""The HTTP service: a FastAPI app over one :class:`~corral._host.Host`.

``create_app(host, settings)`` returns the app; ``corral serve`` (``serve.py``) runs it
under uvicorn. Every ``/v1`` endpoint but the OAuth2 callback wants
``Authorization: Bearer <api key>`` (or the console's session cookie, ``sessions.py``);
the key's owner is the principal that owns connections. ``/`` is the console
(``console_page.py``). Errors are RFC 9457 problem documents (``problems.py``).

Before any route runs, :class:`~corral._server.guard.Guard` checks the API key, the
rate limits and the body cap; pack calls then go through a gate that is fair per
principal (``service.py``, ``admission.py``).

This module deliberately does not use ``from __future__ import annotations``: FastAPI
reads the annotations of the route functions at import time.
"""

import logging
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .._errors import CorralError
from .._host import Host
from .._settings import Settings
from .apikeys import ApiKeyStore
from .console_page import add_console
from .docs import add_offline_docs, problem_responses_only
from .fast_calls import CorralApp
from .guard import Guard
from .models import CallBody
from .problems import internal_problem, problem, problem_for, validation_problem
from .routes_accounts import accounts
from .routes_blobs import blobs
from .routes_calls import calls
from .routes_console import console_api, session_security
from .routes_ops import ops
from .routes_automations import automations, shown_path
from .routes_runs import runs
from .service import Service, problem_response

log = logging.getLogger("corral.server")
#: One line per request; uvicorn's own access log is off, as it prints query strings.
access_log = logging.getLogger("corral.access")

# -- the app ------------------------------------------------------------------------------


def create_app(host: Host, settings: Settings | None = None, *,
               keys: ApiKeyStore | None = None,
               clock: Callable[[], float] | None = None) -> FastAPI:
    """The HTTP service over ``host``. API keys live in ``data_dir/api-keys/`` unless
    ``keys`` is given; ``clock`` (monotonic seconds) drives the rate limits. The app
    does not close the host: whoever made it does."""
    settings = settings or host.settings
    service = Service(host, settings, keys or ApiKeyStore.for_settings(settings),
                      **({"clock": clock} if clock is not None else {}))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.ready = True
        service.automations.start()
        yield
        service.ready = False
        service.automations.close()
        service.runs.close()  # writes what is queued

    app = CorralApp(title="Corral", version=_version(), lifespan=lifespan,
                  docs_url=None, redoc_url=None,  # /docs is served offline, below
                  description="Sandboxed WebAssembly packs: formulas, actions, sync tables "
                              "and connections over HTTP.")
    app.state.corral = service
    app.include_router(calls)  # the hot routes are matched first
    app.include_router(accounts)
    app.include_router(ops)
    app.include_router(console_api)
    app.include_router(blobs)
    app.include_router(runs)
    app.include_router(automations)
    _add_error_handlers(app)
    app.add_middleware(Guard, service=service)
    app.add_middleware(_RequestMetrics, service=service)  # outermost: counts refusals too
    add_offline_docs(app)
    add_console(app)
    _document_call_body(app)
    return app


def _document_call_body(app: FastAPI) -> None:
    """Put ``CallBody`` in the OpenAPI components: the call routes read their body
    themselves, so FastAPI does not find the model on its own."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = session_security(problem_responses_only(build()))
            schema.setdefault("components", {}).setdefault("schemas", {}).setdefault(
                "CallBody", CallBody.model_json_schema(ref_template="#/components/schemas/{model}"))
        return app.openapi_schema or build()

    app.openapi = openapi  # type: ignore[method-assign]


def _version() -> str:
    from .. import __version__

    return __version__


# -- errors and metrics -------------------------------------------------------------------


def _add_error_handlers(app: FastAPI) -> None:
    async def corral_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, CorralError)
        found = problem_for(exc, instance=request.url.path)
        if found.status in (503, 507):  # the service's own limits: no traceback to read
            log.warning("request %s refused: %s", shown_path(request.url.path), exc)
        elif found.status >= 500 and found.status not in (502, 504):
            log.error("request %s failed: %s", shown_path(request.url.path), exc,
                      exc_info=exc)
        return problem_response(found)

    async def bad_request(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return problem_response(validation_problem(list(exc.errors()),
                                                   instance=request.url.path))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        kinds = {404: "not_found", 405: "method_not_allowed"}
        return problem_response(problem(exc.status_code, kinds.get(exc.status_code, "http"),
                                         str(exc.detail), instance=request.url.path,
                                         headers=dict(exc.headers or {})))

    app.add_exception_handler(CorralError, corral_error)
    app.add_exception_handler(RequestValidationError, bad_request)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_middleware(_ContainFailures)  # inside _RequestMetrics, which counts its 500s


class _ContainFailures:
    """Answers an exception no handler took with the internal problem document, and keeps
    it from the server, so the kept-alive connection stays usable.

    An exception handler for ``Exception`` would not do: Starlette's outermost middleware
    sends that handler's 500 and then raises the exception again, for the server to log,
    and uvicorn then closes the connection without a ``Connection: close``, so the
    client's next request on it fails. Once part of a response has gone out, closing
    the connection is the only way to end it, and the exception goes on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            if started:
                raise
            path = scope.get("path", "")
            log.error("request %s failed unexpectedly", shown_path(path), exc_info=exc)
            await problem_response(internal_problem(instance=path))(scope, receive, send)


class _RequestMetrics:
    """Counts HTTP requests by route template (not raw path), method and status, and
    writes the access log line: the path without its query string (an OAuth2 callback's
    query holds the authorization code), never a header."""

    def __init__(self, app: ASGIApp, service: Service) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status, started = 500, time.perf_counter()

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.service.host.metrics.inc_sorted("corral_http_requests_total", (
                ("method", scope["method"]), ("route", route), ("status", str(status))))
            if access_log.isEnabledFor(logging.INFO):
                access_log.info("%s %s %d %.1f ms", scope["method"],
                                shown_path(scope.get("path", "")),
                                status, (time.perf_counter() - started) * 1e3)
