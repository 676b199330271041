"""An OAuth2 provider for the OAuth attacks: authorization code with PKCE, on a real
local server (TLS where the attack needs it), and token endpoints that misbehave.

``/authorize`` is answered in-process by :meth:`Provider.approve` (the user approves at
once); ``/token`` issues tokens for a code it issued, checking the redirect URI and the
PKCE verifier. The misbehaving endpoints: ``/token-huge`` (200 MiB of whitespace before a
valid grant), ``/token-drip`` (a valid grant, one byte every 30 ms: about 4 s in all),
``/token-redirect`` (a redirect to ``/token``) and ``/token-deep`` (JSON nested 100,000
deep). Every token it issues is handed to ``on_secret`` so the judge looks for it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qsl, urlencode

from corral.testing import Exchange, LocalServer

HUGE_BYTES = 200 << 20
#: One client at every endpoint of the authorization server (a fresh secret per run).
CLIENT_SECRET = "idp-client-secret-" + secrets.token_hex(12)
_CODES_LOCK = threading.Lock()
DRIP_EVERY_S = 0.03


class Provider(LocalServer):
    def __init__(self, on_secret: Callable[[str], None], codes: dict[str, Any], *,
                 tls: tuple[Path, Path] | None = None) -> None:
        super().__init__(tls=tls, name="bench-idp")
        self.client_id = "bench-client"
        self.client_secret = CLIENT_SECRET
        self._on_secret = on_secret
        on_secret(CLIENT_SECRET)
        self._codes = codes  # shared by the providers of one authorization server
        for path in ("/token", "/token-huge", "/token-drip", "/token-deep"):
            self.handle("POST", path, self._token)
        self.handle("POST", "/token-redirect", self._redirect)
        self.start()

    def approve(self, query: dict[str, str]) -> str:
        """What ``/authorize`` redirects the browser to: the callback with a fresh code."""
        code = "code-" + secrets.token_urlsafe(12)
        with _CODES_LOCK:
            self._codes[code] = (query["redirect_uri"], query.get("code_challenge"))
        return query["redirect_uri"] + "?" + urlencode({"code": code,
                                                       "state": query.get("state", "")})

    def token_hits(self, path: str = "/token") -> int:
        return self.hits("POST", path)

    def _grant(self, form: dict[str, str]) -> dict[str, object] | None:
        with _CODES_LOCK:
            issued = self._codes.pop(form.get("code", ""), None)
        if issued is None or issued[0] != form.get("redirect_uri"):
            return None
        if issued[1] is not None:
            digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
            if base64.urlsafe_b64encode(digest).decode().rstrip("=") != issued[1]:
                return None
        access, refresh = "at-" + secrets.token_hex(16), "rt-" + secrets.token_hex(16)
        self._on_secret(access)
        self._on_secret(refresh)
        return {"access_token": access, "refresh_token": refresh, "token_type": "Bearer",
                "expires_in": 3600}

    def _token(self, exchange: Exchange) -> None:
        grant = self._grant(dict(parse_qsl(exchange.request.body.decode())))
        if grant is None:
            exchange.send(400, b'{"error": "invalid_grant"}', [("Content-Type",
                                                               "application/json")])
            return
        body = json.dumps(grant).encode()
        path = exchange.request.path
        if path == "/token-huge":
            self._huge(exchange, body)
        elif path == "/token-drip":
            self._drip(exchange, body)
        elif path == "/token-deep":
            exchange.send(200, b'{"access_token": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
                          [("Content-Type", "application/json")])
        else:
            exchange.send(200, body, [("Content-Type", "application/json")])

    def _huge(self, exchange: Exchange, body: bytes) -> None:
        exchange.close_after()
        exchange.begin(200, [("Content-Type", "application/json"),
                             ("Content-Length", str(HUGE_BYTES + len(body)))])
        block = b" " * 65536
        for _ in range(HUGE_BYTES // len(block)):
            if exchange.stopping:
                return
            exchange.write(block)
        exchange.write(body)

    def _drip(self, exchange: Exchange, body: bytes) -> None:
        exchange.close_after()
        exchange.begin(200, [("Content-Type", "application/json"),
                             ("Content-Length", str(len(body)))])
        for byte in body:
            if exchange.stopping:
                return
            exchange.write(bytes([byte]))
            time.sleep(DRIP_EVERY_S)

    def _redirect(self, exchange: Exchange) -> None:
        exchange.send(307, b"", [("Location", "/token")])
