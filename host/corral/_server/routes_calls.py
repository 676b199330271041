"""The hot routes: calling formulas and actions, packs, sync tables, evaluate.

This module deliberately does not use ``from __future__ import annotations``: FastAPI
reads the annotations of the route functions at import time.
"""

import json
import logging
from functools import partial
from typing import Any, AsyncIterator, Iterator

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from .._errors import ArgumentError, Conflict, CorralError, NotFoundError
from .._host import Host
from .._runtime.pack import Pack, read_manifest, wasm_sha256
from .models import (
    AutocompleteBody,
    CallResult,
    DynamicSchemaBody,
    DynamicUrls,
    EvaluateBody,
    Options,
    PackDetail,
    PackSummary,
    PackVersionInfo,
    SchemaOut,
    SyncBody,
    UpdateBody,
    UpdateResults,
)
from .calling import EVALUATE_HEADERS, call_value, evaluate_formula
from .runs import PendingRun
from .problems import internal_problem, problem_for
from .service import (
    PROBLEM_RESPONSES,
    AdminDep,
    CallerDep,
    Service,
    ServiceDep,
    principal_of,
    read_capped,
    to_json,
)

log = logging.getLogger("corral.server")

calls = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES)


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


@calls.post("/packs/{pack}/formulas/{formula}", response_model=CallResult,
         summary="Call a formula", openapi_extra=_call_doc("formula"))
async def call_formula(request: Request) -> Response:
    path = request.path_params
    return await _call(request, path["pack"], path["formula"], action=False)


@calls.post("/packs/{pack}/actions/{action}", response_model=CallResult, summary="Run an action",
         openapi_extra=_call_doc("action"))
async def call_action(request: Request) -> Response:
    path = request.path_params
    return await _call(request, path["pack"], path["action"], action=True)


# -- packs --------------------------------------------------------------------------------

_APPROVE_DOC = (
    "Declared network domains (repeat the parameter, or separate them with commas) the "
    "operator approves for calls that hold a connection, beyond the pack's auth domains. "
    "Each must be one of the manifest's network_domains (else 400). Given, it replaces "
    "what this version had recorded (an empty value revokes them all); absent, it keeps it.")


def _approvals(approve: list[str] | None) -> list[str] | None:
    if approve is None:
        return None
    return [part.strip() for item in approve for part in item.split(",") if part.strip()]


_WASM_BODY = {"requestBody": {"required": True, "content": {
    "application/wasm": {"schema": {"type": "string", "format": "binary"}}}}}


@calls.post("/packs", status_code=201, response_model=PackDetail, openapi_extra=_WASM_BODY,
         responses={409: PROBLEM_RESPONSES[400] | {"description": "Same version, other bytes"},
                    413: PROBLEM_RESPONSES[400] | {"description": "Over max_upload_bytes"},
                    422: PROBLEM_RESPONSES[400] | {"description": "Not a valid pack"}},
         summary="Upload a pack (.wasm) and register it (admin)")
async def upload_pack(request: Request, service: ServiceDep, admin: AdminDep,
                      activate: bool = True,
                      approve: list[str] | None = Query(None, description=_APPROVE_DOC)
                      ) -> PackDetail:
    wasm = await read_capped(request, service.settings.max_upload_bytes)
    if not wasm:
        raise ArgumentError("the request body must be the pack's .wasm file", field="body")
    pack = await service.run(admin.name, _register_upload, service.host, wasm, activate,
                             _approvals(approve))
    return _pack_detail(service.host, pack)


@calls.get("/packs", response_model=list[PackSummary], summary="List the active packs")
async def list_packs(service: ServiceDep, _: CallerDep) -> list[PackSummary]:
    return [_pack_summary(p) for p in service.host.registry.packs()]


@calls.get("/packs/{pack}", response_model=PackDetail, summary="A pack's manifest and versions")
async def get_pack(pack: str, service: ServiceDep, _: CallerDep) -> PackDetail:
    return _pack_detail(service.host, service.host.pack(pack))


@calls.post("/packs/{pack}/versions/{version}/activate", response_model=PackDetail,
            summary="Make a stored version the active one: activate or roll back (admin)")
async def activate_version(pack: str, version: str, service: ServiceDep,
                           admin: AdminDep) -> PackDetail:
    activated = await service.run(admin.name, service.host.registry.activate, pack, version)
    return _pack_detail(service.host, activated)


@calls.delete("/packs/{pack}", status_code=204, response_class=Response,
           summary="Remove a pack and all its versions (admin)")
async def delete_pack(pack: str, service: ServiceDep, _: AdminDep) -> Response:
    service.host.registry.remove(pack)
    return Response(status_code=204)


@calls.post("/evaluate", response_model=CallResult, summary="Evaluate a formula",
            responses={200: {"headers": {name: {"description": doc, "schema": {"type": "string"}}
                                         for name, doc in EVALUATE_HEADERS.items()}}})
async def evaluate(body: EvaluateBody, request: Request, service: ServiceDep,
                   principal: CallerDep) -> JSONResponse:
    value, headers = await evaluate_formula(service, request, principal, body)
    return JSONResponse({"result": value}, headers=headers)


@calls.post("/packs/{pack}/tables/{table}/sync",
         responses={200: {"content": {"application/x-ndjson": {}},
                          "description": 'One JSON object a line: {"page": n, "rows": [...]} '
                                         'per page, then {"done": true, "rows": total} or '
                                         '{"error": problem}.'}},
         response_class=StreamingResponse, summary="Run a sync table, streaming NDJSON pages")
