"""Auth kinds: what a connection's secret must hold, and how the host applies it.

:class:`ConnectionCredentials` is the :class:`~corral._types.Credentials` the fetch path
uses. It holds no secret itself: each ``apply`` asks the store's :class:`SecretSession`
for the opened secret, adds the headers / query parameters the pack's auth kind calls
for, and forgets it. OAuth2 tokens are refreshed before they expire (``apply``) or after
a 401 (``refresh``); the session makes sure concurrent refreshes of one connection cost
one token request.

Secret shapes, per kind::

    bearer                     {"token"}
    header                     {"value"}
    headers                    {"values": {header name: value}}
    query                      {"value"}
    queries                    {"values": {param: value}}
    basic                      {"username", "password"}
    oauth2_code                {"client_id", "access_token"[, "client_secret",
                                "refresh_token", "expires_at"]}
    oauth2_client_credentials  {"client_id", "client_secret"}  (the token is fetched)

and the request-signing and minted-token kinds in :mod:`corral._connections.kinds`
(custom, aws_access_key, aws_assume_role, google_service_account). With
``auth.requires_endpoint_url`` every kind's secret also holds ``"endpoint"``.
"""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence

from .._domains import DEFAULT_PORTS, DeclaredDomain, DomainError, normalize_host
from .._errors import ArgumentError, CredentialError, ManifestError
from .._pack.manifest import AuthSpec
from .._types import Clock, OutgoingRequest
from . import aws, custom, google
from .kinds import AWS_KINDS, NEW_KINDS, checked_endpoint, validate_new_kind
from .minted import Minter

OAUTH_KINDS = frozenset({"oauth2_code", "oauth2_client_credentials"})
DEFAULT_REFRESH_SKEW_S = 30.0

_HEADER_NAME_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")
_FORBIDDEN_IN_VALUES = ("\r", "\n", "\0")


# -- what a secret must hold ---------------------------------------------------------------

_SHAPES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # kind: (required string fields, optional fields)
    "bearer": (("token",), ()),
    "header": (("value",), ()),
    "headers": ((), ("values",)),
    "query": (("value",), ()),
    "queries": ((), ("values",)),
    "basic": (("username",), ("password",)),
    "oauth2_code": (("client_id", "access_token"),
                    ("client_secret", "refresh_token", "expires_at")),
    "oauth2_client_credentials": (("client_id", "client_secret"), ()),
}


