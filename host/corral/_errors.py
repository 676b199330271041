"""Corral's one error tree.

Every error a caller can see is a :class:`CorralError`; errors from wasmtime, httpx,
lark, lmdb and cryptography are translated at the boundary (``raise ... from exc``).
Each class carries its own stable ``kind`` string, unique in the tree: the HTTP service's
problem type (``urn:corral:problem:<kind>``), the metrics label and the CLI all use it.
A fetch error also carries an ``abi_kind``: the kind a guest reads in a fetch's
``{err}`` map (``guest-sdk/ABI.md`` §5.2), which stays as the ABI defines it.

    CorralError                  kind
    ├── ManifestError            manifest            pack.toml / embedded manifest breaks a rule
    ├── PackValidationError      invalid_pack        a .wasm is not a valid pack (exports, ABI)
    ├── BuildError               build               the guest toolchain failed
    ├── NotFoundError            not_found           unknown pack, formula, table, connection
    ├── ArgumentError            bad_args            arguments do not fit the parameters
    │   ├── PayloadTooLarge      payload_too_large   a request body over the size cap
    │   └── InvalidParameters    invalid_parameters  the pack's validate_parameters refused them
    ├── AccessDenied             forbidden           a principal may not use or see a thing
    │   └── Unauthenticated      unauthenticated     no API key, or an unknown one
    ├── Conflict                 conflict            clashes with what is stored
    │   └── QuotaExceeded        quota_exceeded      a principal's share of a store is used up
    ├── Closed                   closed              an object was used after close()
    ├── InvocationError          invocation          a pack call failed (names pack, formula)
    │   ├── LimitExceeded        limit               a sandbox limit was hit (names it)
    │   │   ├── FuelExhausted        fuel_exhausted
    │   │   ├── DeadlineExceeded     timeout         the call's own wall clock
    │   │   ├── MemoryLimitExceeded  memory_limit
    │   │   ├── StackOverflow        stack_overflow
    │   │   ├── InputTooLarge        input_too_large
    │   │   └── OutputTooLarge       output_too_large
    │   ├── GuestTrap            trap                any other trap (unreachable, ...)
    │   ├── AbiViolation         abi_violation       the guest broke the ABI contract
    │   ├── BadOutput            bad_output          undecodable or schema-breaking output
    │   ├── GuestError           guest_error         the pack's own error, for the user
    │   ├── InlineAbandoned      inline_abandoned    internal: rerun on the pool
    │   └── Overloaded           overloaded          no capacity now (retry later)
    ├── FetchError               fetch               a host-mediated fetch failed
    │   ├── FetchDenied          fetch_denied        the policy refused it (names the rule)
    │   ├── FetchTimeout         fetch_timeout
    │   ├── FetchTooLarge        fetch_too_large
    │   ├── FetchNetworkError    fetch_network
    │   └── FetchLimitExceeded   fetch_limit         too many fetches in one call
    ├── BlobError                blob                a pack's temporary blob could not be stored
    │   ├── BlobTooLarge         blob_too_large      over blob_max_bytes
    │   ├── BlobQuotaExceeded    blob_quota          the principal's live blobs are at their quota
    │   ├── BlobLimitExceeded    blob_limit          more blobs in one call than max_blobs
    │   └── BlobExpired          blob_expired        a blob URL whose time is up (410)
    ├── CredentialError          credential          connections and their secrets
    │   ├── SecretKeyError       secret_key          missing / wrong key, tampered ciphertext
    │   ├── ConnectionExpired    connection_expired  refresh failed: reconnect
    │   ├── AuthFlowError        auth_flow           an OAuth2 step failed
    │   └── MissingScopes        missing_scopes      reconnect granting the scopes it names
    ├── FormulaError             formula             the formula language
    │   ├── FormulaSyntaxError   formula_syntax      line, column and a caret under the source
    │   ├── FormulaEvalError     formula_eval        a type or value error while evaluating
    │   └── FormulaDeadlineExceeded  formula_timeout
    ├── CacheError               cache               internal to the caches; never fails a call
    ├── ConfigError              config              the host's configuration is invalid
    ├── StorageFull              storage_full        a store reached its size ceiling, or the disk is full
    └── StoreUnavailable         store_unavailable   PostgreSQL or Redis cannot be reached now (503, retry)

No message ever contains a secret: callers build messages from names, never values
of credentials.
"""

from __future__ import annotations

from typing import Any


