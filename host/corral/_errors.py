"""Corral's one error tree.

Every error a caller can see is a :class:`CorralError`; errors from wasmtime, httpx,
lark, lmdb and cryptography are translated at the boundary (``raise ... from exc``).
Each class carries a stable ``kind`` string: the ABI error kind, the problem type of
the HTTP service and the metrics label all use it.

    CorralError
    ├── ManifestError            pack.toml / embedded manifest breaks a rule (names field + rule)
    ├── PackValidationError      a .wasm is not a valid pack (exports, imports, ABI version)
    ├── BuildError               the guest toolchain failed
    ├── NotFoundError            unknown pack, formula, table, connection, principal
    ├── ArgumentError            arguments do not fit the formula's parameters
    │   └── PayloadTooLarge      a request body over the service's size cap
    ├── AccessDenied             a principal may not use or see a thing
    │   └── Unauthenticated      no API key, or one the service does not know
    ├── Conflict                 the request clashes with what is stored (same version, other bytes)
    ├── InvocationError          a pack call failed (names pack, formula)
    │   ├── LimitExceeded        a sandbox limit was hit (names the limit)
    │   │   ├── FuelExhausted
    │   │   ├── DeadlineExceeded
    │   │   ├── MemoryLimitExceeded
    │   │   ├── StackOverflow
    │   │   ├── InputTooLarge
    │   │   └── OutputTooLarge
    │   ├── GuestTrap            any other trap (unreachable, bad memory access, ...)
    │   ├── AbiViolation         the guest broke the ABI contract (pointers, exports)
    │   ├── BadOutput            undecodable output, or output that breaks its schema
    │   ├── GuestError           the pack's own error, meant for the user
    │   └── Overloaded           no capacity to run the call now (retry later)
    ├── FetchError               a host-mediated fetch failed (kind is the ABI fetch error kind)
    │   ├── FetchDenied          the policy refused it (names the rule)
    │   ├── FetchTimeout
    │   ├── FetchTooLarge
    │   ├── FetchNetworkError
    │   └── FetchLimitExceeded   too many fetches in one call
    ├── CredentialError          connections and their secrets
    │   ├── SecretKeyError       missing / wrong key, tampered or moved ciphertext
    │   ├── ConnectionExpired    refresh failed: the user must reconnect
    │   └── AuthFlowError        an OAuth2 step failed
    ├── FormulaError             the formula language
    │   ├── FormulaSyntaxError   with line, column and a caret under the source
    │   ├── FormulaEvalError     a type or value error while evaluating
    │   └── FormulaDeadlineExceeded
    ├── CacheError               internal to the caches; never fails a call
    ├── ConfigError              the host's own configuration is invalid (names the setting)
    └── Closed                   an object used after close() (a Host, a store, a pool)

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
    kind = "too_large"


class AccessDenied(CorralError):
    kind = "forbidden"


class Unauthenticated(AccessDenied):
    kind = "unauthenticated"


class Conflict(CorralError):
    kind = "conflict"


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
                         status=status)
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
    kind = "network"

    def __init__(self, message: str, *, url: str | None = None, rule: str | None = None,
                 **details: Any) -> None:
        super().__init__(message, url=url, rule=rule, **details)
        self.url = url
        self.rule = rule


class FetchDenied(FetchError):
    kind = "denied"


class FetchTimeout(FetchError):
    kind = "timeout"
    retryable = True


class FetchTooLarge(FetchError):
    kind = "too_large"


class FetchNetworkError(FetchError):
    kind = "network"
    retryable = True


class FetchLimitExceeded(FetchError):
    kind = "limit"


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
    kind = "timeout"


class CacheError(CorralError):
    kind = "cache"


class ConfigError(CorralError):
    """The host's own configuration is invalid; ``setting`` names the bad setting."""

    kind = "config"

    def __init__(self, message: str, *, setting: str | None = None) -> None:
        super().__init__(f"{setting}: {message}" if setting else message, setting=setting)
        self.setting = setting


def caret_context(source: str, line: int, column: int) -> str:
    """The source line at ``line`` with a caret under ``column`` (both 1-based)."""
    lines = source.splitlines() or [""]
    text = lines[min(max(line, 1), len(lines)) - 1]
    return f"{text}\n{' ' * max(column - 1, 0)}^"


class Closed(CorralError):
    """An object was used after ``close()`` (a Host, a store, a pool)."""

    kind = "closed"


class QuotaExceeded(Conflict):
    """A principal's share of a store is used up (``quota`` names which), or the store
    keeps its last free space for deletes and refreshes."""

    kind = "quota_exceeded"
