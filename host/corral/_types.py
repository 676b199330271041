"""Shared type aliases and the small protocols that join Corral's modules."""

from __future__ import annotations

import functools
import threading
import zoneinfo
from dataclasses import dataclass, field
from typing import Any, Protocol, Union, runtime_checkable

from ._errors import ArgumentError

JSON = Union[None, bool, int, float, str, bytes, list["JSON"], dict[str, "JSON"]]
"""A value that crosses the ABI: MessagePack's data model (bytes included)."""


#: The longest document id a caller may give (it is an opaque label for the pack).
MAX_DOC_ID_CHARS = 256


@functools.lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones()) | {"UTC"}


def check_timezone(name: Any, *, field: str = "timezone") -> str:
    """``name`` if it is an IANA time zone this host knows (``Europe/Paris``, ``UTC``),
    else an ArgumentError naming ``field``. Only names from the zone database are taken,
    never a path or a POSIX TZ string."""
    if isinstance(name, str) and name in _zone_names():
        return name
    shown = repr(name)[:80]
    raise ArgumentError(f"{field} must be an IANA time zone name such as 'Europe/Paris' or "
                        f"'UTC', not {shown}", field=field)


def check_doc_id(value: Any, *, field: str = "doc_id") -> str | None:
    """A caller's document id: None, or 1-256 printable characters."""
    if value is None:
        return None
    if (isinstance(value, str) and 0 < len(value) <= MAX_DOC_ID_CHARS
            and value.isprintable()):
        return value
    raise ArgumentError(f"{field} must be 1 to {MAX_DOC_ID_CHARS} printable characters",
                        field=field)


@dataclass(frozen=True)
class Invocation:
    """Where and for whom a call runs, beyond its arguments: the ``timezone`` and
    ``invocation_location`` of the guest's ``ctx`` (ABI.md §3.1). Part of every cache
    key, since a pack may answer differently for each."""

    #: The caller's IANA time zone.
    timezone: str = "UTC"
    #: The host's public base URL (scheme, host and port, no trailing slash).
    protocol_and_host: str = ""
    #: The caller's document (or other location) id, if it gave one.
    doc_id: str | None = None
    #: Where the calls made under this invocation add up what they cost (the execution
    #: log's); not part of the call's identity.
    tally: CallTally | None = field(default=None, compare=False, repr=False)

    def ctx(self) -> dict[str, Any]:
        location: dict[str, Any] = {"protocol_and_host": self.protocol_and_host}
        if self.doc_id is not None:
            location["doc_id"] = self.doc_id
        return {"timezone": self.timezone, "invocation_location": location}

    def cache_scope(self) -> tuple[str, str, str]:
        return (self.timezone, self.protocol_and_host, self.doc_id or "")


DEFAULT_INVOCATION = Invocation()


class CallTally:
    """What the pack calls of one request cost: fuel, fetches, log lines (capped), and
    the first pack op that ran. Thread-safe: the calls run on worker threads."""

    MAX_LOGS = 50
    MAX_LOG_CHARS = 500

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls = 0
        self.fuel = 0
        self.fetches = 0
        self.logs: list[dict[str, str]] = []
        self.first: tuple[str, str] | None = None

    def add(self, pack: str, name: str, fuel: int, fetches: int,
            logs: list[tuple[str, str]]) -> None:
        with self._lock:
            self.calls += 1
            self.fuel += fuel
            self.fetches += fetches
            if self.first is None:
                self.first = (pack, name)
            room = self.MAX_LOGS - len(self.logs)
            self.logs.extend({"level": level, "message": text[:self.MAX_LOG_CHARS]}
                             for level, text in logs[:max(room, 0)])


@dataclass(frozen=True)
class CallRequest:
    """One pack call, with arguments already coerced to the parameter types."""

    pack: str
    formula: str
    args: tuple[Any, ...]
    connection_id: str | None = None
    principal: str | None = None
    invocation: Invocation = DEFAULT_INVOCATION


class Credentials(Protocol):
    """What the fetch path needs from a connection. Secrets stay behind this seam."""

    @property
    def identity(self) -> str:
        """A non-secret id for cache scoping (the connection id)."""

    @property
    def header_names(self) -> frozenset[str]:
        """Lower-cased header names the host injects; a guest may not set them."""

    @property
    def param_names(self) -> frozenset[str]:
        """Query parameter names the host injects; a guest may not set them."""

    def applies_to(self, host: str, port: int | None = None, scheme: str = "https") -> bool:
        """Whether credentials may be sent to this (normalised) host and port; a domain
        declared without a port admits only ``scheme``'s default port."""

    def apply(self, headers: dict[str, str], params: list[tuple[str, str]]) -> None:
        """Add the auth headers / query parameters for one outgoing request."""

    def refresh(self) -> bool:
        """Called after a 401: refresh the token once; True if a retry is worth it."""

    def secret_values(self) -> frozenset[str]:
        """Every secret string this connection injects, for redaction before the guest sees
        a response (an API that echoes its credentials must not hand them to the pack)."""


@dataclass(frozen=True)
class OutgoingRequest:
    """One request as it will go on the wire, for credentials that must see all of it
    (SigV4 signs it, custom auth fills its placeholders)."""

    method: str
    scheme: str
    host: str
    port: int
    #: Path and query, exactly as sent.
    target: str
    headers: tuple[tuple[str, str], ...]
    body: bytes | None


@runtime_checkable
class FinishingCredentials(Protocol):
    """Credentials that rewrite or sign a whole request after ``apply``."""

    def finish(self, request: OutgoingRequest) -> OutgoingRequest:
        """The request to send instead (same method, scheme, host and port)."""


class Clock(Protocol):
    def __call__(self) -> float: ...

