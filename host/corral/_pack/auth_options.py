"""The ``[auth]`` options of the request-signing and minted-token kinds, checked when the
manifest is read, and the per-connection endpoint options every kind may set.

* ``custom``: ``params = [{name, description, places}]``, each a named secret the caller
  supplies; ``places`` (``header``, ``query``, ``body``; default ``["header"]``) says
  where the host may fill it in.
* ``aws_access_key`` / ``aws_assume_role``: ``service`` (the SigV4 signing name, e.g.
  ``execute-api``) and optionally ``region`` (else read from an ``*.amazonaws.com`` host).
* ``google_service_account``: ``scopes``, the OAuth2 scopes the JWT grant asks for.
* ``requires_endpoint_url`` / ``endpoint_domain``: each connection names its own endpoint
  inside ``endpoint_domain`` (one of the network domains; default: the only one).
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

from .._domains import DeclaredDomain
from .._errors import ManifestError

CUSTOM_PLACES = ("header", "query", "body")
DEFAULT_CUSTOM_PLACES = ("header",)
#: A custom parameter's name: it appears in placeholders, so letters, digits and ``_``.
CUSTOM_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
_SERVICE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_REGION_RE = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$")
_SCOPE_RE = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]{1,512}$")


def checked_auth_options(kind: str, options: Mapping[str, Any],
                         domains: Sequence[DeclaredDomain]) -> dict[str, Any]:
    """``options`` in their checked, normal form; a bad one is a ManifestError naming it."""
    out = dict(options)
    if kind == "custom":
        out["params"] = _custom_params(options["params"])
    elif kind in ("aws_access_key", "aws_assume_role"):
        out["service"] = _matching(options["service"], _SERVICE_RE, "auth.service",
                                   "a SigV4 service name like execute-api or s3")
        if "region" in options:
            out["region"] = _matching(options["region"], _REGION_RE, "auth.region",
                                      "an AWS region like eu-west-1")
    elif kind == "google_service_account":
        out["scopes"] = _scopes(options["scopes"])
    out.update(_endpoint_options(options, domains))
    return out


def _fail(where: str, message: str, rule: str = "type") -> ManifestError:
    return ManifestError(message, field=where, rule=rule)


def _matching(value: Any, pattern: re.Pattern[str], where: str, what: str) -> str:
    if not isinstance(value, str) or not pattern.match(value):
        raise _fail(where, f"must be {what}", "format")
    return value


def _custom_params(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise _fail("auth.params", "must be a non-empty array of {name, description, places}")
    seen: set[str] = set()
    params: list[dict[str, Any]] = []
    for i, item in enumerate(raw):
        where = f"auth.params[{i}]"
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, Mapping):
            raise _fail(where, "must be a table {name, description, places}")
        unknown = sorted(set(item) - {"name", "description", "places"})
        if unknown:
            raise _fail(f"{where}.{unknown[0]}", "is not a known field", "unknown_field")
        name = _matching(item.get("name"), CUSTOM_NAME_RE, f"{where}.name",
                         "a letter, then letters, digits or '_' (at most 64)")
        if name in seen:
            raise _fail(f"{where}.name", f"{name!r} is declared twice", "unique")
        seen.add(name)
        description = item.get("description", "")
        if not isinstance(description, str):
            raise _fail(f"{where}.description", "must be a string")
        places = item.get("places", list(DEFAULT_CUSTOM_PLACES))
        if (not isinstance(places, list) or not places
                or any(p not in CUSTOM_PLACES for p in places)):
            raise _fail(f"{where}.places", f"must be a non-empty array of "
                        f"{', '.join(CUSTOM_PLACES)}", "enum")
        params.append({"name": name, "description": description,
                       "places": sorted(set(places), key=CUSTOM_PLACES.index)})
    return params


def _scopes(raw: Any) -> list[str]:
    if isinstance(raw, str):
        raw = raw.split()
    if not isinstance(raw, list) or not raw:
        raise _fail("auth.scopes", "must be a non-empty array of OAuth2 scopes")
    for i, scope in enumerate(raw):
        _matching(scope, _SCOPE_RE, f"auth.scopes[{i}]", "an OAuth2 scope (no spaces)")
    return list(raw)


def _endpoint_options(options: Mapping[str, Any],
                      domains: Sequence[DeclaredDomain]) -> dict[str, Any]:
    required = options.get("requires_endpoint_url", False)
    if not isinstance(required, bool):
        raise _fail("auth.requires_endpoint_url", "must be true or false")
    if "endpoint_domain" in options and not required:
        raise _fail("auth.endpoint_domain", "is only for requires_endpoint_url = true",
                    "requires")
    if not required:
        return {}
    if "authorize_url" in options:
        # The browser flow stores only tokens; a connection would have no endpoint.
        raise _fail("auth.requires_endpoint_url", "is not supported with oauth2_code "
                    "(the authorization flow does not ask for an endpoint)", "unsupported")
    raw = options.get("endpoint_domain")
    if raw is None:
        if len(domains) != 1:
            raise _fail("auth.endpoint_domain", "is required when the pack declares more "
                        "than one network domain", "required")
        return {"requires_endpoint_url": True, "endpoint_domain": str(domains[0])}
    if not isinstance(raw, str):
        raise _fail("auth.endpoint_domain", "must be a string")
    try:
        declared = DeclaredDomain.parse(raw)
    except ManifestError as exc:
        raise _fail("auth.endpoint_domain", exc.message, "domain") from exc
    if not any(net.covers(declared) for net in domains):
        raise _fail("auth.endpoint_domain", f"{raw!r} is not one of the pack's "
                    "network_domains (or a subdomain of one)", "subset")
    return {"requires_endpoint_url": True, "endpoint_domain": str(declared)}
