"""The HTTP service: a FastAPI app over one :class:`~corral._host.Host`.

``create_app(host, settings)`` returns the app; ``corral serve`` (``_serve.py``) runs it
under uvicorn. Every ``/v1`` endpoint but the OAuth2 callback wants
``Authorization: Bearer <api key>``; the key's owner is the principal that owns
connections. Errors are RFC 9457 problem documents (``_problems.py``).

Pack code never runs on the event loop. Each blocking host call goes through a
:class:`CallGate`: at most ``global_concurrency`` run at once on worker threads, at most
``max_queue`` wait for a turn, and anyone beyond that is told 429 with ``Retry-After``
instead of joining an unbounded queue. Each principal also has a token bucket
(``rate_limit_per_s``, ``rate_limit_burst``).

This module deliberately does not use ``from __future__ import annotations``: FastAPI
reads the annotations of the route functions at import time.
"""

import json
import logging
import math
from concurrent.futures import Future
from contextlib import asynccontextmanager
from functools import partial
from typing import Annotated, Any, AsyncIterator, Callable, Iterator, TypeVar

from pydantic import ValidationError
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .._server.admission import CallGate, RateLimiter
from .._server.models import (ProblemDocument, CallBody, CallResult, EvaluateBody, SyncBody,
                          UpdateBody, UpdateResults, AutocompleteBody, Options, DynamicUrls,
                          DynamicSchemaBody, SchemaOut, PackSummary, PackVersionInfo,
                          PackDetail, ConnectionCreate, ConnectionOut, OAuthStartBody,
                          OAuthStart, KeyCreate, KeyInfo, KeyCreated, Ready, Status)
from .._server.apikeys import ApiKeyStore, Principal
from .._errors import (AccessDenied, ArgumentError, AuthFlowError, Conflict, CorralError,
                      NotFoundError, Overloaded, PayloadTooLarge)
from .._host import Host
from .._runtime.pack import Pack, read_manifest, wasm_sha256
from .._server.problems import (PROBLEM_MEDIA_TYPE, Problem, internal_problem, problem,
                        problem_for)
from .._settings import Settings

log = logging.getLogger("corral.server")

T = TypeVar("T")


class _Service:
    """What the route functions need, kept on ``app.state.corral``."""

    def __init__(self, host: Host, settings: Settings, keys: ApiKeyStore) -> None:
        self.host = host
        self.settings = settings
        self.keys = keys
        self.gate = CallGate(settings.global_concurrency, settings.max_queue)
        self.rate = RateLimiter(settings.rate_limit_per_s, settings.rate_limit_burst)
        self.ready = False

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return await self.gate.run(fn, *args)
        except Overloaded:
            self.host.metrics.inc("corral_rejected_total", reason="capacity")
            raise

    async def await_future(self, submit: Callable[[], Future[T]]) -> T:
        try:
            return await self.gate.await_future(submit)
        except Overloaded:
            self.host.metrics.inc("corral_rejected_total", reason="capacity")
            raise


# -- dependencies -------------------------------------------------------------------------

_bearer = HTTPBearer(auto_error=False, description="An API key from `corral keys create`.")


async def _service(request: Request) -> _Service:
    service: _Service = request.app.state.corral
    return service


ServiceDep = Annotated[_Service, Depends(_service)]


async def _caller(service: ServiceDep,
                  credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
                  ) -> Principal:
    return _admit(service, credentials.credentials if credentials else None)


def _admit(service: _Service, key: str | None) -> Principal:
    """The caller a key belongs to, if it is within its rate limit."""
    principal = service.keys.authenticate(key)
    try:
        service.rate.check(principal.name)
    except Overloaded:
        service.host.metrics.inc("corral_rejected_total", reason="rate_limit")
        raise
    return principal


def _bearer_key(request: Request) -> str | None:
    """What ``HTTPBearer`` reads from the Authorization header, without a dependency."""
    scheme, _, key = (request.headers.get("authorization") or "").partition(" ")
    return key.strip() if scheme.lower() == "bearer" and key.strip() else None


