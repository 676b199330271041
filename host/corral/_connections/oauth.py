"""OAuth2 on the host side: authorization code with PKCE (S256) and state, code exchange,
refresh, and client credentials.

Token requests go through a :class:`TokenClient`: the host's fetch client under the same
policy as guest fetches (the auth config's declared domains, checked and pinned
addresses, a response cap, one total deadline for the whole exchange), https only unless
the host config maps that exact name for tests, and never a redirect, so client secrets
go only to the declared token URL. Client credentials travel in the form body
(``client_secret_post``), which the common providers accept.

Errors are :class:`AuthFlowError`. ``details["rejected"]`` tells whether the token
endpoint answered with a refusal (HTTP 4xx: the grant or client is bad, reconnecting is
the fix) or the request failed on the way (network, 5xx: retry later).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .._errors import AuthFlowError, FetchDenied, FetchError, FetchTooLarge

_ERROR_CODE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class TokenSet:
    """What a token endpoint granted. Secrets are left out of ``repr``."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    expires_at: float | None = None
    scope: str | None = None


@dataclass(frozen=True)
class Pkce:
    verifier: str = field(repr=False)
    challenge: str


def new_pkce() -> Pkce:
    """A PKCE verifier (86 url-safe characters) and its S256 challenge."""
    verifier = secrets.token_urlsafe(64)
    return Pkce(verifier=verifier, challenge=s256_challenge(verifier))


def s256_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def new_state() -> str:
    return secrets.token_urlsafe(32)


# -- how token requests reach the network ----------------------------------------------------


class Fetcher(Protocol):
    """The host's fetch client, as token requests use it (``FetchClient`` is one)."""

    def fetch(self, request: Mapping[str, Any], *, pack: str, pack_hash: str,
              domains: Sequence[str], deadline: float | None = None) -> dict[str, Any]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class TokenRoute:
    """Where one pack's token requests may go: the auth config's declared domains."""

    pack: str
    domains: tuple[str, ...]


@dataclass(frozen=True)
class TokenReply:
    status: int
    content_type: str
    body: bytes = field(repr=False)


