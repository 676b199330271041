"""What the guest was handed: a wrapper on the host's fetch import that records every
response (after the host's shaping and redaction) and every error message the guest got.

The wrapper sits where the sandbox's ``corral.fetch`` import calls the host
(``Calls.host_calls``), so what it records is byte for byte what reaches guest memory:
the response map, or the error's message and rule.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from corral import FetchError, Host


class GuestInputs:
    """A thread-safe list of what guests received."""

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._lock = threading.Lock()

    def add(self, item: Any) -> None:
        with self._lock:
            self._items.append(item)

    def since(self, mark: int) -> list[Any]:
        with self._lock:
            return self._items[mark:]

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


class _Recording:
    """A pack call's host functions, recording what ``fetch`` hands back."""

    def __init__(self, inner: Any, sink: GuestInputs) -> None:
        self._inner = inner
        self._sink = sink

    def fetch(self, request: dict[str, Any], deadline: float) -> dict[str, Any]:
        try:
            response: dict[str, Any] = self._inner.fetch(request, deadline)
        except FetchError as exc:
            self._sink.add({"error": exc.message, "rule": exc.rule})
            raise
        self._sink.add(response)
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def install_recorder(host: Host, sink: GuestInputs) -> None:
    """Wrap ``host``'s per-call host functions so every fetch result is recorded."""
    calls = host.calls
    original: Callable[..., Any] = calls.host_calls

    def host_calls(*args: Any, **kwargs: Any) -> Any:
        return _Recording(original(*args, **kwargs), sink)

    calls.host_calls = host_calls  # type: ignore[method-assign]