def validate_secret(spec: AuthSpec, secret: Mapping[str, Any], *,
                    dev_token_hosts: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Check a secret against the pack's auth kind; errors name fields, never values."""
    if spec.kind not in _SHAPES and spec.kind not in NEW_KINDS:
        raise ArgumentError(f"auth kind {spec.kind!r} takes no connection secret")
    if not isinstance(secret, Mapping):
        raise ArgumentError("a connection secret must be an object")
    endpoint = None
    if spec.options.get("requires_endpoint_url"):
        secret = dict(secret)
        endpoint = checked_endpoint(spec, secret.pop("endpoint", None))
    if spec.kind in NEW_KINDS:
        values = validate_new_kind(spec, secret, dev_token_hosts=dev_token_hosts)
    else:
        values = _validate_classic(spec, secret)
    return values if endpoint is None else {**values, "endpoint": endpoint}


def _validate_classic(spec: AuthSpec, secret: Mapping[str, Any]) -> dict[str, Any]:
    _declared_pairs(spec)  # a malformed declaration fails here, before anything is stored
    required, optional = _SHAPES[spec.kind]
    unknown = sorted(set(secret) - set(required) - set(optional))
    if unknown:
        raise ArgumentError(f"secret field {unknown[0]!r} is not used by auth kind {spec.kind}",
                            field=unknown[0])
    values: dict[str, Any] = {}
    for name in required:
        values[name] = _secret_text(secret, name, spec.kind, allow_empty=False)
    if spec.kind == "basic":
        values["password"] = _secret_text(secret, "password", spec.kind, allow_empty=True,
                                          default="")
    elif spec.kind in ("headers", "queries"):
        values["values"] = _named_values(spec, secret.get("values"))
    elif spec.kind == "oauth2_code":
        for name in ("client_secret", "refresh_token"):
            if secret.get(name) is not None:
                values[name] = _secret_text(secret, name, spec.kind, allow_empty=False)
        values["expires_at"] = _expiry(secret.get("expires_at"))
    return values


def _secret_text(secret: Mapping[str, Any], name: str, kind: str, *, allow_empty: bool,
                 default: str | None = None) -> str:
    value = secret.get(name, default)
    if value is None:
        raise ArgumentError(f"secret field {name!r} is required for auth kind {kind}",
                            field=name)
    if not isinstance(value, str) or (not value and not allow_empty):
        raise ArgumentError(f"secret field {name!r} must be a non-empty string", field=name)
    if any(ch in value for ch in _FORBIDDEN_IN_VALUES):
        raise ArgumentError(f"secret field {name!r} must not contain line breaks or NUL",
                            field=name)
    return value


def _named_values(spec: AuthSpec, raw: Any) -> dict[str, str]:
    """Values per declared header (names case-insensitive) or query parameter (exact)."""
    names = [name for name, _ in _declared_pairs(spec)]
    if not isinstance(raw, Mapping):
        raise ArgumentError(f"secret field 'values' must map each of {', '.join(names)} to "
                            "its value", field="values")

    def fold(name: str) -> str:
        return name.lower() if spec.kind == "headers" else name

    given = {fold(str(key)): value for key, value in raw.items()}
    extra = sorted(set(given) - {fold(n) for n in names})
    if extra:
        raise ArgumentError(f"secret value {extra[0]!r} is not declared by the pack's auth",
                            field="values")
    return {name: _secret_text({name: given.get(fold(name))}, name, spec.kind,
                               allow_empty=False)
            for name in names}


def _expiry(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ArgumentError("secret field 'expires_at' must be a Unix time in seconds",
                            field="expires_at")
    return float(value)


# -- what the host adds to a request -------------------------------------------------------

def _declared_pairs(spec: AuthSpec) -> list[tuple[str, str | None]]:
    """(name, prefix) per injected header or query parameter declared by the manifest."""
    opts = spec.options
    if spec.kind == "bearer" or spec.kind in OAUTH_KINDS:
        return [("Authorization", _prefix(opts, "Bearer"))]
    if spec.kind == "google_service_account":
        return [("Authorization", "Bearer")]
    if spec.kind == "basic":
        return [("Authorization", "Basic")]
    if spec.kind == "header":
        return [(_header_name(opts.get("name"), "auth.name"), _prefix(opts, None))]
    if spec.kind == "headers":
        return [_header_entry(item, f"auth.headers[{i}]")
                for i, item in enumerate(_as_list(opts.get("headers"), "auth.headers"))]
    if spec.kind == "query":
        return [(_param_name(opts.get("param"), "auth.param"), None)]
    if spec.kind == "queries":
        return [(_param_name(item, f"auth.params[{i}]"), None)
                for i, item in enumerate(_as_list(opts.get("params"), "auth.params"))]
    return []


def _prefix(opts: Mapping[str, Any], default: str | None) -> str | None:
    value = opts.get("prefix", default)
    if value is not None and not isinstance(value, str):
        raise ManifestError("must be a string", field="auth.prefix", rule="type")
    return value or None


def _as_list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise ManifestError("must be a non-empty array", field=where, rule="type")
    return value


def _header_entry(item: Any, where: str) -> tuple[str, str | None]:
    if isinstance(item, str):
        return _header_name(item, where), None
    if not isinstance(item, Mapping):
        raise ManifestError("must be a header name or a table {name, prefix}", field=where,
                            rule="type")
    prefix = item.get("prefix")
    if prefix is not None and not isinstance(prefix, str):
        raise ManifestError("must be a string", field=f"{where}.prefix", rule="type")
    return _header_name(item.get("name"), f"{where}.name"), prefix or None


def _header_name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _HEADER_NAME_RE.match(value):
        raise ManifestError("must be an HTTP header name", field=where, rule="header_name")
    return value


def _param_name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 128:
        raise ManifestError("must be a query parameter name", field=where, rule="param_name")
    return value


def _with_prefix(prefix: str | None, value: str) -> str:
    return f"{prefix} {value}" if prefix else value


def render(spec: AuthSpec, values: Mapping[str, Any]) -> tuple[dict[str, str],
                                                                list[tuple[str, str]]]:
    """The headers and query parameters that carry ``values`` for this auth kind."""
    pairs = _declared_pairs(spec)
    if spec.kind in ("bearer", "header", "query"):
        secret = values["token"] if spec.kind == "bearer" else values["value"]
        rendered = [(name, _with_prefix(prefix, secret)) for name, prefix in pairs]
    elif spec.kind in ("headers", "queries"):
        rendered = [(name, _with_prefix(prefix, values["values"][name]))
                    for name, prefix in pairs]
    elif spec.kind == "basic":
        raw = f"{values['username']}:{values.get('password', '')}".encode()
        rendered = [("Authorization", "Basic " + base64.b64encode(raw).decode("ascii"))]
    elif spec.kind in OAUTH_KINDS or spec.kind == "google_service_account":
        rendered = [(name, _with_prefix(prefix, values["access_token"]))
                    for name, prefix in pairs]
    else:
        rendered = []
    for _, text in rendered:
        if any(ch in text for ch in _FORBIDDEN_IN_VALUES):
            raise CredentialError("the connection's secret holds a line break or NUL and "
                                  "cannot be sent")
    if spec.kind in ("query", "queries"):
        return {}, rendered
    return dict(rendered), []


def injected_names(spec: AuthSpec) -> tuple[frozenset[str], frozenset[str]]:
    """(lower-cased header names, query parameter names) the host sets for this kind."""
    if spec.kind in AWS_KINDS:
        return aws.SIGNED_HEADER_NAMES, frozenset()
    names = [name for name, _ in _declared_pairs(spec)]
    if spec.kind in ("query", "queries"):
        return frozenset(), frozenset(names)
    return frozenset(n.lower() for n in names), frozenset()


# -- where credentials may go --------------------------------------------------------------

def credential_domains(spec: AuthSpec, network_domains: Sequence[str]
                       ) -> tuple[DeclaredDomain, ...]:
    """Where credentials go: ``auth.domains`` if the manifest lists any, else every network
    domain, each on the ports its network domain admits.

    A bare auth domain never means "any port": it takes the port of each network domain
    that covers it (``auth.example.com`` under ``example.com:8443`` is
    ``auth.example.com:8443``; under a bare ``example.com`` it stays bare, which admits
    only the scheme's default port).
    """
    network = [DeclaredDomain.parse(d) for d in network_domains]
    if not spec.domains:
        return tuple(network)
    found: list[DeclaredDomain] = []
    for text in spec.domains:
        auth = DeclaredDomain.parse(text)
        if auth.port is not None:
            found.append(auth)
            continue
        found.extend(DeclaredDomain(auth.name, net.port) for net in network if net.covers(auth))
    return tuple(dict.fromkeys(found))


# -- the Credentials implementation --------------------------------------------------------

@dataclass(frozen=True)
class LoadedSecret:
    """One opened secret with the record generation it was read at."""

    generation: int
    values: Mapping[str, Any] = field(repr=False)
    expires_at: float | None = None


class SecretSession(Protocol):
    """The store's side of one connection."""

    def load(self) -> LoadedSecret:
        """Open the current secret (raises ConnectionExpired for an expired connection)."""

    def renew(self, seen_generation: int) -> None:
        """Get a new token unless the record moved past ``seen_generation`` already."""


#: Fields of a secret that are credentials, whatever their length.
_SECRET_FIELDS = ("token", "value", "password", "access_token", "refresh_token",
                  "client_secret", "secret_access_key", "session_token", "external_id")
#: Fields that name an account rather than prove it (a username, a client id): redacted
#: only from this length on, since a short one ("ada") is ordinary text in a response.
MIN_REDACTED_CHARS = 8
_IDENTITY_FIELDS = ("username", "client_id", "access_key_id")


def secret_strings(spec: AuthSpec, values: Mapping[str, Any]) -> frozenset[str]:
    """Every string the host sends that a response must not show, of any length: each
    credential field, each named value, and for basic auth the ``user:password`` pair and
    its base64 (the username too where the password is empty: then it is the key)."""
    found = {values[name] for name in _SECRET_FIELDS if isinstance(values.get(name), str)}
    named = values.get("values")
    if isinstance(named, Mapping):
        found.update(v for v in named.values() if isinstance(v, str))
    found.update(values[name] for name in _IDENTITY_FIELDS
                 if isinstance(values.get(name), str) and len(values[name]) >= MIN_REDACTED_CHARS)
    found.update(google.secret_strings(values))
    if spec.kind == "basic" and isinstance(values.get("username"), str):
        pair = f"{values['username']}:{values.get('password') or ''}"
        found.update((pair, base64.b64encode(pair.encode()).decode("ascii")))
        if not values.get("password"):
            found.add(values["username"])
    return frozenset(v for v in found if v)


class ConnectionCredentials:
    """Applies one connection's secret to outgoing requests for the pack's domains.

    With a per-connection endpoint, credentials go to that endpoint's host and port only
    (not to the rest of the declared domain). The signing and custom kinds finish the
    whole request (:meth:`finish`) after the policy checked it."""

    def __init__(self, *, connection_id: str, spec: AuthSpec, domains: Sequence[DeclaredDomain],
                 session: SecretSession, clock: Clock,
                 refresh_skew_s: float = DEFAULT_REFRESH_SKEW_S,
                 minter: Minter | None = None) -> None:
        self._id = connection_id
        self._spec = spec
        self._domains = tuple(domains)
        self._session = session
        self._clock = clock
        self._skew = refresh_skew_s
        self._minter = minter
        self._header_names, self._param_names = injected_names(spec)
        self._applied_generation: int | None = None
        self._endpoint: tuple[str, str, int] | None = None
        #: Random per call: only placeholders carrying it are filled (custom auth).
        self.placeholder_token = secrets.token_hex(12)

    @property
    def identity(self) -> str:
        return self._id

    @property
    def kind(self) -> str:
        return self._spec.kind

    @property
    def header_names(self) -> frozenset[str]:
        return self._header_names

    @property
    def param_names(self) -> frozenset[str]:
        return self._param_names

    def guest_facts(self) -> dict[str, str]:
        """What the guest may know of the connection (``ctx.connection``): no secret."""
        facts: dict[str, str] = {}
        if self._spec.options.get("requires_endpoint_url"):
            endpoint = self._session.load().values.get("endpoint")
            if isinstance(endpoint, str):
                facts["endpoint"] = endpoint
        if self._spec.kind == "custom":
            facts["placeholder_token"] = self.placeholder_token
        return facts

    def applies_to(self, host: str, port: int | None = None, scheme: str = "https") -> bool:
        """``host`` on ``port`` (None: the scheme's default) is one of the auth domains
        (or, with a per-connection endpoint, that endpoint's host and port exactly)."""
        default = DEFAULT_PORTS.get(scheme)
        if default is None:
            return False
        try:
            normal = normalize_host(host)
        except DomainError:
            return False
        wanted = default if port is None else port
        if self._spec.options.get("requires_endpoint_url"):
            return self._endpoint_parts() == (scheme, normal, wanted)
        return any(domain.matches(normal, wanted, default_port=default)
                   for domain in self._domains)

    def _endpoint_parts(self) -> tuple[str, str, int] | None:
        if self._endpoint is None:
            endpoint = self._session.load().values.get("endpoint")
            if not isinstance(endpoint, str):
                return None
            scheme, _, rest = endpoint.partition("://")
            host, _, port = rest.partition(":")
            self._endpoint = (scheme, host, int(port) if port else DEFAULT_PORTS[scheme])
        return self._endpoint

    def apply(self, headers: dict[str, str], params: list[tuple[str, str]]) -> None:
        loaded = self._session.load()
        if self._needs_new_token(loaded):
            self._session.renew(loaded.generation)
            loaded = self._session.load()
        values: Mapping[str, Any] = loaded.values
        if self._spec.kind == "google_service_account":
            values = {"access_token": self._minted_token(loaded)}
        add_headers, add_params = render(self._spec, values) if self._spec.kind not in (
            "custom", *AWS_KINDS) else ({}, [])
        self._applied_generation = loaded.generation
        for name in [n for n in headers if n.lower() in self._header_names]:
            del headers[name]
        headers.update(add_headers)
        params[:] = [(k, v) for k, v in params if k not in self._param_names] + add_params

    def finish(self, request: OutgoingRequest) -> OutgoingRequest:
        """Sign (AWS) or fill in (custom) the whole request; other kinds leave it."""
        if self._spec.kind == "custom":
            loaded = self._session.load()
            return custom.fill(request, self._spec.options["params"], loaded.values["values"],
                               self.placeholder_token)
        if self._spec.kind in AWS_KINDS:
            return aws.sign(request, self._aws_keys(), service=self._spec.options["service"],
                            region=aws.region_for(request.host,
                                                  self._spec.options.get("region")))
        return request

    def _aws_keys(self) -> aws.AwsKeys:
        loaded = self._session.load()
        values = loaded.values
        if self._spec.kind == "aws_access_key":
            return aws.AwsKeys(values["access_key_id"], values["secret_access_key"],
                               values.get("session_token"))
        found: aws.AwsKeys = self._require_minter().aws_role(self._id, loaded.generation, values)
        return found

    def _minted_token(self, loaded: LoadedSecret) -> str:
        token: str = self._require_minter().google_token(
            self._id, loaded.generation, loaded.values, self._spec.options["scopes"])
        return token

    def _require_minter(self) -> Minter:
        if self._minter is None:
            raise CredentialError(f"auth kind {self._spec.kind} needs the host's minter; "
                                  "make credentials through the ConnectionStore")
        return self._minter

    def refresh(self) -> bool:
        if self._spec.kind in ("google_service_account", "aws_assume_role"):
            self._require_minter().forget(self._id)
            return True
        if self._spec.kind not in OAUTH_KINDS:
            return False
        seen = self._applied_generation
        if seen is None:
            seen = self._session.load().generation
        self._session.renew(seen)
        return True

    def secret_values(self) -> frozenset[str]:
        found = set(secret_strings(self._spec, self._session.load().values))
        if self._minter is not None:
            for minted in self._minter.cached(self._id):
                if isinstance(minted, str):
                    found.add(minted)
                elif isinstance(minted, aws.AwsKeys):
                    found.update(v for v in (minted.secret_access_key, minted.session_token)
                                 if v)
        return frozenset(found)

    def _needs_new_token(self, loaded: LoadedSecret) -> bool:
        if self._spec.kind not in OAUTH_KINDS:
            return False
        if not loaded.values.get("access_token"):
            return True
        return loaded.expires_at is not None and self._clock() >= loaded.expires_at - self._skew

    def __repr__(self) -> str:
        return f"ConnectionCredentials(id={self._id!r}, kind={self._spec.kind!r})"
