"""The door of the HTTP service: who may come in, and how much they may bring.

An ASGI middleware that runs before any route reads a byte of the body (FastAPI parses
model-typed bodies before it solves dependencies, so a dependency would be too late):

* ``/v1`` routes (but the OAuth2 callback, blob reads and the console's sign-in) need a
  valid API key, or a console session cookie (``sessions.py``: for a state-changing
  method with the session's CSRF token, else 403); a missing or unknown key or session is
  answered 401 at once, and its caller's rate limit is checked (429).
* Routes without a key (health, metrics, docs, the console's page and sign-in, the
  OAuth2 callback, blob URLs) and failed key or session checks take a token from a bucket
  per client address.
* A body is capped before it is parsed: a declared ``Content-Length`` over the cap is
  answered 413 without reading, and a streamed body is read here, up to the cap (413
  past it), and handed to the app whole.

The admitted principal is left in the request's state for the routes.
"""

from __future__ import annotations

from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .._errors import CorralError, Overloaded, PayloadTooLarge, Unauthenticated
from .apikeys import Principal
from .console_page import ASSETS_PATH as CONSOLE_ASSETS
from .docs import ASSETS_PATH as DOCS_ASSETS
from .docs import DOCS_PATH
from .problems import problem_for
from .service import PRINCIPAL_STATE, Service, problem_response
from .sessions import COOKIE_NAME, CSRF_HEADER, admit_session

CALLBACK_PATH = "/v1/oauth2/callback"
#: Blob URLs are capabilities: no key, the per-address bucket (see routes_blobs.py).
BLOB_PREFIX = "/v1/blobs/"
UPLOAD_PATH = "/v1/packs"
SESSION_PATH = "/v1/console/session"
#: Webhook URLs are capabilities too (routes_automations.py): no key, the address bucket.
HOOK_PREFIX = "/v1/hooks/"


class Guard:
    def __init__(self, app: ASGIApp, service: Service) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            await self._admit(scope)
            cap = self._cap(scope)
            declared = scope_header(scope, b"content-length")
            if declared is not None and (not declared.isdigit() or int(declared) > cap):
                raise _too_large(cap)
            body = await read_body(receive, cap)
        except CorralError as exc:
            await problem_response(problem_for(exc, instance=scope["path"]))(
                scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _admit(self, scope: Scope) -> None:
        path: str = scope["path"]
        if _static_page(scope):
            # One load of the console (or /docs) fetches the page and a dozen modules;
            # they must not spend the address's budget (a console loaded a few times a
            # second went blank on a 429). Probes and every /v1/ route still do.
            return
        if not path.startswith("/v1/") or path == CALLBACK_PATH or _signing_in(scope) or (
                path.startswith(BLOB_PREFIX) and scope["method"] in ("GET", "HEAD")) or (
                path.startswith(HOOK_PREFIX) and scope["method"] == "POST"):
            await self._limit_address(scope)
            return
        try:
            principal = self._principal(scope)
        except Unauthenticated:
            await self._limit_address(scope)  # key guessing costs the address its budget
            raise
        try:
            await self.service.rate.acheck(principal.name)
        except Overloaded as exc:
            await self.service.refused("rate_limit", exc)
            raise
        scope.setdefault("state", {})[PRINCIPAL_STATE] = principal

    def _principal(self, scope: Scope) -> Principal:
        """Who the request's bearer key, or else its console session cookie, stands for."""
        key = _bearer(scope)
        session_id = None if key else _cookie(scope, COOKIE_NAME)
        if session_id is None:
            return self.service.keys.authenticate(key)
        return admit_session(self.service.sessions, self.service.keys, session_id,
                             scope["method"], scope_header(scope, CSRF_HEADER.encode()))

    async def _limit_address(self, scope: Scope) -> None:
        client = scope.get("client")
        address = str(client[0]) if client else "unknown"
        try:
            await self.service.public_rate.acheck(address)
        except Overloaded as exc:
            await self.service.refused("public_rate_limit", exc)
            raise

    def _cap(self, scope: Scope) -> int:
        settings = self.service.settings
        if scope["method"] == "POST" and scope["path"] == UPLOAD_PATH:
            return settings.max_upload_bytes
        return settings.max_body_bytes


async def read_body(receive: Receive, cap: int) -> bytes:
    """The whole request body, refused as soon as it passes ``cap`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break  # the client went away; the app sees an empty body and its disconnect
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > cap:
            raise _too_large(cap)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` that gives the app the body read already, then what follows."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _too_large(cap: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the request body is larger than the limit of {cap} bytes",
                           field="body", limit_value=cap)


def scope_header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return str(value.decode("latin-1")).strip()
    return None


def _static_page(scope: Scope) -> bool:
    """A GET of the console's page or assets, or of /docs and its assets."""
    path: str = scope["path"]
    return scope["method"] in ("GET", "HEAD") and (
        path == "/" or path.startswith(CONSOLE_ASSETS + "/") or path == DOCS_PATH
        or path.startswith(DOCS_ASSETS + "/"))


def _signing_in(scope: Scope) -> bool:
    return bool(scope["method"] == "POST" and scope["path"] == SESSION_PATH)


def _cookie(scope: Scope, name: str) -> str | None:
    raw = scope_header(scope, b"cookie")
    return cookie_parser(raw).get(name) if raw else None


def _bearer(scope: Scope) -> str | None:
    scheme, _, key = (scope_header(scope, b"authorization") or "").partition(" ")
    return key.strip() if scheme.lower() == "bearer" and key.strip() else None

