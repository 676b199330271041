"""The account routes: connections, the OAuth2 flow and API keys.

The OAuth2 flow is bound to the browser that starts it: the start route sets a
short-lived cookie (HttpOnly, ``SameSite=Lax``, scoped to the callback's path, Secure
under an https ``public_url``) holding a random binding value, and the store keeps only
its hash with the pending state. The callback completes the flow only when that cookie
comes back, and only into the account of the principal that started it; a browser is
then sent on to the console's connections page (also when the flow fails, with only the
error's kind), an API client gets the connection as JSON (or the problem). ``Lax``, not
``Strict``: the callback is a top-level navigation the provider's site starts (a
redirect), and browsers send ``Strict`` cookies on none of those.
The ``redirect_uri`` is built from the ``public_url`` setting alone, never from the
request's ``Host`` header; without it OAuth2 is refused.

This module deliberately does not use ``from __future__ import annotations``: FastAPI
reads the annotations of the route functions at import time.
"""

import hashlib
import secrets
from functools import partial
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from .._connections.store import DEFAULT_STATE_TTL_S
from .._connections.records import ConnectionInfo
from .._errors import ArgumentError, AuthFlowError, CorralError
from .apikeys import Principal
from .guard import CALLBACK_PATH
from .models import (
    ConnectionCreate,
    ConnectionOut,
    KeyCreate,
    KeyCreated,
    KeyInfo,
    OAuthStart,
    OAuthStartBody,
)
from .problems import problem
from .service import (
    PROBLEM_RESPONSES,
    AdminDep,
    CallerDep,
    Service,
    ServiceDep,
    problem_response,
)


accounts = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES)


# -- connections --------------------------------------------------------------------------


@accounts.post("/connections", status_code=201, response_model=ConnectionOut,
         summary="Create a connection (the secret is sealed and never shown again)")
async def create_connection(body: ConnectionCreate, service: ServiceDep,
                            principal: CallerDep) -> ConnectionOut:
    service.host.pack(body.pack)  # an unknown pack is a 404 before anything is stored
    # Unnamed, the pack's connection_name op names it (its failure keeps a default name).
    info = await service.run(principal.name, partial(
        service.host.create_connection, principal=principal.name, pack=body.pack,
        name=body.name, secret=body.secret))
    return ConnectionOut(**info.to_dict())


@accounts.get("/connections", response_model=list[ConnectionOut], summary="The caller's connections")
async def list_connections(service: ServiceDep, principal: CallerDep,
                           pack: str | None = None) -> list[ConnectionOut]:
    infos = await service.run(principal.name,
                              partial(service.host.connections.list, principal.name, pack))
    return [ConnectionOut(**info.to_dict()) for info in infos]


@accounts.post("/connections/{connection_id}/test", response_model=ConnectionOut,
         summary="Check that a connection's credentials are usable")
async def test_connection(connection_id: str, service: ServiceDep,
                          principal: CallerDep) -> ConnectionOut:
    store = service.host.connections
    info = await service.run(principal.name, store.get, principal.name, connection_id)
    manifest = service.host.pack(info.pack).manifest
    tested = await service.run(principal.name, store.test, principal.name, connection_id,
                               manifest)
    return ConnectionOut(**tested.to_dict())


@accounts.delete("/connections/{connection_id}", status_code=204, response_class=Response,
           summary="Delete a connection")
async def delete_connection(connection_id: str, service: ServiceDep,
                            principal: CallerDep) -> Response:
    await service.run(principal.name, service.host.connections.delete, principal.name,
                      connection_id)
    return Response(status_code=204)


_OAUTH_RESPONSES: dict[int | str, dict[str, object]] = {
    503: PROBLEM_RESPONSES[400] | {"description": "OAuth2 is off: no public_url is set"}}


@accounts.get("/oauth2/{pack}/start", response_model=OAuthStart, responses=_OAUTH_RESPONSES,
        summary="Begin an OAuth2 authorization (public client, PKCE); sets the flow's "
                "browser cookie")
async def oauth_start(pack: str, service: ServiceDep, principal: CallerDep,
                      client_id: str, name: str | None = None,
                      connection_id: str | None = None) -> Response:
    body = OAuthStartBody(client_id=client_id, name=name, connection_id=connection_id)
    return await _oauth_start(service, principal, pack, body)


@accounts.post("/oauth2/{pack}/start", response_model=OAuthStart, responses=_OAUTH_RESPONSES,
         summary="Begin an OAuth2 authorization (confidential client: secret in the body)")
async def oauth_start_confidential(pack: str, body: OAuthStartBody, service: ServiceDep,
                                   principal: CallerDep) -> Response:
    return await _oauth_start(service, principal, pack, body)


@accounts.get("/oauth2/callback", response_model=ConnectionOut, name="oauth2_callback",
        responses={303: {"description": "A browser (Accept: text/html) is sent on to the "
                                        "console's connections page instead, after a "
                                        "success or a failure"}},
        summary="Where the provider sends the user back (no API key: the state and the "
                "browser cookie set by the start are the proof)")
