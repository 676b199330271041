"""A raw HTTP/1.1 upstream on 127.0.0.1 that writes exactly the bytes a test scripts, and a
connector that counts every byte the client reads.

``WireServer`` parses each request on a kept-alive connection and hands it to the route for
its path; the route yields the bytes to send (a response, two responses at once, a body
that never ends, duplicate headers...). ``CountingConnector`` sits under the host's
pinned backend, so a test can bound what was read off the socket instead of how long it took.
"""

from __future__ import annotations

import gzip
import socketserver
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Callable, Iterable, Iterator, Mapping

import httpcore

from ..fetch_servers import TEST_HOST


@dataclass(frozen=True)
class WireRequest:
    method: str
    path: str
    headers: dict[str, str]
    peer_port: int
    number: int  # 1 for a connection's first request, 2 for its second, ...


Route = Callable[[WireRequest], Iterable[bytes]]


def response(body: bytes = b"", *, status: int = 200,
             headers: Iterable[tuple[str, str]] = ()) -> bytes:
    """One whole HTTP/1.1 response with a Content-Length."""
    head = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}",
            *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


class WireServer:
    """Serves ``routes`` (path -> route) on 127.0.0.1, over TLS with ``tls`` (cert, key);
    use as a context manager."""

    def __init__(self, routes: Mapping[str, Route], *, tls: tuple[Path, Path] | None = None
                 ) -> None:
        self.requests: list[WireRequest] = []
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _handler(self, dict(routes)))
        self.scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            self.scheme = "https"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        kwargs={"poll_interval": 0.01})

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str, host: str = TEST_HOST) -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def hits(self, path: str) -> int:
        with self._lock:
            return sum(1 for r in self.requests if r.path == path)

    def record(self, request: WireRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def __enter__(self) -> WireServer:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hang up on endless bodies on purpose


def _handler(server: WireServer, routes: dict[str, Route]
             ) -> type[socketserver.StreamRequestHandler]:
    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            number = 0
            while True:
                request = _read_request(self.rfile, self.client_address[1], number + 1)
                if request is None:
                    return
                number += 1
                server.record(request)
                route = routes.get(request.path)
                try:
                    for data in route(request) if route else [response(b"none", status=404)]:
                        self.wfile.write(data)
                        self.wfile.flush()
                except OSError:
                    return

    return Handler


def _read_request(rfile: Any, peer_port: int, number: int) -> WireRequest | None:
    line = rfile.readline(65536)
    if not line.strip():
        return None
    method, target, _ = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while True:
        header = rfile.readline(65536).decode("latin-1")
        if header in ("\r\n", "\n", ""):
            break
        name, _, value = header.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or "0")
    if length:
        rfile.read(length)
    return WireRequest(method, target.split("?", 1)[0], headers, peer_port, number)


class CountingConnector(httpcore.SyncBackend):
    """The real network, counting the bytes the client reads and the connections it opens."""

    def __init__(self) -> None:
        self.read = 0
        self.connections = 0
        self._lock = threading.Lock()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        stream = super().connect_tcp(host, port, timeout, local_address, socket_options)
        with self._lock:
            self.connections += 1
        return _Counted(stream, self)

    def count(self, size: int) -> None:
        with self._lock:
            self.read += size


class _Counted(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, counter: CountingConnector) -> None:
        self._inner = inner
        self._counter = counter

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data = self._inner.read(max_bytes, timeout)
        self._counter.count(len(data))
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _Counted(self._inner.start_tls(ssl_context, server_hostname, timeout),
                        self._counter)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


def endless(first: bytes, then: bytes) -> Iterator[bytes]:
    """``first``, then ``then`` again and again until the client hangs up."""
    yield first
    while True:
        yield then
