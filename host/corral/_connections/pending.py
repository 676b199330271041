"""Pending OAuth2 authorizations: what the store keeps between the start of a flow and
its callback, and the checks the callback must pass.

A pending record is keyed by the SHA-256 of its ``state``; its PKCE verifier and client
secret are sealed; it names the principal that started the flow (the only account the
flow can complete into) and holds the SHA-256 of the browser binding, the random value
the HTTP service put in a cookie of the browser that started it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any, Iterable

from .._errors import ArgumentError, AuthFlowError
from .._pack.manifest import Manifest
from .crypto import KeyRing
from .oauth import TokenRoute, authorize_url, new_pkce, new_state, uses_pkce
from .records import state_aad, state_key

#: A pending authorization bigger than this (a huge client secret) is refused.
MAX_PENDING_BYTES = 64 * 1024


@dataclass(frozen=True)
class NewFlow:
    state: str
    key: bytes
    raw: bytes = field(repr=False)
    url: str


@dataclass(frozen=True)
class OpenedFlow:
    """A pending authorization whose sealed part is open, ready for the code exchange."""

    pending: dict[str, Any]
    client_id: str
    client_secret: str | None = field(repr=False)
    verifier: str | None = field(repr=False)

    @property
    def route(self) -> TokenRoute:
        return TokenRoute(self.pending["pack"], tuple(self.pending.get("domains") or ()))


def token_route(pack: Manifest) -> TokenRoute:
    """Where ``pack``'s token requests may go: its auth domains (else its network ones),
    on the ports its network domains declare for them."""
    if not pack.auth.domains:
        return TokenRoute(pack.name, tuple(pack.network_domains))
    allowed: list[str] = []
    for declared in pack.auth.domains:
        name, port = _split_port(declared)
        if port is None:
            allowed += [f"{name}:{net_port}" for net_name, net_port in
                        map(_split_port, pack.network_domains)
                        if net_port is not None and _within(name, net_name)]
        allowed.append(declared)
    return TokenRoute(pack.name, tuple(dict.fromkeys(allowed)))


def _split_port(domain: str) -> tuple[str, int | None]:
    name, colon, port = domain.rpartition(":")
    return (name, int(port)) if colon and port.isdigit() else (domain, None)


def _within(name: str, domain: str) -> bool:
    return name == domain or name.endswith("." + domain)


def new_flow(keyring: KeyRing, pack: Manifest, *, principal: str, client_id: str,
             client_secret: str | None, redirect_uri: str, name: str,
             connection_id: str | None, now: float, ttl_s: float,
             browser_binding: str | None, named: bool = True) -> NewFlow:
    state = new_state()
    pkce = new_pkce() if uses_pkce(pack.auth.options) else None
    key = state_key(state)
    sealed = keyring.seal(json.dumps({
        "client_id": client_id, "client_secret": client_secret,
        "verifier": pkce.verifier if pkce else None}).encode(), state_aad(key, pack.name))
    pending = {"principal": principal, "pack": pack.name, "name": name,
               "options": dict(pack.auth.options), "redirect_uri": redirect_uri,
               "domains": list(token_route(pack).domains), "connection_id": connection_id,
               "created_at": now, "expires_at": now + ttl_s,
               "sealed": base64.b64encode(sealed).decode(),
               "binding": _digest(browser_binding) if browser_binding else None,
               "named": named}
    raw = json.dumps(pending).encode()
    if len(raw) > MAX_PENDING_BYTES:
        raise ArgumentError(f"the authorization request is over {MAX_PENDING_BYTES} bytes "
                            "(an oversized client_id or client_secret)")
    url = authorize_url(pack.auth.options, client_id=client_id, redirect_uri=redirect_uri,
                        state=state, code_challenge=pkce.challenge if pkce else None)
    return NewFlow(state, key, raw, url)


def open_flow(keyring: KeyRing, key: bytes, raw: bytes | None, *, principal: str | None,
              browser_binding: str | None, now: float) -> OpenedFlow:
    """The pending authorization a callback names, if the callback may complete it."""
    if raw is None:
        raise AuthFlowError("unknown or already used authorization state")
    pending = json.loads(raw)
    if principal is not None and pending["principal"] != principal:
        raise AuthFlowError("unknown or already used authorization state")
    if not _binding_matches(pending.get("binding"), browser_binding):
        raise AuthFlowError("this authorization was started in another browser session; "
                            "start it again from the browser that will finish it",
                            reason="browser_binding")
    if now > pending["expires_at"]:
        raise AuthFlowError("the authorization took too long and expired; start again")
    opened = json.loads(keyring.open(base64.b64decode(pending["sealed"]),
                                     state_aad(key, pending["pack"])))
    return OpenedFlow(pending, opened["client_id"], opened["client_secret"],
                      opened["verifier"])


def stale_flows(items: Iterable[tuple[bytes, bytes]], *, now: float, principal: str,
                max_open: int) -> list[bytes]:
    """Keys of expired flows, and of ``principal``'s oldest while it would have more than
    ``max_open`` open with the one being started."""
    pending = [(key, json.loads(raw)) for key, raw in items]
    stale = [key for key, item in pending if item["expires_at"] < now]
    mine = sorted((item["created_at"], key) for key, item in pending
                  if item["principal"] == principal and item["expires_at"] >= now)
    surplus = len(mine) - max(0, max_open - 1)
    return stale + [key for _, key in mine[:max(0, surplus)]]


def _digest(binding: str) -> str:
    return hashlib.sha256(binding.encode()).hexdigest()


def _binding_matches(stored: str | None, given: str | None) -> bool:
    if stored is None:
        return True  # started without a browser (the Python API): nothing to match
    return given is not None and hmac.compare_digest(stored, _digest(given))