class CorralError(Exception):
    """Base of every error Corral raises on purpose."""

    kind: str = "error"
    retryable: bool = False

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = {k: v for k, v in details.items() if v is not None}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe description: kind, message and the non-secret details."""
        return {"kind": self.kind, "message": self.message, **self.details}


class ManifestError(CorralError):
    kind = "manifest"

    def __init__(self, message: str, *, field: str | None = None, rule: str | None = None,
                 source: str | None = None) -> None:
        where = f"{source}: " if source else ""
        at = f"{field}: " if field else ""
        super().__init__(f"{where}{at}{message}", field=field, rule=rule, source=source)
        self.field = field
        self.rule = rule


class PackValidationError(CorralError):
    kind = "invalid_pack"


class BuildError(CorralError):
    kind = "build"


class NotFoundError(CorralError):
    kind = "not_found"


class ArgumentError(CorralError):
    kind = "bad_args"


class PayloadTooLarge(ArgumentError):
    kind = "payload_too_large"


class InvalidParameters(ArgumentError):
    """The pack's ``validate_parameters`` op judged the arguments invalid; ``parameters``
    names the ones it faulted and ``field_errors`` holds its ``{parameter, message}``s."""

    kind = "invalid_parameters"


class AccessDenied(CorralError):
    kind = "forbidden"


class Unauthenticated(AccessDenied):
    kind = "unauthenticated"


class Conflict(CorralError):
    kind = "conflict"


class Closed(CorralError):
    """An object was used after its ``close()``; names what was closed."""

    kind = "closed"


class InvocationError(CorralError):
    """A pack call failed. ``pack`` and ``formula`` name the call."""

    kind = "invocation"

    def __init__(self, message: str, *, pack: str | None = None, formula: str | None = None,
                 **details: Any) -> None:
        prefix = f"{pack}.{formula}: " if pack and formula else (f"{pack}: " if pack else "")
        super().__init__(prefix + message, pack=pack, formula=formula, **details)
        self.pack = pack
        self.formula = formula


class LimitExceeded(InvocationError):
    kind = "limit"

    def __init__(self, message: str, *, limit: str, value: Any = None, pack: str | None = None,
                 formula: str | None = None) -> None:
        super().__init__(message, pack=pack, formula=formula, limit=limit, limit_value=value)
        self.limit = limit


class FuelExhausted(LimitExceeded):
    kind = "fuel_exhausted"


class DeadlineExceeded(LimitExceeded):
    """The call's own wall-clock limit: not retried (a pack that loops would loop again)."""

    kind = "timeout"


class MemoryLimitExceeded(LimitExceeded):
    kind = "memory_limit"


class StackOverflow(LimitExceeded):
    kind = "stack_overflow"


class InputTooLarge(LimitExceeded):
    kind = "input_too_large"


class OutputTooLarge(LimitExceeded):
    kind = "output_too_large"


class GuestTrap(InvocationError):
    kind = "trap"


class AbiViolation(InvocationError):
    kind = "abi_violation"


class BadOutput(InvocationError):
    kind = "bad_output"


class GuestError(InvocationError):
    """The pack reported an error of its own (Coda's UserVisibleError)."""

    kind = "guest_error"

    def __init__(self, message: str, *, guest_kind: str = "user", pack: str | None = None,
                 formula: str | None = None, retryable: bool = False,
                 status: int | None = None, retry_after_s: float | None = None) -> None:
        super().__init__(message, pack=pack, formula=formula, guest_kind=guest_kind,
                         status=status, retry_after_s=retry_after_s)
        self.guest_kind = guest_kind
        self.retryable = retryable
        self.status = status
        self.retry_after_s = retry_after_s


class InlineAbandoned(InvocationError):
    """An inline attempt gave up (it wanted the network, or outran its short budget) before
    doing anything outside the sandbox; the scheduler runs the call again on its pool.
    Never reaches a caller."""

    kind = "inline_abandoned"


class Overloaded(InvocationError):
    kind = "overloaded"
    retryable = True

    def __init__(self, message: str, *, retry_after_s: float = 1.0, pack: str | None = None,
                 formula: str | None = None) -> None:
        super().__init__(message, pack=pack, formula=formula, retry_after_s=retry_after_s)
        self.retry_after_s = retry_after_s


class FetchError(CorralError):
    """A fetch failed; ``abi_kind`` is the kind the guest reads in the fetch's ``{err}`` map."""

    kind = "fetch"
    abi_kind = "network"

    def __init__(self, message: str, *, url: str | None = None, rule: str | None = None,
                 **details: Any) -> None:
        super().__init__(message, url=url, rule=rule, **details)
        self.url = url
        self.rule = rule


class FetchDenied(FetchError):
    kind = "fetch_denied"
    abi_kind = "denied"


class FetchTimeout(FetchError):
    kind = "fetch_timeout"
    abi_kind = "timeout"
    retryable = True


class FetchTooLarge(FetchError):
    kind = "fetch_too_large"
    abi_kind = "too_large"


class FetchNetworkError(FetchError):
    kind = "fetch_network"
    abi_kind = "network"
    retryable = True