CallerDep = Annotated[Principal, Depends(_caller)]


async def _admin(principal: CallerDep) -> Principal:
    if not principal.is_admin:
        raise AccessDenied("this endpoint needs an admin key")
    return principal


AdminDep = Annotated[Principal, Depends(_admin)]

_PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ProblemDocument, "description": description, "content": {
        PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemDocument"}}}}
    for status, description in ((400, "Bad input"), (401, "Missing or unknown API key"),
                                (403, "Not allowed for this key"), (404, "Not found"),
                                (429, "Over capacity or rate limit; see Retry-After"),
                                (502, "The pack or an upstream API failed"),
                                (504, "Timed out"))
}

v1 = APIRouter(prefix="/v1", responses=_PROBLEM_RESPONSES)


# -- calling ------------------------------------------------------------------------------


# The two hottest routes take the Request, check the key and read the body themselves:
# FastAPI's dependency solving and validation cost more than the pack call. The OpenAPI
# document still shows them all: bearer scheme, path parameters, body (see
# _document_call_body) and result.
def _call_doc(name: str) -> dict[str, Any]:
    def in_path(param: str) -> dict[str, Any]:
        return {"name": param, "in": "path", "required": True, "schema": {"type": "string"}}

    return {"security": [{"HTTPBearer": []}],
            "parameters": [in_path("pack"), in_path(name)],
            "requestBody": {"content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/CallBody"}}}}}


@v1.post("/packs/{pack}/formulas/{formula}", response_model=CallResult,
         summary="Call a formula", openapi_extra=_call_doc("formula"))
async def call_formula(request: Request) -> Response:
    path = request.path_params
    return await _call(request, path["pack"], path["formula"], action=False)


@v1.post("/packs/{pack}/actions/{action}", response_model=CallResult, summary="Run an action",
         openapi_extra=_call_doc("action"))
async def call_action(request: Request) -> Response:
    path = request.path_params
    return await _call(request, path["pack"], path["action"], action=True)


# -- packs --------------------------------------------------------------------------------

_WASM_BODY = {"requestBody": {"required": True, "content": {
    "application/wasm": {"schema": {"type": "string", "format": "binary"}}}}}


@v1.post("/packs", status_code=201, response_model=PackDetail, openapi_extra=_WASM_BODY,
         responses={409: _PROBLEM_RESPONSES[400] | {"description": "Same version, other bytes"},
                    413: _PROBLEM_RESPONSES[400] | {"description": "Over max_upload_bytes"},
                    422: _PROBLEM_RESPONSES[400] | {"description": "Not a valid pack"}},
         summary="Upload a pack (.wasm) and register it (admin)")
async def upload_pack(request: Request, service: ServiceDep, _: AdminDep,
                      activate: bool = True) -> PackDetail:
    wasm = await _read_capped(request, service.settings.max_upload_bytes)
    if not wasm:
        raise ArgumentError("the request body must be the pack's .wasm file", field="body")
    pack = await service.run(_register_upload, service.host, wasm, activate)
    return _pack_detail(service.host, pack)


@v1.get("/packs", response_model=list[PackSummary], summary="List the active packs")
async def list_packs(service: ServiceDep, _: CallerDep) -> list[PackSummary]:
    return [_pack_summary(p) for p in service.host.registry.packs()]


@v1.get("/packs/{pack}", response_model=PackDetail, summary="A pack's manifest and versions")
async def get_pack(pack: str, service: ServiceDep, _: CallerDep) -> PackDetail:
    return _pack_detail(service.host, service.host.pack(pack))


@v1.delete("/packs/{pack}", status_code=204, response_class=Response,
           summary="Remove a pack and all its versions (admin)")
async def delete_pack(pack: str, service: ServiceDep, _: AdminDep) -> Response:
    service.host.registry.remove(pack)
    return Response(status_code=204)