class TokenClient:
    """Token-endpoint requests under the guest-fetch policy.

    ``fetcher`` should be configured for token requests: no redirects, a small response
    cap and a total deadline (the host makes one). ``plain_http_hosts`` are the exact
    names the host config maps for tests; every other token URL must be https.
    """

    def __init__(self, fetcher: Fetcher, *, plain_http_hosts: frozenset[str] = frozenset(),
                 deadline_s: float = 15.0) -> None:
        self._fetcher = fetcher
        self._plain_http_hosts = frozenset(h.lower() for h in plain_http_hosts)
        self._deadline_s = deadline_s

    def post_form(self, url: str, form: Mapping[str, str], route: TokenRoute) -> TokenReply:
        """POST ``form`` to ``url``; raises :class:`FetchError` as a guest fetch would."""
        return self.post(url, urlencode(form).encode(),
                         {"Accept": "application/json",
                          "Content-Type": "application/x-www-form-urlencoded"}, route)

    def post(self, url: str, body: bytes, headers: Mapping[str, str],
             route: TokenRoute) -> TokenReply:
        """POST ``body`` with ``headers`` (a signed STS request, say) to ``url``."""
        self._check_scheme(url)
        request = {"method": "POST", "url": url, "body": body, "binary": True,
                   "headers": dict(headers)}
        # Token requests are never cached; the pool they use is their own.
        reply = self._fetcher.fetch(request, pack=route.pack, pack_hash=f"oauth2:{route.pack}",
                                    domains=route.domains,
                                    deadline=time.monotonic() + self._deadline_s)
        body = reply["body"]
        return TokenReply(int(reply["status"]), str(reply["headers"].get("content-type", "")),
                          body if isinstance(body, bytes) else str(body).encode())

    def close(self) -> None:
        self._fetcher.close()

    def _check_scheme(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme.lower() == "https":
            return
        if parts.scheme.lower() == "http" and (parts.hostname or "") in self._plain_http_hosts:
            return
        raise FetchDenied(f"fetch refused (scheme): token requests go over https only "
                          f"({_describe(url)})", rule="scheme")


def scope_text(options: Mapping[str, Any]) -> str | None:
    scopes = options.get("scopes")
    if not scopes:
        return None
    if isinstance(scopes, str):
        return scopes
    delimiter = str(options.get("scope_delimiter", " "))
    return delimiter.join(str(s) for s in scopes)


def uses_pkce(options: Mapping[str, Any]) -> bool:
    return bool(options.get("pkce", True))


def authorize_url(options: Mapping[str, Any], *, client_id: str, redirect_uri: str,
                  state: str, code_challenge: str | None) -> str:
    """The URL to send the user to, keeping any query the manifest's URL already has."""
    params: dict[str, str] = {"response_type": "code", "client_id": client_id,
                              "redirect_uri": redirect_uri, "state": state}
    scope = scope_text(options)
    if scope:
        params["scope"] = scope
    if code_challenge is not None:
        params["code_challenge"] = code_challenge
        params["code_challenge_method"] = "S256"
    extra = options.get("extra_authorize_params") or {}
    for key, value in dict(extra).items():
        params.setdefault(str(key), str(value))
    parts = urlsplit(str(options["authorize_url"]))
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def exchange_code(http: TokenClient, route: TokenRoute, options: Mapping[str, Any], *,
                  client_id: str,
                  client_secret: str | None, code: str, redirect_uri: str,
                  code_verifier: str | None, now: float) -> TokenSet:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if code_verifier is not None:
        form["code_verifier"] = code_verifier
    return _token_request(http, route, options, form, client_id, client_secret, now)


def refresh_tokens(http: TokenClient, route: TokenRoute, options: Mapping[str, Any], *,
                   client_id: str, client_secret: str | None, refresh_token: str,
                   now: float) -> TokenSet:
    """Trade a refresh token for a new access token; keeps the old refresh token if the
    server does not rotate it."""
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    granted = _token_request(http, route, options, form, client_id, client_secret, now)
    if granted.refresh_token is None:
        return TokenSet(granted.access_token, refresh_token, granted.expires_at, granted.scope)
    return granted


def client_credentials(http: TokenClient, route: TokenRoute, options: Mapping[str, Any], *,
                       client_id: str, client_secret: str, now: float) -> TokenSet:
    form = {"grant_type": "client_credentials"}
    scope = scope_text(options)
    if scope:
        form["scope"] = scope
    return _token_request(http, route, options, form, client_id, client_secret, now)


def _token_request(http: TokenClient, route: TokenRoute, options: Mapping[str, Any],
                   form: dict[str, str], client_id: str, client_secret: str | None,
                   now: float) -> TokenSet:
    token_url = str(options["token_url"])
    where = _describe(token_url)
    body = {**form, "client_id": client_id}
    if client_secret:
        body["client_secret"] = client_secret
    try:
        response = http.post_form(token_url, body, route)
    except FetchError as exc:
        raise _failed(exc, where) from exc
    if response.status >= 300:
        raise _refusal(response, where)
    return _parse_grant(response, where, now)


def _failed(exc: FetchError, where: str) -> AuthFlowError:
    """A token request that did not get an answer: refused by the policy or a cap (not
    worth retrying) or failed on the way (retryable). Names the rule, never the text of
    what the peer sent."""
    rule = exc.details.get("rule")
    if isinstance(exc, (FetchDenied, FetchTooLarge)):
        error = AuthFlowError(f"token request to {where} refused: {exc.kind} "
                              f"({rule or 'policy'})", rejected=False, token_url=where,
                              rule=rule)
        error.retryable = False
        return error
    error = AuthFlowError(f"token request to {where} failed: {exc.kind}"
                          + (f" ({rule})" if rule else ""), rejected=False, token_url=where,
                          rule=rule)
    error.retryable = True
    return error


def _refusal(response: TokenReply, where: str) -> AuthFlowError:
    code = _error_code(response)
    rejected = 400 <= response.status < 500
    reason = f" ({code})" if code else ""
    error = AuthFlowError(
        f"token endpoint {where} answered HTTP {response.status}{reason}",
        rejected=rejected, status=response.status, oauth_error=code, token_url=where)
    error.retryable = not rejected
    return error


def _error_code(response: TokenReply) -> str | None:
    """The standard ``error`` code, if it looks like one (descriptions are not echoed)."""
    try:
        data = _decode_body(response)
    except ValueError:
        return None
    code = data.get("error")
    return code if isinstance(code, str) and _ERROR_CODE_RE.match(code) else None


def _parse_grant(response: TokenReply, where: str, now: float) -> TokenSet:
    try:
        data = _decode_body(response)
    except ValueError as exc:
        raise AuthFlowError(f"token endpoint {where} sent a body that is neither JSON nor "
                            "form data", rejected=False, token_url=where) from exc
    access = data.get("access_token")
    if not isinstance(access, str) or not access:
        raise AuthFlowError(f"token endpoint {where} sent no access_token", rejected=False,
                            token_url=where)
    refresh = data.get("refresh_token")
    expires_at = _expires_at(data.get("expires_in"), now)
    scope = data.get("scope")
    return TokenSet(access_token=access,
                    refresh_token=refresh if isinstance(refresh, str) and refresh else None,
                    expires_at=expires_at, scope=scope if isinstance(scope, str) else None)


def _decode_body(response: TokenReply) -> dict[str, Any]:
    if "application/x-www-form-urlencoded" in response.content_type.lower():
        return dict(parse_qsl(response.body.decode("utf-8", "replace")))
    try:
        data = json.loads(response.body)
    except RecursionError:  # nested deeper than a grant ever is
        raise ValueError("nested too deep") from None
    if not isinstance(data, dict):
        raise ValueError("not an object")
    return data


def _expires_at(expires_in: Any, now: float) -> float | None:
    if expires_in is None or isinstance(expires_in, bool):
        return None
    try:
        seconds = float(expires_in)
    except (TypeError, ValueError):
        return None
    return now + seconds if seconds > 0 else None


def _describe(url: str) -> str:
    """A URL as it may appear in messages: scheme, host and path, no query or userinfo."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}{parts.path}"
