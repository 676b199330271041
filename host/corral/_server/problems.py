"""RFC 9457 problem details from Corral's error tree.

Every error the HTTP service answers with is a problem document::

    {"type": "urn:corral:problem:fuel_exhausted", "title": "Fuel exhausted", "status": 502,
     "detail": "hostile.Spin: ran out of fuel after 20000000 units", "kind": "fuel_exhausted",
     "pack": "hostile", "formula": "Spin", "limit": "fuel", "instance": "/v1/packs/..."}

Status codes say whose fault a failure is. The caller's: 400 (bad arguments, formula
syntax or evaluation), 401 (no or unknown key), 403, 404, 409, 413. The uploaded pack's:
422 (it fails validation). A pack that was accepted but misbehaves while running (runs
out of fuel or memory, traps, breaks the ABI, returns output that breaks its schema,
reports its own error) or an upstream API that fails: 502, because the service is a
gateway to the pack and the caller's request was fine. Running out of time: 504.
Capacity and rate limits: 429 with ``Retry-After``. A connection that lacks OAuth scopes
the upstream needs: 403 ``missing_scopes``, listing them. A host that is shutting down (a
closed part was used): 503. Only a fault of the host itself is a 500, and its document
says nothing about the cause. Each error kind is its own problem type,
``urn:corral:problem:<kind>``. An error that carries ``retry_after_s`` (overload, or an
upstream's ``Retry-After`` that a pack reported) is answered with a ``Retry-After``
header whatever its status; a pack-reported upstream status is ``upstream_status``.
A pack's blob over its size cap or call limit is the pack's (502); over the caller's
blob quota, 409; a blob URL whose time is up, 410.
No room to store a write (a store at its size ceiling, or a full disk): 507, naming the
store, never LMDB's or the OS's own words.

Only allow-listed, non-secret details are copied into a document; URLs lose their query
string and user info, since injected credentials may sit there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .._errors import (
    AbiViolation,
    AccessDenied,
    ArgumentError,
    AuthFlowError,
    BadOutput,
    BlobError,
    BlobExpired,
    BlobLimitExceeded,
    BlobQuotaExceeded,
    BlobTooLarge,
    BuildError,
    CacheError,
    Closed,
    ConfigError,
    Conflict,
    ConnectionExpired,
    CorralError,
    CredentialError,
    DeadlineExceeded,
    FetchDenied,
    FetchError,
    FetchLimitExceeded,
    FetchNetworkError,
    FetchTimeout,
    FetchTooLarge,
    FormulaDeadlineExceeded,
    FormulaError,
    FormulaEvalError,
    FormulaSyntaxError,
    FuelExhausted,
    GuestError,
    GuestTrap,
    InlineAbandoned,
    InputTooLarge,
    InvalidParameters,
    InvocationError,
    LimitExceeded,
    ManifestError,
    MemoryLimitExceeded,
    MissingScopes,
    NotFoundError,
    OutputTooLarge,
    Overloaded,
    PackValidationError,
    PayloadTooLarge,
    QuotaExceeded,
    SecretKeyError,
    StackOverflow,
    StorageFull,
    StoreUnavailable,
    Unauthenticated,
)

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:corral:problem:"

# Every class of the error tree, each with its own status. An error's status is that of
# the nearest class in its MRO listed here, so a subclass added later inherits its parent's.
STATUS_BY_CLASS: dict[type[CorralError], int] = {
    CorralError: 500,
    ManifestError: 422, PackValidationError: 422, BuildError: 422,
    NotFoundError: 404,
    ArgumentError: 400, PayloadTooLarge: 413, InvalidParameters: 400,
    AccessDenied: 403, Unauthenticated: 401,
    Conflict: 409, QuotaExceeded: 409,
    Closed: 503,
    InvocationError: 502, LimitExceeded: 502, FuelExhausted: 502,
    DeadlineExceeded: 504, MemoryLimitExceeded: 502, StackOverflow: 502,
    InputTooLarge: 413, OutputTooLarge: 502, GuestTrap: 502, AbiViolation: 502,
    BadOutput: 502, GuestError: 502, InlineAbandoned: 502, Overloaded: 429,
    FetchError: 502, FetchDenied: 502, FetchTimeout: 504, FetchTooLarge: 502,
    FetchNetworkError: 502, FetchLimitExceeded: 502,
    BlobError: 502, BlobTooLarge: 502, BlobQuotaExceeded: 409, BlobLimitExceeded: 502,
    BlobExpired: 410,
    CredentialError: 400, SecretKeyError: 500, ConnectionExpired: 409,
    AuthFlowError: 400, MissingScopes: 403,
    FormulaError: 400, FormulaSyntaxError: 400, FormulaEvalError: 400,
    FormulaDeadlineExceeded: 504,
    CacheError: 500,
    ConfigError: 500,
    StorageFull: 507,
    StoreUnavailable: 503,
}

_SAFE_DETAILS = ("quota", "limit", "limit_value", "rule", "line", "column", "field",
                 "connection", "setting", "guest_kind", "retry_after_s", "missing_scopes",
                 "store", "parameter", "parameters", "field_errors", "variable")

_TITLES = {400: "Bad request", 401: "Unauthenticated", 403: "Forbidden", 404: "Not found",
           409: "Conflict", 410: "Gone", 413: "Payload too large", 422: "Invalid pack",
           429: "Too many requests", 500: "Internal error", 502: "Pack or upstream failure",
           503: "Unavailable", 504: "Timed out", 507: "Insufficient storage"}


@dataclass(frozen=True)
class Problem:
    """A problem document with the status and headers to send it with."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def status_for(error: CorralError) -> int:
    """The HTTP status that says whose fault ``error`` is."""
    return status_of(type(error))


