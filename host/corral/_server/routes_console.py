"""The console's session API: sign in with an API key, read the session, sign out.

``POST /v1/console/session`` takes ``{"key": ...}`` (the only ``/v1`` route the guard lets
in without a key or session; it is rate limited per address like the other public
routes) and answers with the session's principal, role and CSRF token, setting the
session cookie. ``GET`` tells a reloaded page who is signed in and its CSRF token;
``DELETE`` (with the CSRF token, as any state-changing request) signs out. How sessions
are kept and checked: ``sessions.py``.

This module deliberately does not use ``from __future__ import annotations``: FastAPI
reads the annotations of the route functions at import time.
"""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from .._errors import AccessDenied, Unauthenticated
from .apikeys import Principal
from .service import PROBLEM_RESPONSES, CallerDep, Service, ServiceDep, admit
from .sessions import COOKIE_NAME, CSRF_HEADER, Session

console_api = APIRouter(prefix="/v1/console", responses=PROBLEM_RESPONSES, tags=["console"])

_NO_STORE = {"Cache-Control": "no-store"}
#: Values of the Fetch Metadata ``Sec-Fetch-Site`` header a sign-in may come with: the
#: console's own page, or a request the user typed (curl sends none at all).
_OWN_SITE = ("same-origin", "none")


class SignIn(BaseModel):
    key: str = Field(min_length=1, max_length=4096,
                     description="An API key; exchanged for the session cookie, never stored.")


class ConsoleSession(BaseModel):
    principal: str
    role: str
    key_id: str = Field(description="The id of the key signed in with (never the key).")
    csrf_token: str = Field(description=f"Send it in the {CSRF_HEADER!r} header with every "
                                        "state-changing request made with the cookie.")
    expires_in_s: float


@console_api.post("/session", status_code=201, response_model=ConsoleSession,
                  summary="Sign in to the console: an API key for a session cookie")
async def sign_in(body: SignIn, request: Request, service: ServiceDep) -> JSONResponse:
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in _OWN_SITE:
        # Login CSRF: another site must not sign this browser in as someone else.
        raise AccessDenied("a console sign-in must come from the console's own page")
    principal = admit(service, body.key)
    service.sessions.end(request.cookies.get(COOKIE_NAME))  # a fresh id at every sign-in
    session_id, session = service.sessions.create(principal)
    answer = JSONResponse(_describe(principal, session, service.sessions.clock()).model_dump(),
                          status_code=201, headers=_NO_STORE)
    answer.set_cookie(COOKIE_NAME, session_id, max_age=int(service.sessions.ttl_s), path="/",
                      secure=_secure(request, service), httponly=True, samesite="strict")
    return answer


@console_api.get("/session", response_model=ConsoleSession,
                 summary="The console session of this browser, with its CSRF token")
async def current_session(request: Request, service: ServiceDep,
                          principal: CallerDep) -> JSONResponse:
    session = service.sessions.get(request.cookies.get(COOKIE_NAME))
    if session is None or session.key_id != principal.key_id:
        raise Unauthenticated("no console session: sign in at the console first")
    return JSONResponse(_describe(principal, session, service.sessions.clock()).model_dump(),
                        headers=_NO_STORE)


@console_api.delete("/session", status_code=204, response_class=Response,
                    summary="Sign out of the console (needs the CSRF token)")
async def sign_out(request: Request, service: ServiceDep, _: CallerDep) -> Response:
    service.sessions.end(request.cookies.get(COOKIE_NAME))
    answer = Response(status_code=204, headers=_NO_STORE)
    answer.delete_cookie(COOKIE_NAME, path="/", secure=_secure(request, service),
                         httponly=True, samesite="strict")
    return answer


def _secure(request: Request, service: Service) -> bool:
    """Mark the cookie Secure when the console is reached over https: the request's own
    scheme, or the configured public URL (behind a proxy that ends TLS)."""
    public = service.settings.public_url or ""
    return request.url.scheme == "https" or public.startswith("https://")


def _describe(principal: Principal, session: Session, now: float) -> ConsoleSession:
    return ConsoleSession(principal=principal.name, role=principal.role,
                          key_id=principal.key_id, csrf_token=session.csrf_token,
                          expires_in_s=max(0.0, session.expires_at - now))


def session_security(schema: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document with the session cookie as the other way in, beside the bearer
    key, wherever a bearer key is wanted."""
    schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes["ConsoleSession"] = {
        "type": "apiKey", "in": "cookie", "name": COOKIE_NAME,
        "description": "The console's session (POST /v1/console/session); a state-changing "
                       f"request with it also needs the {CSRF_HEADER!r} header."}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            security = operation.get("security") or []
            cookie: dict[str, list[str]] = {"ConsoleSession": []}
            if {"HTTPBearer": []} in security and cookie not in security:
                security.append(cookie)
    return schema
