"""A raw HTTP/1.1 upstream on 127.0.0.1 that writes exactly the bytes a route scripts.

A well-behaved server library cannot send a malformed status line, a header line without
a colon, an answer nobody asked for, a body that never ends or a gzip member followed by
junk; :class:`RawServer` can, to see how a host or a pack copes with a hostile upstream.
Each request on a kept-alive connection is parsed, recorded as a
:class:`~corral.testing.FixtureRequest` (as :class:`~corral.testing.LocalServer` records
them) and handed to the route for its path: a function of the request returning the
bytes to send, one write per item, so a route can split a response, send two at once or
drip forever::

    from corral.testing import RawServer, raw_response

    with RawServer({"/twice": lambda request: [raw_response(b"a") + raw_response(b"b")]}) as up:
        ...  # fetch up.url("/twice")

:func:`raw_response`, :func:`chunk` and :func:`endless` build the bytes. Closing the server
cuts the connections still open, so an endless route ends with it.
"""

from __future__ import annotations

import http
import io
import socketserver
import threading
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping
from urllib.parse import parse_qs, urlsplit

from ._server import FixtureRequest
from ._sockets import BackgroundServer, CutsConnections

#: A route: the request in, the bytes to write out (one write per item).
RawRoute = Callable[[FixtureRequest], Iterable[bytes]]

_LINE_LIMIT = 65536


def raw_response(body: bytes = b"", *, status: int | str = 200,
                 headers: Iterable[tuple[str, str]] = ()) -> bytes:
    """One whole HTTP/1.1 response with a Content-Length. ``status`` is a code (with its
    standard reason phrase) or the whole status text (``"200 anything"``, ``"2x0 bad"``)."""
    if isinstance(status, int):
        status = f"{status} {_phrase(status)}"
    head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}",
            *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def chunk(data: bytes) -> bytes:
    """``data`` framed as one chunk of a chunked body."""
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def endless(first: bytes, then: bytes) -> Iterator[bytes]:
    """``first``, then ``then`` again and again until the client hangs up (or the server
    closes)."""
    yield first
    while True:
        yield then


class RawServer(BackgroundServer):
    """Serves ``routes`` (path -> :data:`RawRoute`) on 127.0.0.1 on an ephemeral port, over
    TLS with ``tls`` = (cert.pem, key.pem); records every request. Use as a context manager
    (or :meth:`start` and :meth:`close`). A path without a route gets a 404."""

    def __init__(self, routes: Mapping[str, RawRoute] | None = None, *,
                 tls: tuple[Path, Path] | None = None,
                 name: str = "corral-raw-server") -> None:
        self._routes: dict[str, RawRoute] = dict(routes or {})
        self._requests: list[FixtureRequest] = []
        self._lock = threading.Lock()
        super().__init__(_Tcp(self), tls=tls, name=name)

    # -- routes and what arrived -----------------------------------------------------------

    def route(self, path: str, route: RawRoute) -> None:
        """Answer requests for ``path`` (the query ignored) with ``route``."""
        with self._lock:
            self._routes[path] = route

    def unmatched(self, request: FixtureRequest) -> Iterable[bytes]:
        return [raw_response(b"no such route", status=404)]

    @property
    def requests(self) -> list[FixtureRequest]:
        with self._lock:
            return list(self._requests)

    def hits(self, path: str | None = None) -> int:
        """How many requests arrived (for ``path``, if given)."""
        return sum(1 for r in self.requests if path is None or r.path == path)

    # -- serving ---------------------------------------------------------------------------

    def _answer(self, request: FixtureRequest) -> Iterable[bytes]:
        with self._lock:
            self._requests.append(request)
            route = self._routes.get(request.path)
        return route(request) if route is not None else self.unmatched(request)


class _Tcp(CutsConnections, socketserver.ThreadingTCPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, owner: RawServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hang up on endless bodies and at their caps on purpose


class _Handler(socketserver.StreamRequestHandler):
    server: _Tcp

    def handle(self) -> None:
        while True:
            request = _read_request(self.rfile, int(self.client_address[1]))
            if request is None:
                return
            try:
                for data in self.server.owner._answer(request):
                    self.wfile.write(data)
                    self.wfile.flush()
            except OSError:
                return  # the client hung up (or the server closed): nothing left to send


def _read_request(rfile: io.BufferedIOBase, peer_port: int) -> FixtureRequest | None:
    """The next request on the connection, or None once it ends (or is not HTTP)."""
    try:
        line = rfile.readline(_LINE_LIMIT).decode("latin-1")
        method, target, _ = line.split(" ", 2)
        headers: dict[str, str] = {}
        while (header := rfile.readline(_LINE_LIMIT).decode("latin-1")) not in \
                ("\r\n", "\n", ""):
            name, _, value = header.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0") or "0")
        body = rfile.read(length) if length else b""
    except (OSError, ValueError):
        return None
    parts = urlsplit(target)
    return FixtureRequest(method=method, path=parts.path, query=parse_qs(parts.query),
                          headers=headers, body=body, peer_port=peer_port, raw_target=target)


def _phrase(code: int) -> str:
    try:
        return http.HTTPStatus(code).phrase
    except ValueError:
        return "X"
