"""Per-call state: what one guest call may ask of the host, what it has used, and the
checks on the pointers it hands back.

The host imports reach the running call's state through a thread-local, set for the
duration of one call.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from .._errors import (
    AbiViolation,
    CorralError,
    FetchError,
    MemoryLimitExceeded,
    OutputTooLarge,
)
from .._pack.manifest import Limits

WASM_PAGE = 65536


class HostCalls(Protocol):
    """What a running guest may ask of the host, bound to one call."""

    def fetch(self, request: dict[str, Any], deadline: float) -> dict[str, Any]: ...

    def log(self, level: str, message: str) -> None: ...

    # A host with a blob store also defines ``blob(request, deadline) -> {url,
    # expires_at}`` for ``corral.blob``; without it the guest reads ``unavailable``.


@dataclass(slots=True)
class CallStats:
    fuel_used: int = 0
    fetches: int = 0
    log_bytes: int = 0
    logs: list[tuple[str, str]] = field(default_factory=list)
    last_fetch_error: FetchError | None = None
    blobs: int = 0
    #: The last failed ``corral.blob`` (a BlobError, or the FetchError of a ``{url}``).
    last_blob_error: CorralError | None = None


@dataclass(slots=True)
class CallState:
    """Per-call state the host functions reach through a thread-local."""

    host: HostCalls
    limits: Limits
    deadline: float
    pack: str
    formula: str
    stats: CallStats
    host_error: BaseException | None = None
    memory_size: Callable[[], int] | None = None

    def memory_exhausted(self) -> bool:
        """Whether a failure is best explained by the memory cap (a refused grow)."""
        if self.memory_size is None:
            return False
        slack = max(32 * WASM_PAGE, self.limits.memory_bytes // 8)
        return self.memory_size() + slack > self.limits.memory_bytes

    def abi_violation(self, message: str) -> AbiViolation:
        return AbiViolation(message, pack=self.pack, formula=self.formula)

    def check_range(self, size: int, ptr: int, length: int, what: str) -> None:
        """``length`` bytes at ``ptr`` lie inside guest memory of ``size`` bytes."""
        if ptr > 0 and length >= 0 and ptr + length <= size:
            return
        if what.startswith("corral_alloc") and ptr == 0:
            raise MemoryLimitExceeded(f"corral_alloc could not allocate {length} bytes",
                                      limit="memory_bytes", value=self.limits.memory_bytes,
                                      pack=self.pack, formula=self.formula)
        raise self.abi_violation(f"{what} pointer {ptr} with length {length}, outside guest "
                                 f"memory of {size} bytes")

    def check_output(self, size: int, ptr: int, length: int) -> None:
        """The response ``corral_call`` returned is within the output limit and memory."""
        if length > self.limits.max_output_bytes:
            raise OutputTooLarge(f"the response is {length} bytes, over the limit of "
                                 f"{self.limits.max_output_bytes}", limit="max_output_bytes",
                                 value=self.limits.max_output_bytes, pack=self.pack,
                                 formula=self.formula)
        self.check_range(size, ptr, length, "corral_call returned")


class _Current(threading.local):
    state: CallState | None = None


_current = _Current()


def enter(state: CallState) -> None:
    """Make ``state`` the current call's on this thread, until :func:`leave`."""
    _current.state = state


def leave() -> None:
    _current.state = None


def current() -> CallState:
    """The state of the call running on this thread; a host import outside one is refused."""
    state = _current.state
    if state is None:
        raise AbiViolation("a host import was called outside a Corral call")
    return state


def pack_slice(ptr: int, length: int) -> int:
    """ABI packing ``ptr << 32 | len`` as a signed i64."""
    value = (ptr << 32) | length
    return value - (1 << 64) if value >= 1 << 63 else value


def unpack_slice(value: int) -> tuple[int, int]:
    bits = value & 0xFFFF_FFFF_FFFF_FFFF
    return bits >> 32, bits & 0xFFFF_FFFF
