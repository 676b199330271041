"""A real OAuth2 server and a protected API on 127.0.0.1, for the connection tests.

* ``GET /authorize``: approves at once and redirects to ``redirect_uri`` with a code
  (it records the PKCE challenge and the redirect URI the code is bound to).
* ``POST /token``: ``authorization_code`` (checks client, redirect URI and PKCE S256),
  ``refresh_token`` (rotates the refresh token) and ``client_credentials``. Every request
  is counted per grant type.
* ``GET /api/oauth``: 200 for a live access token in ``Authorization: Bearer``, else 401.
* ``GET /api/static``: 200 when every header and query parameter in ``expect_headers`` /
  ``expect_params`` is present with that exact value, else 401.

Anything else answers 404, so a request nobody expected fails loudly.

Token requests go through the host's fetch policy, which admits declared names only:
``token_url`` names the server ``oauth.test`` (:data:`TOKEN_HOST`), which
:func:`token_client` maps to 127.0.0.1; a pack using it declares ``token_domain``.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx

from corral import Credentials, FetchClient, FetchConfig, Manifest, parse_manifest
from corral._connections.oauth import TokenClient
from corral.testing import Exchange, LocalServer, Reply

TOKEN_HOST = "oauth.test"


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    challenge: str | None
    scope: str | None


class OAuthServer(LocalServer):
    """The OAuth2 server and its protected API; ``with OAuthServer() as oauth:``."""

    def __init__(self, *, client_id: str = "corral-test-client",
                 client_secret: str = "client-secret-XYZ", expires_in: int = 3600) -> None:
        super().__init__(name="oauth-server")
        self.client_id = client_id
        self.client_secret = client_secret
        self.expires_in = expires_in
        self.counts: Counter[str] = Counter()
        self.expect_headers: dict[str, str] = {}
        self.expect_params: dict[str, str] = {}
        self.refusing_refresh = False
        self.static_token = "static-token-for-whoami"
        self.issued_access: list[str] = []
        self.issued_refresh: list[str] = []
        self.last_token_form: dict[str, str] = {}
        self._live_access: set[str] = set()
        self._live_refresh: set[str] = set()
        self._codes: dict[str, _Code] = {}
        self._state_lock = threading.Lock()
        self.handle("GET", "/authorize", self._serve_authorize)
        self.handle("POST", "/token", self._serve_token)
        self.handle("GET", "/api/{name}", self._serve_api)

    @property
    def token_domain(self) -> str:
        """What a pack declares to reach ``token_url``."""
        return f"{TOKEN_HOST}:{self.port}"

    @property
    def token_url(self) -> str:
        return f"http://{self.token_domain}/token"

    @property
    def authorize_url(self) -> str:
        return self.base_url + "/authorize"

    # -- the routes ----------------------------------------------------------------------

    def _serve_authorize(self, exchange: Exchange) -> Reply:
        query = {k: v[-1] for k, v in exchange.request.query.items()}
        status, headers = self.authorize(query)
        return Reply(status=status, json={}, headers=headers)

    def _serve_token(self, exchange: Exchange) -> Reply:
        form = dict(parse_qsl(exchange.request.body.decode()))
        status, body = self.token(form, _basic(exchange.request.headers))
        return Reply(status=status, json=body)

    def _serve_api(self, exchange: Exchange) -> Reply:
        r = exchange.request
        status = self.api(r.path, r.headers, r.query)
        body: dict[str, Any] = {"ok": status == 200}
        if r.path == "/api/whoami" and status == 200:
            body["login"] = "ada"
        return Reply(status=status, json=body)

    def unmatched(self, exchange: Exchange) -> Reply:
        return Reply(status=404, json={})

    # -- test controls -----------------------------------------------------------------

    def expire_access_tokens(self) -> None:
        with self._state_lock:
            self._live_access.clear()

    def is_live(self, access_token: str) -> bool:
        with self._state_lock:
            return access_token in self._live_access

    # -- behaviour ---------------------------------------------------------------------

    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str]]:
        if query.get("client_id") != self.client_id or query.get("response_type") != "code":
            return 400, {}
        challenge = query.get("code_challenge")
        if challenge is not None and query.get("code_challenge_method") != "S256":
            return 400, {}
        code = "code-" + secrets.token_urlsafe(16)
        with self._state_lock:
            self._codes[code] = _Code(self.client_id, query["redirect_uri"], challenge,
                                      query.get("scope"))
        location = query["redirect_uri"] + "?" + urlencode(
            {"code": code, "state": query.get("state", "")})
        return 302, {"Location": location}

    def token(self, form: dict[str, str], basic: tuple[str, str] | None) -> tuple[int, Any]:
        grant = form.get("grant_type", "")
        with self._state_lock:
            self.counts[grant] += 1
            self.last_token_form = dict(form)
        client_id, client_secret = basic or (form.get("client_id"), form.get("client_secret"))
        if client_id != self.client_id:
            return 401, {"error": "invalid_client"}
        if grant == "authorization_code":
            return self._grant_code(form, client_secret)
        if client_secret != self.client_secret:
            return 401, {"error": "invalid_client"}
        if grant == "refresh_token":
            return self._grant_refresh(form)
        if grant == "client_credentials":
            return 200, self._issue(with_refresh=False)
        return 400, {"error": "unsupported_grant_type"}

    def _grant_code(self, form: dict[str, str], client_secret: str | None) -> tuple[int, Any]:
        with self._state_lock:
            issued = self._codes.pop(form.get("code", ""), None)
        if issued is None or issued.redirect_uri != form.get("redirect_uri"):
            return 400, {"error": "invalid_grant"}
        if issued.challenge is not None:
            verifier = form.get("code_verifier", "")
            digest = hashlib.sha256(verifier.encode()).digest()
            if base64.urlsafe_b64encode(digest).decode().rstrip("=") != issued.challenge:
                return 400, {"error": "invalid_grant"}
        elif client_secret != self.client_secret:
            return 401, {"error": "invalid_client"}
        return 200, self._issue(with_refresh=True)

    def _grant_refresh(self, form: dict[str, str]) -> tuple[int, Any]:
        refresh = form.get("refresh_token", "")
        with self._state_lock:
            known = refresh in self._live_refresh and not self.refusing_refresh
            if known:
                self._live_refresh.discard(refresh)
        if not known:
            return 400, {"error": "invalid_grant"}
        return 200, self._issue(with_refresh=True)

    def _issue(self, *, with_refresh: bool) -> dict[str, Any]:
        access = "at-" + secrets.token_urlsafe(24)
        grant: dict[str, Any] = {"access_token": access, "token_type": "Bearer",
                                 "expires_in": self.expires_in}
        with self._state_lock:
            self._live_access.add(access)
            self.issued_access.append(access)
            if with_refresh:
                refresh = "rt-" + secrets.token_urlsafe(24)
                self._live_refresh.add(refresh)
                self.issued_refresh.append(refresh)
                grant["refresh_token"] = refresh
        return grant

    def api(self, path: str, headers: dict[str, str], query: dict[str, list[str]]) -> int:
        if path == "/api/oauth":
            auth = headers.get("authorization", "")
            token = auth[len("Bearer "):] if auth.startswith("Bearer ") else ""
            return 200 if self.is_live(token) else 401
        if path == "/api/whoami":
            auth = headers.get("authorization", "")
            token = auth[len("Bearer "):] if auth.startswith("Bearer ") else ""
            return 200 if self.is_live(token) or token == self.static_token else 401
        if path == "/api/static":
            for name, value in self.expect_headers.items():
                if headers.get(name.lower()) != value:
                    return 401
            for name, value in self.expect_params.items():
                if query.get(name) != [value]:
                    return 401
            return 200
        return 404


def _basic(headers: dict[str, str]) -> tuple[str, str] | None:
    auth = headers.get("authorization", "")
    if not auth.startswith("Basic "):
        return None
    user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
    return user, password


# -- helpers shared by the connection tests ----------------------------------------------


def pack_with_auth(auth: dict[str, Any], *, name: str = "Demo",
                   domains: tuple[str, ...] = ("api.example.test",)) -> Manifest:
    """A minimal valid manifest declaring ``auth``."""
    return parse_manifest({
        "pack": {"name": name, "version": "1.0.0", "network_domains": list(domains)},
        "auth": auth,
        "formulas": [{"name": "Hello"}],
    })


def token_client(*, deadline_s: float = 10.0, max_response_bytes: int = 64 * 1024,
                 hosts: tuple[str, ...] = (TOKEN_HOST,)) -> TokenClient:
    """A token client as the host makes one: the fetch policy, no redirects, a response
    cap and one deadline; plain http only for ``hosts``, which map to 127.0.0.1."""
    config = FetchConfig(allow_http=True, host_map={h: "127.0.0.1" for h in hosts},
                         max_redirects=0, max_response_bytes=max_response_bytes,
                         total_timeout_s=deadline_s)
    return TokenClient(FetchClient(config), plain_http_hosts=frozenset(hosts),
                       deadline_s=deadline_s)


def call_with(creds: Credentials, url: str) -> int:
    """What the fetch path does with credentials: apply, send, and on a 401 refresh once
    and retry once. Returns the final status."""
    status = _send(creds, url)
    if status == 401 and creds.refresh():
        status = _send(creds, url)
    return status


def _send(creds: Credentials, url: str) -> int:
    headers: dict[str, str] = {}
    params: list[tuple[str, str]] = []
    creds.apply(headers, params)
    with httpx.Client(trust_env=False) as client:
        return client.get(url, headers=headers, params=tuple(params)).status_code
