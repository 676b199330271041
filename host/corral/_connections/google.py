"""Google service accounts: the JWT bearer grant (RFC 7523), made by the host.

The host signs an assertion (RS256, by PyJWT) with the key the caller gave, posts it to
the key's ``token_uri`` (Google's own, see :func:`corral._connections.kinds.check_token_uri`)
and keeps the access token until shortly before it expires. Neither the private key nor
the assertion ever reaches the guest: the guest's requests only carry
``Authorization: Bearer <access token>``.
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Sequence
from urllib.parse import urlsplit

from .._errors import AuthFlowError, FetchError
from .oauth import TokenClient, TokenRoute, TokenSet

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: Google caps an assertion's lifetime at one hour.
ASSERTION_LIFETIME_S = 3600


def assertion(key: Mapping[str, str], scopes: Sequence[str], now: float) -> str:
    """The signed JWT: iss = the service account, aud = the token endpoint."""
    import jwt

    issued = int(now)
    claims = {"iss": key["client_email"], "scope": " ".join(scopes), "aud": key["token_uri"],
              "iat": issued, "exp": issued + ASSERTION_LIFETIME_S}
    headers = {"kid": key["private_key_id"]} if key.get("private_key_id") else None
    return jwt.encode(claims, key["private_key"], algorithm="RS256", headers=headers)


def mint_token(http: TokenClient, key: Mapping[str, str], scopes: Sequence[str],
               now: float) -> TokenSet:
    """An access token for the service account, from the token endpoint."""
    uri = key["token_uri"]
    parts = urlsplit(uri)
    host = parts.hostname or ""
    route = TokenRoute("google-oauth2", (host if parts.port is None else f"{host}:{parts.port}",))
    form = {"grant_type": JWT_BEARER_GRANT, "assertion": assertion(key, scopes, now)}
    try:
        reply = http.post_form(uri, form, route)
    except FetchError as exc:
        raise AuthFlowError(f"the token request to {uri} failed: {exc.message}",
                            rejected=False) from exc
    body = _json(reply.body)
    if reply.status != 200:
        error = body.get("error") if isinstance(body, dict) else None
        code = error if isinstance(error, str) and error.isascii() and len(error) < 64 \
            else "no error code"
        raise AuthFlowError(f"the token endpoint refused the service account "
                            f"{key['client_email']}: HTTP {reply.status} ({code})",
                            rejected=400 <= reply.status < 500)
    token = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise AuthFlowError("the token endpoint answered without an access_token",
                            rejected=False)
    expires_in = body.get("expires_in", ASSERTION_LIFETIME_S)
    if isinstance(expires_in, bool) or not isinstance(expires_in, (int, float)):
        expires_in = ASSERTION_LIFETIME_S
    return TokenSet(access_token=token, expires_at=now + float(expires_in))


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def secret_strings(values: Mapping[str, Any]) -> set[str]:
    """The private key, whole and as its base64 body lines, which a response must not show."""
    key = values.get("service_account_key")
    if not isinstance(key, Mapping) or not isinstance(key.get("private_key"), str):
        return set()
    pem: str = key["private_key"]
    lines = [line.strip() for line in pem.splitlines()
             if line.strip() and not line.startswith("-----")]
    return {pem, "".join(lines), *(line for line in lines if len(line) >= 16)}
