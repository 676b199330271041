"""Shared type aliases and the small protocols that join Corral's modules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Union, runtime_checkable

JSON = Union[None, bool, int, float, str, bytes, list["JSON"], dict[str, "JSON"]]
"""A value that crosses the ABI: MessagePack's data model (bytes included)."""


@dataclass(frozen=True)
class CallRequest:
    """One pack call, with arguments already coerced to the parameter types."""

    pack: str
    formula: str
    args: tuple[Any, ...]
    connection_id: str | None = None
    principal: str | None = None


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