def status_of(error_class: type[CorralError]) -> int:
    """The status of an error class: its own entry, else its nearest listed ancestor's."""
    for cls in error_class.__mro__:
        status = STATUS_BY_CLASS.get(cls)
        if status is not None:
            return status
    return 500


def problem_type(kind: str) -> str:
    """The RFC 9457 ``type`` URI of an error kind."""
    return TYPE_PREFIX + kind


def problem_for(error: CorralError, *, instance: str | None = None) -> Problem:
    """The problem document for a Corral error."""
    status = status_for(error)
    if status == 500:
        # The host's own fault: the message may describe its internals, so say nothing.
        return internal_problem(instance=instance)
    body: dict[str, Any] = {
        "type": problem_type(error.kind),
        "title": _title(error),
        "status": status,
        "detail": error.message,
        "kind": error.kind,
    }
    for name in ("pack", "formula"):
        if error.details.get(name) is not None:
            body[name] = error.details[name]
    body.update({k: error.details[k] for k in _SAFE_DETAILS if error.details.get(k) is not None})
    if isinstance(error, FetchError) and error.url:
        body["url"] = redact_url(error.url)
    upstream = error.details.get("status")
    if upstream is not None:
        body["upstream_status"] = upstream
    if instance:
        body["instance"] = instance
    return Problem(status, body, _headers_for(error, status))


def problem(status: int, kind: str, detail: str, *, instance: str | None = None,
            headers: dict[str, str] | None = None, **extra: Any) -> Problem:
    """A problem document that no Corral error stands behind (unknown route, bad JSON)."""
    body: dict[str, Any] = {"type": problem_type(kind), "title": _TITLES.get(status, "Error"),
                            "status": status, "detail": detail, "kind": kind, **extra}
    if instance:
        body["instance"] = instance
    return Problem(status, body, dict(headers or {}))


def internal_problem(*, instance: str | None = None) -> Problem:
    return problem(500, "internal", "the service failed to handle this request; the cause "
                   "is in its log", instance=instance)


def redact_url(url: str) -> str:
    """``url`` without user info, query or fragment."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable url>"
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _title(error: CorralError) -> str:
    words = error.kind.replace("_", " ").strip()
    return words[:1].upper() + words[1:] if words else "Error"


def _headers_for(error: CorralError, status: int) -> dict[str, str]:
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="corral"'
    retry_after = getattr(error, "retry_after_s", None)
    if status == 429:
        headers["Retry-After"] = str(max(1, math.ceil(retry_after or 1.0)))
    elif isinstance(retry_after, (int, float)) and math.isfinite(retry_after):
        headers["Retry-After"] = str(max(0, math.ceil(retry_after)))
    return headers


def validation_problem(errors: list[dict[str, Any]], *, instance: str) -> Problem:
    """A 400 for a body that failed validation, naming each field and never echoing the
    input: a rejected body may hold a secret."""
    named = [{"loc": [str(part) for part in err.get("loc", ())], "msg": err.get("msg", "")}
             for err in errors]
    where = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in named[:5])
    return problem(400, "bad_request", f"invalid request: {where}", instance=instance,
                   errors=named)