@v1.post("/evaluate", response_model=CallResult, summary="Evaluate a formula")
async def evaluate(body: EvaluateBody, service: ServiceDep, principal: CallerDep) -> CallResult:
    run = partial(service.host.evaluate, body.formula, principal=principal.name,
                  connections=body.connections)
    return CallResult(result=to_json(await service.run(run)))


@v1.post("/packs/{pack}/tables/{table}/sync",
         responses={200: {"content": {"application/x-ndjson": {}},
                          "description": 'One JSON object a line: {"page": n, "rows": [...]} '
                                         'per page, then {"done": true, "rows": total} or '
                                         '{"error": problem}.'}},
         response_class=StreamingResponse, summary="Run a sync table, streaming NDJSON pages")
async def sync_table(pack: str, table: str, body: SyncBody, request: Request,
                     service: ServiceDep, principal: CallerDep) -> StreamingResponse:
    start = partial(service.host.sync, pack, table, *body.args, connection=body.connection,
                    principal=principal.name, max_pages=body.max_pages)
    pages = await service.run(start)
    # The first page is read before answering, so a call that cannot start gets its
    # proper status code rather than a 200 with an error line.
    first = await service.run(next, pages, None)
    lines = _sync_lines(service, pages, first, labels={"pack": pack, "table": table},
                        instance=request.url.path)
    return StreamingResponse(lines, media_type="application/x-ndjson")


@v1.post("/packs/{pack}/tables/{table}/update", response_model=UpdateResults,
         summary="Two-way sync: send edited rows back through the pack")
async def update_rows(pack: str, table: str, body: UpdateBody, service: ServiceDep,
                      principal: CallerDep) -> UpdateResults:
    run = partial(service.host.sync_update, pack, table, body.updates, *body.args,
                  connection=body.connection, principal=principal.name,
                  dynamic_url=body.dynamic_url)
    results = await service.run(run)
    return UpdateResults(results=[to_json(r.to_dict()) for r in results])


@v1.get("/packs/{pack}/tables/{table}/urls", response_model=DynamicUrls,
        summary="The URLs a dynamic sync table can show")
async def dynamic_table_urls(pack: str, table: str, service: ServiceDep, principal: CallerDep,
                             connection: str | None = None) -> DynamicUrls:
    run = partial(service.host.dynamic_urls, pack, table, connection=connection,
                  principal=principal.name)
    return DynamicUrls(urls=await service.run(run))


@v1.post("/packs/{pack}/tables/{table}/schema", response_model=SchemaOut,
         summary="The schema of a dynamic sync table at one URL")
async def dynamic_table_schema(pack: str, table: str, body: DynamicSchemaBody,
                               service: ServiceDep, principal: CallerDep) -> SchemaOut:
    run = partial(service.host.dynamic_schema, pack, table, body.url,
                  connection=body.connection, principal=principal.name)
    schema = await service.run(run)
    return SchemaOut(schema=schema.to_dict())


@v1.post("/packs/{pack}/autocomplete/{name}", response_model=Options,
         summary="Suggestions for a parameter that declares autocomplete")
async def autocomplete(pack: str, name: str, body: AutocompleteBody, service: ServiceDep,
                       principal: CallerDep) -> Options:
    run = partial(service.host.autocomplete, pack, name, body.param, body.search, *body.args,
                  connection=body.connection, principal=principal.name)
    return Options(options=to_json(await service.run(run)))


# -- connections --------------------------------------------------------------------------


@v1.post("/connections", status_code=201, response_model=ConnectionOut,
         summary="Create a connection (the secret is sealed and never shown again)")
async def create_connection(body: ConnectionCreate, service: ServiceDep,
                            principal: CallerDep) -> ConnectionOut:
    manifest = service.host.pack(body.pack).manifest
    info = await service.run(partial(service.host.connections.create, principal=principal.name,
                                     pack=manifest, name=body.name, secret=body.secret))
    return ConnectionOut(**info.to_dict())


@v1.get("/connections", response_model=list[ConnectionOut], summary="The caller's connections")
async def list_connections(service: ServiceDep, principal: CallerDep,
                           pack: str | None = None) -> list[ConnectionOut]:
    infos = await service.run(partial(service.host.connections.list, principal.name, pack))
    return [ConnectionOut(**info.to_dict()) for info in infos]


