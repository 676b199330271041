"""The account routes: connections, the OAuth2 flow and API keys.

This module deliberately does not use ``from __future__ import annotations``: FastAPI
reads the annotations of the route functions at import time.
"""

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from .._errors import ArgumentError, AuthFlowError
from .apikeys import Principal
from .models import (
    ConnectionCreate,
    ConnectionOut,
    KeyCreate,
    KeyCreated,
    KeyInfo,
    OAuthStart,
    OAuthStartBody,
)
from .service import PROBLEM_RESPONSES, AdminDep, CallerDep, Service, ServiceDep


accounts = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES)


# -- connections --------------------------------------------------------------------------


@accounts.post("/connections", status_code=201, response_model=ConnectionOut,
         summary="Create a connection (the secret is sealed and never shown again)")
async def create_connection(body: ConnectionCreate, service: ServiceDep,
                            principal: CallerDep) -> ConnectionOut:
    manifest = service.host.pack(body.pack).manifest
    info = await service.run(partial(service.host.connections.create, principal=principal.name,
                                     pack=manifest, name=body.name, secret=body.secret))
    return ConnectionOut(**info.to_dict())


@accounts.get("/connections", response_model=list[ConnectionOut], summary="The caller's connections")
async def list_connections(service: ServiceDep, principal: CallerDep,
                           pack: str | None = None) -> list[ConnectionOut]:
    infos = await service.run(partial(service.host.connections.list, principal.name, pack))
    return [ConnectionOut(**info.to_dict()) for info in infos]


@accounts.post("/connections/{connection_id}/test", response_model=ConnectionOut,
         summary="Check that a connection's credentials are usable")
async def test_connection(connection_id: str, service: ServiceDep,
                          principal: CallerDep) -> ConnectionOut:
    store = service.host.connections
    info = await service.run(store.get, principal.name, connection_id)
    manifest = service.host.pack(info.pack).manifest
    tested = await service.run(store.test, principal.name, connection_id, manifest)
    return ConnectionOut(**tested.to_dict())


@accounts.delete("/connections/{connection_id}", status_code=204, response_class=Response,
           summary="Delete a connection")
async def delete_connection(connection_id: str, service: ServiceDep,
                            principal: CallerDep) -> Response:
    await service.run(service.host.connections.delete, principal.name, connection_id)
    return Response(status_code=204)


@accounts.get("/oauth2/{pack}/start", response_model=OAuthStart,
        summary="Begin an OAuth2 authorization (public client, PKCE)")
async def oauth_start(pack: str, request: Request, service: ServiceDep, principal: CallerDep,
                      client_id: str, name: str | None = None,
                      connection_id: str | None = None) -> OAuthStart:
    body = OAuthStartBody(client_id=client_id, name=name, connection_id=connection_id)
    return await _oauth_start(service, request, principal, pack, body)


@accounts.post("/oauth2/{pack}/start", response_model=OAuthStart,
         summary="Begin an OAuth2 authorization (confidential client: secret in the body)")
async def oauth_start_confidential(pack: str, body: OAuthStartBody, request: Request,
                                   service: ServiceDep, principal: CallerDep) -> OAuthStart:
    return await _oauth_start(service, request, principal, pack, body)


@accounts.get("/oauth2/callback", response_model=ConnectionOut, name="oauth2_callback",
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


@accounts.post("/keys", status_code=201, response_model=KeyCreated, summary="Make an API key (admin)")
async def create_key(body: KeyCreate, service: ServiceDep, _: AdminDep) -> KeyCreated:
    info, key = await service.run(service.keys.create, body.name, body.role)
    return KeyCreated(**info.to_dict(), key=key)


@accounts.get("/keys", response_model=list[KeyInfo], summary="List API keys, without the keys (admin)")
async def list_keys(service: ServiceDep, _: AdminDep) -> list[KeyInfo]:
    return [KeyInfo(**info.to_dict()) for info in service.keys.list_keys()]


@accounts.delete("/keys/{key_id}", status_code=204, response_class=Response,
           summary="Revoke an API key (admin)")
async def revoke_key(key_id: str, service: ServiceDep, _: AdminDep) -> Response:
    await service.run(service.keys.revoke, key_id)
    return Response(status_code=204)


async def _oauth_start(service: Service, request: Request, principal: Principal, pack: str,
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
