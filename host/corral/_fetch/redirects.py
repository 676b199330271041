"""A redirect hop: where it may go, and what it may carry there.

:func:`check_redirect` admits the next hop only as the first was admitted (every policy
rule, the declared domains, and with credentials the auth or approved domains), and
refuses a ``Location`` that carries the connection's secret (rule ``redirect_secret``):
an API reflecting the injected credentials into it would otherwise have the next hop
hand them to whoever it names. :func:`carried_to` drops the credentials for good once a
hop changes scheme, host or port.

A location carries a secret when, after undoing the encodings an API applies on the way
(percent-encoding in either case and ``+`` for space, HTML entities, JSON's ``\\/`` and
``\\uXXXX``, repeated up to four times), it holds one of the connection's secrets as
sent, URL-encoded, base64, base64url or hex; or when its query sets a parameter the
connection injects (the guest may not set one either); or when a query value equals a
secret exactly (so a secret too short to look for inside text is still caught where it
is named).
"""

from __future__ import annotations

import base64
import html
import json
import re
from dataclasses import dataclass
from typing import Iterable, Sequence
from urllib.parse import parse_qsl, quote, quote_plus, unquote, unquote_plus, urljoin, urlsplit

from .._domains import DeclaredDomain
from .._errors import FetchDenied
from .._types import Credentials
from .policy import CheckedURL, PolicySettings, check_reach, check_url
from .redact import Redactor

#: Secrets shorter than this are looked for as whole query values only: inside text they
#: would match by chance.
MIN_SUBSTRING_CHARS = 6
_DECODE_ROUNDS = 4
_JSON_ESCAPE_RE = re.compile(r"\\u[0-9a-fA-F]{4}|\\/")


@dataclass(frozen=True)
class Reach:
    """Where one fetch may go: the declared domains and, with credentials, their own (auth)
    domains and the ones the operator approved."""

    domains: Sequence[str]
    credentials: Credentials | None
    approved: tuple[str | DeclaredDomain, ...] = ()


def check_redirect(current: CheckedURL, location: str, reach: Reach,
                   config: PolicySettings) -> CheckedURL:
    """The next hop's URL, or a refusal naming the rule (never quoting the location)."""
    shown = current.url_without_query
    if reach.credentials is not None and location_carries_secret(location, reach.credentials):
        # Checked before anything quotes the location: its path may hold the secret too.
        raise FetchDenied(f"fetch refused (redirect_secret): {shown} redirected to a location "
                          "that carries the connection's credentials", rule="redirect_secret",
                          url=shown)
    try:
        joined = urljoin(current.url, location.strip(" "))
    except ValueError as exc:
        raise FetchDenied(f"fetch refused (redirect): {shown} redirected to "
                          "an unreadable location", rule="redirect", url=shown) from exc
    target = check_url(joined, reach.domains, config, redact_query=True)
    check_reach(target, reach.credentials, reach.approved, target.url_without_query)
    return target


def carried_to(credentials: Credentials | None, current: CheckedURL, target: CheckedURL
               ) -> Credentials | None:
    """The credentials the next hop may carry: none once a hop changes scheme, host or port
    (headers and query parameters alike: the host injects both, and only where these
    stay the same)."""
    if (current.scheme, current.host, current.port) != (target.scheme, target.host, target.port):
        return None
    return credentials


def location_carries_secret(location: str, credentials: Credentials) -> bool:
    """``location`` (a redirect's raw ``Location``) would carry one of the credentials'
    secrets, or sets a query parameter they inject, to the next hop."""
    views = _decoded_views(location)
    if _sets_injected_param(views, credentials.param_names):
        return True
    secrets = frozenset(credentials.secret_values())
    if not secrets:
        return False
    if _names_a_secret_exactly(views, secrets):
        return True
    long_ones = frozenset(s for s in secrets if len(s) >= MIN_SUBSTRING_CHARS)
    forms = _forms(long_ones)
    if any(form in view or form.lower() in view.lower() for view in views for form in forms):
        return True
    # The redactor reads every escape and base64 form it knows; what it would cut, the
    # location carries.
    redactor = Redactor(long_ones)
    return bool(long_ones) and any(redactor.text(view) != view for view in views)


def _forms(secrets: frozenset[str]) -> set[str]:
    """Each secret as sent and as an API might re-encode it."""
    forms = {form for s in secrets for form in (s, quote(s, safe=""), quote_plus(s))}
    for secret in secrets:
        raw = secret.encode("utf-8")
        for encoded in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
            forms.add(encoded.decode("ascii").rstrip("="))
        forms.add(raw.hex())
    return {f for f in forms if len(f) >= MIN_SUBSTRING_CHARS}


def _decoded_views(text: str) -> set[str]:
    """``text`` and what it reads as after each layer of encoding is undone."""
    views = {text}
    frontier = {text}
    for _ in range(_DECODE_ROUNDS):
        decoded = {d for view in frontier for d in _decodings(view)} - views
        if not decoded:
            break
        views |= decoded
        frontier = decoded
    return views


def _decodings(text: str) -> Iterable[str]:
    yield unquote(text)
    yield unquote_plus(text)
    yield html.unescape(text)
    yield _JSON_ESCAPE_RE.sub(_json_unescape, text)


def _json_unescape(match: re.Match[str]) -> str:
    try:
        return str(json.loads(f'"{match.group()}"'))
    except ValueError:
        return match.group()


def _query_pairs(views: set[str]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for view in views:
        try:
            query = urlsplit(view).query
        except ValueError:
            query = view.partition("?")[2]
        pairs.extend(parse_qsl(query, keep_blank_values=True))
    return pairs


def _sets_injected_param(views: set[str], names: frozenset[str]) -> bool:
    if not names:
        return False
    lowered = {n.lower() for n in names}
    return any(name.lower() in lowered for name, _ in _query_pairs(views))


def _names_a_secret_exactly(views: set[str], secrets: frozenset[str]) -> bool:
    return any(value in secrets for _, value in _query_pairs(views))
