"""Secret shapes of the request-signing and minted-token auth kinds, and of a
per-connection endpoint; checked when a connection is made. Errors name the field, never
a value.

Secret shapes::

    custom                  {"values": {param name: value}}
    aws_access_key          {"access_key_id", "secret_access_key"[, "session_token"]}
    aws_assume_role         {"role_arn"[, "external_id"]}
    google_service_account  {"service_account_key": the key file's JSON (object or text)}
    any kind with requires_endpoint_url: also {"endpoint": "https://acme.example.net"}
"""

from __future__ import annotations

import json
import re
from typing import Any, Mapping
from urllib.parse import urlsplit

from .._domains import DEFAULT_PORTS, DeclaredDomain, DomainError, is_ip_literal, parse_host
from .._errors import ArgumentError
from .._pack.manifest import AuthSpec

NEW_KINDS = frozenset({"custom", "aws_access_key", "aws_assume_role",
                       "google_service_account"})
AWS_KINDS = frozenset({"aws_access_key", "aws_assume_role"})
#: The token endpoints a service-account key may name (Google's, over https).
GOOGLE_TOKEN_URIS = frozenset({"https://oauth2.googleapis.com/token",
                               "https://www.googleapis.com/oauth2/v4/token",
                               "https://accounts.google.com/o/oauth2/token"})
DEFAULT_GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"

_FORBIDDEN = ("\r", "\n", "\0")
_ACCESS_KEY_RE = re.compile(r"^[A-Z0-9]{16,128}$")
_ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_EXTERNAL_ID_RE = re.compile(r"^[\w+=,.@:/-]{2,1224}$")
_EMAIL_RE = re.compile(r"^[^@\s]{1,128}@[A-Za-z0-9.-]{1,253}$")
_MAX_KEY_CHARS = 16 * 1024


def _bad(name: str, message: str) -> ArgumentError:
    return ArgumentError(f"secret field {name!r} {message}", field=name)


def _text(secret: Mapping[str, Any], name: str, *, required: bool = True,
          pattern: re.Pattern[str] | None = None, what: str = "") -> str | None:
    value = secret.get(name)
    if value is None:
        if required:
            raise _bad(name, "is required")
        return None
    if not isinstance(value, str) or not value:
        raise _bad(name, "must be a non-empty string")
    if any(ch in value for ch in _FORBIDDEN):
        raise _bad(name, "must not contain line breaks or NUL")
    if pattern is not None and not pattern.match(value):
        raise _bad(name, f"must be {what}")
    return value


def _only(secret: Mapping[str, Any], kind: str, allowed: set[str]) -> None:
    unknown = sorted(set(secret) - allowed)
    if unknown:
        raise ArgumentError(f"secret field {unknown[0]!r} is not used by auth kind {kind}",
                            field=unknown[0])