async def sync_table(pack: str, table: str, body: SyncBody, request: Request,
                     service: ServiceDep, principal: CallerDep) -> StreamingResponse:
    logged = service.runs.begin(principal.name, "sync", pack, table,
                                {"args": body.args, "connection": body.connection})
    start = partial(service.host.sync, pack, table, *body.args, connection=body.connection,
                    principal=principal.name, max_pages=body.max_pages,
                    dynamic_url=body.dynamic_url,
                    invocation=logged.invocation(
                        service.invocation(request, body.timezone, body.doc_id)))
    try:
        pages = await service.run(principal.name, start)
        # The first page is read before answering, so a call that cannot start gets its
        # proper status code rather than a 200 with an error line.
        first = await service.run(principal.name, next, pages, None)
    except BaseException as exc:
        service.runs.finish(logged, exc)
        raise
    lines = _sync_lines(service, principal.name, pages, first,
                        labels={"pack": pack, "table": table}, instance=request.url.path,
                        logged=logged)
    return StreamingResponse(lines, media_type="application/x-ndjson")


@calls.post("/packs/{pack}/tables/{table}/update", response_model=UpdateResults,
         summary="Two-way sync: send edited rows back through the pack")
async def update_rows(pack: str, table: str, body: UpdateBody, request: Request,
                      service: ServiceDep, principal: CallerDep) -> UpdateResults:
    run = partial(service.host.sync_update, pack, table, body.updates, *body.args,
                  connection=body.connection, principal=principal.name,
                  dynamic_url=body.dynamic_url,
                  invocation=service.invocation(request, body.timezone, body.doc_id))
    results = await service.run(principal.name, run)
    return UpdateResults(results=[to_json(r.to_dict()) for r in results])


@calls.get("/packs/{pack}/tables/{table}/urls", response_model=DynamicUrls,
        summary="The URLs a dynamic sync table can show")
async def dynamic_table_urls(pack: str, table: str, service: ServiceDep, principal: CallerDep,
                             connection: str | None = None) -> DynamicUrls:
    run = partial(service.host.dynamic_urls, pack, table, connection=connection,
                  principal=principal.name)
    return DynamicUrls(urls=await service.run(principal.name, run))


@calls.post("/packs/{pack}/tables/{table}/schema", response_model=SchemaOut,
         summary="The schema of a dynamic sync table at one URL")
async def dynamic_table_schema(pack: str, table: str, body: DynamicSchemaBody,
                               service: ServiceDep, principal: CallerDep) -> SchemaOut:
    run = partial(service.host.dynamic_schema, pack, table, body.url,
                  connection=body.connection, principal=principal.name)
    schema = await service.run(principal.name, run)
    return SchemaOut(schema=schema.to_dict())


@calls.post("/packs/{pack}/autocomplete/{name}", response_model=Options,
         summary="Suggestions for a parameter that declares autocomplete")
async def autocomplete(pack: str, name: str, body: AutocompleteBody, service: ServiceDep,
                       principal: CallerDep) -> Options:
    run = partial(service.host.autocomplete, pack, name, body.param, body.search, *body.args,
                  connection=body.connection, principal=principal.name)
    return Options(options=to_json(await service.run(principal.name, run)))


# -- helpers ------------------------------------------------------------------------------


async def _call(request: Request, pack: str, name: str, *, action: bool) -> Response:
    value = await call_value(request.app.state.corral, request, principal_of(request), pack,
                             name, await request.body(), action=action)
    return JSONResponse({"result": value})


def _register_upload(host: Host, wasm: bytes, activate: bool,
                     approved_domains: list[str] | None = None) -> Pack:
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
    return host.registry.register(wasm, source=f"upload of {manifest.name}", activate=activate,
                                  approved_domains=approved_domains)


def _pack_summary(pack: Pack) -> PackSummary:
    manifest = pack.manifest
    return PackSummary(name=pack.name, id=pack.pack_id, version=pack.version,
                       description=manifest.description, sha256=pack.sha256,
                       network_domains=list(manifest.network_domains),
                       auth_kind=manifest.auth.kind,
                       formulas=[f.name for f in manifest.formulas if not f.is_action],
                       actions=[f.name for f in manifest.formulas if f.is_action],
                       sync_tables=[t.name for t in manifest.sync_tables])


def _pack_detail(host: Host, pack: Pack) -> PackDetail:
    versions = [PackVersionInfo(version=v.version, sha256_prefix=v.sha256, active=v.active,
                                approved_domains=list(v.approved_domains))
                for v in host.registry.versions(pack.name)]
    return PackDetail(name=pack.name, id=pack.pack_id, version=pack.version, sha256=pack.sha256,
                      manifest=pack.manifest.to_dict(), versions=versions,
                      approved_domains=list(pack.approved_domains))


async def _sync_lines(service: Service, who: str, pages: Iterator[list[dict[str, Any]]],
                      first: list[dict[str, Any]] | None, *, labels: dict[str, str],
                      instance: str, logged: PendingRun) -> AsyncIterator[bytes]:
    number = total = 0
    page = first
    failure: BaseException | None = None
    try:
        while page is not None:
            number += 1
            total += len(page)
            service.host.metrics.inc("corral_sync_rows_total", len(page), **labels)
            yield _line({"page": number, "rows": to_json(page)})
            page = await service.run(who, next, pages, None)
        yield _line({"done": True, "rows": total, "pages": number})
    except CorralError as exc:
        failure = exc
        yield _line({"error": problem_for(exc, instance=instance).body})
    except Exception as exc:
        failure = exc
        log.exception("sync of %s failed", instance)
        yield _line({"error": internal_problem(instance=instance).body})
    finally:
        service.runs.finish(logged, failure)
        close = getattr(pages, "close", None)
        if close is not None:
            close()


def _line(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