@v1.post("/connections/{connection_id}/test", response_model=ConnectionOut,
         summary="Check that a connection's credentials are usable")
async def test_connection(connection_id: str, service: ServiceDep,
                          principal: CallerDep) -> ConnectionOut:
    store = service.host.connections
    info = await service.run(store.get, principal.name, connection_id)
    manifest = service.host.pack(info.pack).manifest
    tested = await service.run(store.test, principal.name, connection_id, manifest)
    return ConnectionOut(**tested.to_dict())


@v1.delete("/connections/{connection_id}", status_code=204, response_class=Response,
           summary="Delete a connection")
async def delete_connection(connection_id: str, service: ServiceDep,
                            principal: CallerDep) -> Response:
    await service.run(service.host.connections.delete, principal.name, connection_id)
    return Response(status_code=204)


@v1.get("/oauth2/{pack}/start", response_model=OAuthStart,
        summary="Begin an OAuth2 authorization (public client, PKCE)")
async def oauth_start(pack: str, request: Request, service: ServiceDep, principal: CallerDep,
                      client_id: str, name: str | None = None,
                      connection_id: str | None = None) -> OAuthStart:
    body = OAuthStartBody(client_id=client_id, name=name, connection_id=connection_id)
    return await _oauth_start(service, request, principal, pack, body)


@v1.post("/oauth2/{pack}/start", response_model=OAuthStart,
         summary="Begin an OAuth2 authorization (confidential client: secret in the body)")
async def oauth_start_confidential(pack: str, body: OAuthStartBody, request: Request,
                                   service: ServiceDep, principal: CallerDep) -> OAuthStart:
    return await _oauth_start(service, request, principal, pack, body)


@v1.get("/oauth2/callback", response_model=ConnectionOut, name="oauth2_callback",
        summary="Where the provider sends the user back (no API key: the state is the proof)")
async def oauth_callback(service: ServiceDep, state: Annotated[str, Query(min_length=1)],
                         code: str | None = None, error: str | None = None) -> ConnectionOut:
    if error is not None:
        raise AuthFlowError(f"the provider did not authorize the connection: {error[:100]}")
    if not code:
        raise ArgumentError("the callback needs a code", field="code")
    info = await service.run(partial(service.host.connections.complete_authorization,
                                     state, code))
    return ConnectionOut(**info.to_dict())


# -- API keys -----------------------------------------------------------------------------


@v1.post("/keys", status_code=201, response_model=KeyCreated, summary="Make an API key (admin)")
async def create_key(body: KeyCreate, service: ServiceDep, _: AdminDep) -> KeyCreated:
    info, key = await service.run(service.keys.create, body.name, body.role)
    return KeyCreated(**info.to_dict(), key=key)


@v1.get("/keys", response_model=list[KeyInfo], summary="List API keys, without the keys (admin)")
async def list_keys(service: ServiceDep, _: AdminDep) -> list[KeyInfo]:
    return [KeyInfo(**info.to_dict()) for info in service.keys.list_keys()]


@v1.delete("/keys/{key_id}", status_code=204, response_class=Response,
           summary="Revoke an API key (admin)")
async def revoke_key(key_id: str, service: ServiceDep, _: AdminDep) -> Response:
    await service.run(service.keys.revoke, key_id)
    return Response(status_code=204)


# -- operations ---------------------------------------------------------------------------

ops = APIRouter()


@ops.get("/healthz", response_model=Status, summary="Liveness")
async def healthz() -> Status:
    return Status(status="ok")


@ops.get("/readyz", response_model=Ready, responses={503: _PROBLEM_RESPONSES[400]},
         summary="Readiness: packs loaded and not shutting down")
async def readyz(service: ServiceDep) -> Ready | JSONResponse:
    if not service.ready:
        return _problem_response(problem(503, "unavailable", "the service is starting or "
                                          "shutting down"))
    return Ready(status="ready", packs=len(service.host.registry.packs()),
                 call_path=service.host.sandbox.call_path)