def validate_new_kind(spec: AuthSpec, secret: Mapping[str, Any], *,
                      dev_token_hosts: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The checked secret of one of :data:`NEW_KINDS` (without the endpoint field)."""
    if spec.kind == "custom":
        return {"values": _custom_values(spec, secret)}
    if spec.kind == "aws_access_key":
        _only(secret, spec.kind, {"access_key_id", "secret_access_key", "session_token"})
        values = {"access_key_id": _text(secret, "access_key_id", pattern=_ACCESS_KEY_RE,
                                         what="an AWS access key id (A-Z, 0-9)"),
                  "secret_access_key": _text(secret, "secret_access_key")}
        token = _text(secret, "session_token", required=False)
        return values if token is None else {**values, "session_token": token}
    if spec.kind == "aws_assume_role":
        _only(secret, spec.kind, {"role_arn", "external_id"})
        values = {"role_arn": _text(secret, "role_arn", pattern=_ROLE_ARN_RE,
                                    what="an IAM role ARN (arn:aws:iam::123456789012:role/Name)")}
        external = _text(secret, "external_id", required=False, pattern=_EXTERNAL_ID_RE,
                         what="2 to 1224 characters of letters, digits and +=,.@:/-")
        return values if external is None else {**values, "external_id": external}
    _only(secret, spec.kind, {"service_account_key"})
    return {"service_account_key": service_account_key(secret.get("service_account_key"),
                                                       dev_token_hosts)}


def _custom_values(spec: AuthSpec, secret: Mapping[str, Any]) -> dict[str, str]:
    _only(secret, spec.kind, {"values"})
    names = [p["name"] for p in spec.options["params"]]
    raw = secret.get("values")
    if not isinstance(raw, Mapping):
        raise _bad("values", f"must map each of {', '.join(names)} to its value")
    extra = sorted(str(k) for k in set(raw) - set(names))
    if extra:
        raise ArgumentError(f"secret value {extra[0]!r} is not a parameter of the pack's "
                            "custom auth", field=f"values.{extra[0]}")
    out: dict[str, str] = {}
    for name in names:
        value = _text(raw, name)
        assert value is not None
        out[name] = value
    return out


def service_account_key(raw: Any, dev_token_hosts: frozenset[str]) -> dict[str, str]:
    """The fields of a Google service-account key the host uses, checked: the private key
    must load as an RSA key, and ``token_uri`` must be one of Google's (see
    :func:`check_token_uri`)."""
    field = "service_account_key"
    if isinstance(raw, str):
        if len(raw) > _MAX_KEY_CHARS:
            raise _bad(field, "is too large for a service-account key")
        try:
            raw = json.loads(raw)
        except ValueError:
            raise _bad(field, "must be the service-account key file's JSON") from None
    if not isinstance(raw, Mapping):
        raise _bad(field, "must be the service-account key file's JSON (an object)")
    if raw.get("type") != "service_account":
        raise _bad(f"{field}.type", "must be 'service_account'")
    email = _text(raw, "client_email", pattern=_EMAIL_RE, what="an e-mail address")
    key = raw.get("private_key")
    if not isinstance(key, str) or len(key) > _MAX_KEY_CHARS or not _loads_as_rsa(key):
        raise _bad(f"{field}.private_key", "must be a PEM RSA private key")
    token_uri = raw.get("token_uri") or DEFAULT_GOOGLE_TOKEN_URI
    if not isinstance(token_uri, str):
        raise _bad(f"{field}.token_uri", "must be a string")
    check_token_uri(token_uri, dev_token_hosts)
    out = {"client_email": str(email), "private_key": key, "token_uri": token_uri}
    key_id = raw.get("private_key_id")
    if isinstance(key_id, str) and re.fullmatch(r"[A-Za-z0-9_-]{1,128}", key_id):
        out["private_key_id"] = key_id
    return out


def _loads_as_rsa(pem: str) -> bool:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        return isinstance(load_pem_private_key(pem.encode(), password=None), RSAPrivateKey)
    except (ValueError, TypeError):
        return False


def check_token_uri(uri: str, dev_token_hosts: frozenset[str]) -> None:
    """A service-account key names the token endpoint the host posts a signed assertion
    to; an attacker's key could name any URL. Only Google's https endpoints pass, plus,
    where the operator allowed it for tests (``allow_dev_token_uris``), a host-mapped
    name over http or https."""
    if uri in GOOGLE_TOKEN_URIS:
        return
    parts = urlsplit(uri)
    host = (parts.hostname or "").lower()
    if (parts.scheme in ("http", "https") and host in dev_token_hosts
            and not parts.username and not parts.password):
        return
    raise _bad("service_account_key.token_uri",
               f"must be one of Google's token endpoints ({', '.join(sorted(GOOGLE_TOKEN_URIS))})")


# -- per-connection endpoints -------------------------------------------------------------

def checked_endpoint(spec: AuthSpec, raw: Any) -> str:
    """The connection's endpoint as ``scheme://host[:port]``: a DNS name (no IP literal)
    inside ``auth.endpoint_domain``, on a port it admits, without userinfo, path, query or
    fragment."""
    if not isinstance(raw, str) or not raw or len(raw) > 300:
        raise _bad("endpoint", "is required: the URL of this connection's own endpoint, "
                   f"inside {spec.options['endpoint_domain']}")
    if any(ch in raw for ch in (*_FORBIDDEN, " ", "\\", "\t")):
        raise _bad("endpoint", "must be a URL without spaces or control characters")
    parts = urlsplit(raw if "://" in raw else f"https://{raw}")
    if parts.scheme not in DEFAULT_PORTS:
        raise _bad("endpoint", "must be an https URL")
    if "@" in parts.netloc:
        raise _bad("endpoint", "must not carry a user name or password")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise _bad("endpoint", "must name only scheme, host and port (no path or query)")
    try:
        port = parts.port
        host = parse_host(parts.hostname or "")
    except (ValueError, DomainError):
        raise _bad("endpoint", "must be a URL with a valid host and port") from None
    if is_ip_literal(host):
        raise _bad("endpoint", "must name a host, not an IP address")
    domain = DeclaredDomain.parse(spec.options["endpoint_domain"])
    default = DEFAULT_PORTS[parts.scheme]
    if not domain.matches(host, port or default, default_port=default):
        raise _bad("endpoint", f"must lie within {domain} (a subdomain of it, on the port "
                   "it declares)")
    return f"{parts.scheme}://{host}" + (f":{port}" if port not in (None, default) else "")