class FetchLimitExceeded(FetchError):
    kind = "fetch_limit"
    abi_kind = "limit"


class BlobError(CorralError):
    """A pack's ``corral.blob`` request failed; ``abi_kind`` is the kind the guest reads in
    the blob reply's ``{err}`` map (ABI.md §4.1)."""

    kind = "blob"
    abi_kind = "unavailable"

    def __init__(self, message: str, *, rule: str | None = None, **details: Any) -> None:
        super().__init__(message, rule=rule, **details)
        self.rule = rule


class BlobTooLarge(BlobError):
    kind = "blob_too_large"
    abi_kind = "too_large"


class BlobQuotaExceeded(BlobError):
    kind = "blob_quota"
    abi_kind = "quota"


class BlobLimitExceeded(BlobError):
    kind = "blob_limit"
    abi_kind = "limit"


class BlobExpired(BlobError):
    """A blob URL whose time is up: the blob is gone for good."""

    kind = "blob_expired"


class CredentialError(CorralError):
    kind = "credential"


class SecretKeyError(CredentialError):
    kind = "secret_key"


class ConnectionExpired(CredentialError):
    kind = "connection_expired"


class AuthFlowError(CredentialError):
    kind = "auth_flow"


class FormulaError(CorralError):
    kind = "formula"


class FormulaSyntaxError(FormulaError):
    kind = "formula_syntax"

    def __init__(self, message: str, *, line: int, column: int, source: str,
                 context: str | None = None) -> None:
        self.line = line
        self.column = column
        self.source = source
        self.context = context if context is not None else caret_context(source, line, column)
        super().__init__(f"{message} at line {line}, column {column}\n{self.context}")
        self.details.update(line=line, column=column)


class FormulaEvalError(FormulaError):
    kind = "formula_eval"

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None,
                 **details: Any) -> None:
        at = f" (at line {line}, column {column})" if line is not None else ""
        super().__init__(message + at, line=line, column=column, **details)
        self.line = line
        self.column = column


class FormulaDeadlineExceeded(FormulaError):
    kind = "formula_timeout"


class CacheError(CorralError):
    kind = "cache"


class ConfigError(CorralError):
    """The host's own configuration is invalid; ``setting`` names the bad setting."""

    kind = "config"

    def __init__(self, message: str, *, setting: str | None = None) -> None:
        super().__init__(f"{setting}: {message}" if setting else message, setting=setting)
        self.setting = setting


class StorageFull(CorralError):
    """No room to store a write: a store's map reached its ceiling, or the disk (or a
    quota) is full. ``store`` names the store, ``setting`` the ceiling that could be
    raised. The message never carries LMDB's or the OS's own text."""

    kind = "storage_full"

    def __init__(self, message: str, *, store: str | None = None,
                 setting: str | None = None) -> None:
        super().__init__(message, store=store, setting=setting)
        self.store = store
        self.setting = setting


def caret_context(source: str, line: int, column: int) -> str:
    """The source line at ``line`` with a caret under ``column`` (both 1-based)."""
    lines = source.splitlines() or [""]
    text = lines[min(max(line, 1), len(lines)) - 1]
    return f"{text}\n{' ' * max(column - 1, 0)}^"


class StoreUnavailable(CorralError):
    """A shared store (PostgreSQL for durable state, Redis for strict rate limits) cannot
    be reached now; the request may be retried after ``retry_after_s``."""

    kind = "store_unavailable"
    retryable = True

    def __init__(self, message: str, *, store: str, retry_after_s: float = 1.0) -> None:
        super().__init__(message, store=store, retry_after_s=retry_after_s)
        self.retry_after_s = retry_after_s

class MissingScopes(CredentialError):
    """The pack found that the caller's connection lacks OAuth scopes the upstream needs:
    the caller must reconnect granting ``scopes``. ``status`` is the upstream's, if given."""

    kind = "missing_scopes"

    def __init__(self, message: str, *, scopes: tuple[str, ...] | list[str] = (),
                 pack: str | None = None, formula: str | None = None,
                 status: int | None = None) -> None:
        prefix = f"{pack}.{formula}: " if pack and formula else (f"{pack}: " if pack else "")
        wanted = f"; reconnect granting the scopes: {' '.join(scopes)}" if scopes else ""
        super().__init__(prefix + message + wanted, pack=pack, formula=formula,
                         missing_scopes=list(scopes) or None, status=status)
        self.scopes = tuple(scopes)
        self.pack = pack
        self.formula = formula
        self.status = status


class QuotaExceeded(Conflict):
    """A principal's share of a store is used up (``quota`` names which), or the store
    keeps its last free space for deletes and refreshes."""

    kind = "quota_exceeded"