async def oauth_callback(request: Request, service: ServiceDep,
                         state: Annotated[str, Query(min_length=1, max_length=512)],
                         code: str | None = None, error: str | None = None) -> Response:
    try:
        info = await _complete_authorization(request, service, state, code, error)
    except CorralError as exc:
        if not _from_a_browser(request):
            raise
        # Only the error's kind goes into the address: the console says what it means in
        # its own words, so a crafted link cannot make it show someone else's text.
        done: Response = RedirectResponse(_console_connections(service, "oauth_failed",
                                                               exc.kind), status_code=303)
    else:
        done = JSONResponse(ConnectionOut(**info.to_dict()).model_dump())
        if _from_a_browser(request):
            done = RedirectResponse(_console_connections(service, "connected", info.id),
                                    status_code=303)
    done.delete_cookie(_cookie_name(state), path=_callback_path(service), httponly=True,
                       samesite="lax")
    return done


async def _complete_authorization(request: Request, service: Service, state: str,
                                  code: str | None, error: str | None) -> ConnectionInfo:
    if error is not None:
        raise AuthFlowError(f"the provider did not authorize the connection: {error[:100]}")
    if not code:
        raise ArgumentError("the callback needs a code", field="code")
    client = request.client
    who = f"address:{client.host if client else 'unknown'}"
    binding = request.cookies.get(_cookie_name(state))
    info: ConnectionInfo = await service.run(who, partial(
        service.host.complete_authorization, state, code, browser_binding=binding))
    return info


# -- API keys -----------------------------------------------------------------------------


@accounts.post("/keys", status_code=201, response_model=KeyCreated, summary="Make an API key (admin)")
async def create_key(body: KeyCreate, service: ServiceDep, admin: AdminDep) -> KeyCreated:
    info, key = await service.run(admin.name, service.keys.create, body.name, body.role)
    return KeyCreated(**info.to_dict(), key=key)


@accounts.get("/keys", response_model=list[KeyInfo], summary="List API keys, without the keys (admin)")
async def list_keys(service: ServiceDep, _: AdminDep) -> list[KeyInfo]:
    return [KeyInfo(**info.to_dict()) for info in service.keys.list_keys()]


@accounts.delete("/keys/{key_id}", status_code=204, response_class=Response,
           summary="Revoke an API key (admin)")
async def revoke_key(key_id: str, service: ServiceDep, admin: AdminDep) -> Response:
    await service.run(admin.name, service.keys.revoke, key_id)
    return Response(status_code=204)


async def _oauth_start(service: Service, principal: Principal, pack: str,
                       body: OAuthStartBody) -> Response:
    manifest = service.host.pack(pack).manifest
    public = service.settings.public_url
    if not public:
        return problem_response(problem(
            503, "oauth_unavailable", "OAuth2 is off: set the service's public_url "
            "(CORRAL_PUBLIC_URL, or corral serve --public-url) to the address browsers "
            "reach it at; the redirect_uri is built from it"))
    redirect_uri = public.rstrip("/") + CALLBACK_PATH
    binding = secrets.token_urlsafe(32)
    url, state = await service.run(principal.name, partial(
        service.host.connections.start_authorization, pack=manifest, principal=principal.name,
        client_id=body.client_id, client_secret=body.client_secret, redirect_uri=redirect_uri,
        name=body.name, connection_id=body.connection_id, browser_binding=binding))
    started = JSONResponse(OAuthStart(authorize_url=url).model_dump())
    started.set_cookie(_cookie_name(state), binding, max_age=int(DEFAULT_STATE_TTL_S),
                       path=urlsplit(redirect_uri).path, secure=redirect_uri.startswith("https:"),
                       httponly=True, samesite="lax")
    return started


def _from_a_browser(request: Request) -> bool:
    """A page navigation (the provider's redirect) rather than an API client: browsers
    ask for HTML first, API clients for JSON or anything."""
    accept = request.headers.get("accept", "")
    return accept.startswith("text/html") or request.headers.get("sec-fetch-mode") == "navigate"


def _console_connections(service: Service, name: str, value: str) -> str:
    """The console's connections page, told how the flow ended (``connected=<id>`` or
    ``oauth_failed=<error kind>``)."""
    public = (service.settings.public_url or "").rstrip("/")
    return f"{public}/#/connections?{name}={quote(value, safe='')}"


def _callback_path(service: Service) -> str:
    """The callback's path as browsers see it (under a proxy's prefix, if any)."""
    return urlsplit((service.settings.public_url or "").rstrip("/") + CALLBACK_PATH).path


def _cookie_name(state: str) -> str:
    """One cookie per flow, so flows started side by side do not undo each other."""
    return "corral_oauth_" + hashlib.sha256(state.encode()).hexdigest()[:16]
