"""A network layer that counts what the client reads, to bound a cap by bytes, not time.

:class:`CountingConnector` is the real network (httpcore's sync backend) counting the
connections it opens and every byte read off them; hand it to the host's pinned
transport (``PinnedTransport(config, connector=CountingConnector())``) and a test can
assert that a hostile upstream's endless body was cut after so many bytes. Subclasses
may refuse or redirect connections in :meth:`~CountingConnector.connect_tcp` and call
``super()`` for the ones they let through.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Iterable

import httpcore


class CountingConnector(httpcore.SyncBackend):
    """The real network, counting the bytes the client reads and the connections it opens."""

    def __init__(self) -> None:
        self.bytes_read = 0
        self.connections = 0
        self._count_lock = threading.Lock()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        stream = super().connect_tcp(host, port, timeout, local_address, socket_options)
        with self._count_lock:
            self.connections += 1
        return CountingStream(stream, self.count)

    def count(self, size: int) -> None:
        with self._count_lock:
            self.bytes_read += size


class CountingStream(httpcore.NetworkStream):
    """A connection whose reads (TLS included, after ``start_tls``) are passed to ``count``."""

    def __init__(self, inner: httpcore.NetworkStream, count: Callable[[int], None]) -> None:
        self._inner = inner
        self._count = count

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data = self._inner.read(max_bytes, timeout)
        self._count(len(data))
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return CountingStream(self._inner.start_tls(ssl_context, server_hostname, timeout),
                              self._count)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)