@ops.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics")
async def metrics(service: ServiceDep) -> PlainTextResponse:
    service.host.metrics.call_path(service.host.sandbox.call_path)
    return PlainTextResponse(service.host.metrics.render(),
                             media_type="text/plain; version=0.0.4; charset=utf-8")


# -- the app ------------------------------------------------------------------------------


def create_app(host: Host, settings: Settings | None = None, *,
               keys: ApiKeyStore | None = None) -> FastAPI:
    """The HTTP service over ``host``. API keys live in ``data_dir/api-keys.json`` unless
    ``keys`` is given. The app does not close the host: whoever made it does."""
    settings = settings or host.settings
    service = _Service(host, settings, keys or ApiKeyStore(settings.data_dir / "api-keys.json"))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.ready = True
        yield
        service.ready = False

    app = FastAPI(title="Corral", version=_version(), lifespan=lifespan,
                  description="Sandboxed WebAssembly packs: formulas, actions, sync tables "
                              "and connections over HTTP.")
    app.state.corral = service
    app.include_router(v1)
    app.include_router(ops)
    _add_error_handlers(app)
    app.add_middleware(_RequestMetrics, service=service)
    _document_call_body(app)
    return app


def _document_call_body(app: FastAPI) -> None:
    """Put ``CallBody`` in the OpenAPI components: the call routes read their body
    themselves, so FastAPI does not find the model on its own."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            schema.setdefault("components", {}).setdefault("schemas", {}).setdefault(
                "CallBody", CallBody.model_json_schema(ref_template="#/components/schemas/{model}"))
        return app.openapi_schema or build()

    app.openapi = openapi  # type: ignore[method-assign]


def _version() -> str:
    from .. import __version__

    return __version__


# -- helpers ------------------------------------------------------------------------------


async def _call(request: Request, pack: str, name: str, *, action: bool) -> Response:
    service: _Service = request.app.state.corral
    principal = _admit(service, _bearer_key(request))
    body = await _call_body(request)
    definition = service.host.resolve(pack, name).formula
    if definition.is_action != action:
        what, path = ("an action", "actions") if definition.is_action else ("a formula",
                                                                            "formulas")
        raise ArgumentError(f"{pack}.{definition.name} is {what}: POST it to "
                            f"/v1/packs/{pack}/{path}/{definition.name}", pack=pack,
                            formula=definition.name)
    submit = partial(service.host.submit_call, pack, name, *body.args,
                     connection=body.connection, principal=principal.name)
    value = to_json(await service.await_future(submit))
    return JSONResponse({"result": value})


async def _call_body(request: Request) -> CallBody:
    """The JSON body of a call, validated as FastAPI would (an empty body means no
    arguments); errors name the field, never echo the input."""
    raw = await request.body()
    if not raw.strip():
        return CallBody(connection=None)
    try:
        return CallBody.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError([{**err, "loc": ("body", *err["loc"])}
                                      for err in exc.errors(include_input=False)]) from None


async def _read_capped(request: Request, cap: int) -> bytes:
    too_large = PayloadTooLarge(f"the upload is larger than the limit of {cap} bytes "
                                "(max_upload_bytes)", field="body")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _register_upload(host: Host, wasm: bytes, activate: bool) -> Pack:
    """Validate and register uploaded bytes; a version, once stored, never changes."""
    manifest = read_manifest(wasm, source="upload")
    digest = wasm_sha256(wasm)
    try:
        versions = host.registry.versions(manifest.name)
    except NotFoundError:
        versions = []
    for stored in versions:
        if stored.version == manifest.version and not digest.startswith(stored.sha256):
            raise Conflict(f"pack {manifest.name!r} already has a version {manifest.version} "
                           "with different contents; bump the version", pack=manifest.name)
    return host.registry.register(wasm, source=f"upload of {manifest.name}", activate=activate)


def _pack_summary(pack: Pack) -> PackSummary:
    manifest = pack.manifest
    return PackSummary(name=pack.name, version=pack.version, description=manifest.description,
                       sha256=pack.sha256,
                       formulas=[f.name for f in manifest.formulas if not f.is_action],
                       actions=[f.name for f in manifest.formulas if f.is_action],
                       sync_tables=[t.name for t in manifest.sync_tables])


def _pack_detail(host: Host, pack: Pack) -> PackDetail:
    versions = [PackVersionInfo(version=v.version, sha256_prefix=v.sha256, active=v.active)
                for v in host.registry.versions(pack.name)]
    return PackDetail(name=pack.name, version=pack.version, sha256=pack.sha256,
                      manifest=pack.manifest.to_dict(), versions=versions)


async def _oauth_start(service: _Service, request: Request, principal: Principal, pack: str,
                       body: OAuthStartBody) -> OAuthStart:
    manifest = service.host.pack(pack).manifest
    public = service.settings.public_url
    redirect_uri = (public.rstrip("/") + "/v1/oauth2/callback" if public
                    else str(request.url_for("oauth2_callback")))
    url, _state = await service.run(partial(
        service.host.connections.start_authorization, pack=manifest, principal=principal.name,
        client_id=body.client_id, client_secret=body.client_secret, redirect_uri=redirect_uri,
        name=body.name, connection_id=body.connection_id))
    return OAuthStart(authorize_url=url)


async def _sync_lines(service: _Service, pages: Iterator[list[dict[str, Any]]],
                      first: list[dict[str, Any]] | None, *, labels: dict[str, str],
                      instance: str) -> AsyncIterator[bytes]:
    number = total = 0
    page = first
    try:
        while page is not None:
            number += 1
            total += len(page)
            service.host.metrics.inc("corral_sync_rows_total", len(page), **labels)
            yield _line({"page": number, "rows": to_json(page)})
            page = await service.run(next, pages, None)
        yield _line({"done": True, "rows": total, "pages": number})
    except CorralError as exc:
        yield _line({"error": problem_for(exc, instance=instance).body})
    except Exception:
        log.exception("sync of %s failed", instance)
        yield _line({"error": internal_problem(instance=instance).body})
    finally:
        close = getattr(pages, "close", None)
        if close is not None:
            close()


def _line(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def to_json(value: Any) -> Any:
    """A pack value as JSON: bytes become ``{"$binary": hex}``, non-finite floats strings."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$binary": bytes(value).hex()}
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value


# -- errors and metrics -------------------------------------------------------------------


def _problem_response(found: Problem) -> JSONResponse:
    return JSONResponse(found.body, status_code=found.status, headers=found.headers,
                        media_type=PROBLEM_MEDIA_TYPE)


def _add_error_handlers(app: FastAPI) -> None:
    async def corral_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, CorralError)
        found = problem_for(exc, instance=request.url.path)
        if found.status >= 500 and found.status not in (502, 504):
            log.error("request %s failed: %s", request.url.path, exc, exc_info=exc)
        return _problem_response(found)

    async def bad_request(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        # Never echo the input: a rejected body may hold a secret.
        errors = [{"loc": [str(part) for part in err.get("loc", ())], "msg": err.get("msg", "")}
                  for err in exc.errors()]
        where = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors[:5])
        return _problem_response(problem(400, "bad_request", f"invalid request: {where}",
                                         instance=request.url.path, errors=errors))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        kinds = {404: "not_found", 405: "method_not_allowed"}
        return _problem_response(problem(exc.status_code, kinds.get(exc.status_code, "http"),
                                         str(exc.detail), instance=request.url.path,
                                         headers=dict(exc.headers or {})))

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.error("request %s failed unexpectedly", request.url.path, exc_info=exc)
        return _problem_response(internal_problem(instance=request.url.path))

    app.add_exception_handler(CorralError, corral_error)
    app.add_exception_handler(RequestValidationError, bad_request)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)


class _RequestMetrics:
    """Counts HTTP requests by route template (not raw path), method and status."""

    def __init__(self, app: ASGIApp, service: _Service) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

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

