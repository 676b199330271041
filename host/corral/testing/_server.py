"""The local HTTP server every test and benchmark builds on.

:class:`LocalServer` is a threaded HTTP/1.1 server on 127.0.0.1 (plain or TLS) on an
ephemeral port. It records each request it receives, so a test can prove a request
never arrived, and answers through routes: ``route()`` gives a canned :class:`Reply` (or a
function of the request returning one), ``handle()`` a function of the whole
:class:`Exchange` for answers written by hand (streamed, dripped, or dropped). Closing it
also cuts the connections still open, so no handler outlives its server.
"""

from __future__ import annotations

import json as jsonlib
import re
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, Union
from urllib.parse import parse_qs, urlsplit

from ._sockets import BackgroundServer, CutsConnections

Headers = Union[Mapping[str, str], Sequence[tuple[str, str]]]


@dataclass(frozen=True)
class FixtureRequest:
    """One request a local server received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    """Lower-cased names."""
    body: bytes
    peer_port: int = 0
    """The client's port: one per connection."""
    raw_target: str = ""
    """The request target exactly as it arrived."""

    @property
    def json(self) -> Any:
        return jsonlib.loads(self.body) if self.body else None

    @property
    def host(self) -> str:
        return self.headers.get("host", "")

    def __str__(self) -> str:
        query = "&".join(f"{k}={v}" for k, values in self.query.items() for v in values)
        return f"{self.method} {self.path}" + (f"?{query}" if query else "")


@dataclass(frozen=True)
class Reply:
    """A response a route gives: a status, a JSON or raw body, and headers."""

    status: int = 200
    json: Any = None
    body: bytes | str | None = None
    headers: Headers = field(default_factory=dict)

    def encoded(self) -> tuple[bytes, list[tuple[str, str]]]:
        headers = list(_pairs(self.headers))
        if self.body is not None:
            data = self.body.encode() if isinstance(self.body, str) else self.body
        else:
            data = jsonlib.dumps(self.json).encode()
            if not any(name.lower() == "content-type" for name, _ in headers):
                headers.append(("Content-Type", "application/json"))
        return data, headers


Responder = Union[Reply, Callable[[FixtureRequest], Reply]]


class Exchange:
    """One request being answered: the request, its path parameters, and the connection."""

    def __init__(self, server: LocalServer, handler: BaseHTTPRequestHandler,
                 request: FixtureRequest, params: dict[str, str]) -> None:
        self.server = server
        self.request = request
        self.params = params
        self._handler = handler

    @property
    def stopping(self) -> bool:
        """The server is closing: a long answer should stop writing."""
        return self.server.stopping.is_set()

    def reply(self, reply: Reply) -> None:
        data, headers = reply.encoded()
        self.send(reply.status, data, headers)

    def send(self, status: int, body: bytes = b"", headers: Headers = ()) -> None:
        """A whole response with a Content-Length (no body for HEAD)."""
        pairs = list(_pairs(headers))
        if not any(name.lower() == "content-type" for name, _ in pairs):
            pairs.append(("Content-Type", "text/plain"))
        self.begin(status, [*pairs, ("Content-Length", str(len(body)))])
        if self.request.method != "HEAD":
            self.write(body)

    def send_json(self, value: Any, status: int = 200, headers: Headers = ()) -> None:
        self.send(status, jsonlib.dumps(value).encode(),
                  [("Content-Type", "application/json"), *_pairs(headers)])

    def begin(self, status: int, headers: Headers = ()) -> None:
        """The status line and headers; the body follows with :meth:`write`."""
        self._handler.send_response(status)
        for name, value in _pairs(headers):
            self._handler.send_header(name, value)
        self._handler.end_headers()

    def write(self, data: bytes) -> None:
        self._handler.wfile.write(data)
        self._handler.wfile.flush()

    def close_after(self) -> None:
        """Close the connection once this response is written (no keep-alive)."""
        self._handler.close_connection = True

    def drop(self) -> None:
        """Close the connection without answering."""
        self._handler.close_connection = True
        self._handler.connection.close()


Handler = Callable[[Exchange], Union[Reply, None]]


@dataclass
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler


def _path_pattern(path: str) -> re.Pattern[str]:
    """``/repos/{owner}/{repo}`` matches one path segment per ``{name}``."""
    parts = re.split(r"(\{[A-Za-z_][A-Za-z0-9_]*\})", path)
    regex = "".join(f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") else re.escape(p)
                    for p in parts)
    return re.compile(regex)


def _pairs(headers: Headers) -> list[tuple[str, str]]:
    return list(headers.items()) if isinstance(headers, Mapping) else list(headers)


def _canned(responder: Responder) -> Handler:
    if callable(responder):
        return lambda exchange: responder(exchange.request)
    return lambda exchange: responder


class LocalServer(BackgroundServer):
    """A threaded HTTP/1.1 server on 127.0.0.1; use as a context manager.

    ``tls`` is ``(cert.pem, key.pem)`` to serve HTTPS. ``record=False`` keeps no request
    log (for load generators). A request no route matches goes to :meth:`unmatched`
    (a 404 here; subclasses decide otherwise).
    """

    def __init__(self, *, tls: tuple[Path, Path] | None = None, record: bool = True,
                 name: str = "corral-local-server") -> None:
        self.stopping = threading.Event()
        self._record = record
        self._requests: list[FixtureRequest] = []
        self._routes: list[_Route] = []
        self._lock = threading.Lock()
        super().__init__(_Httpd(self), tls=tls, name=name)
        self._httpd = self._served  # the name subclasses written before BackgroundServer use

    # -- routes ----------------------------------------------------------------------------

    def route(self, method: str, path: str, reply: Responder | None = None, *,
              json: Any = None, status: int = 200, headers: Headers | None = None,
              body: bytes | str | None = None) -> None:
        """Answer ``method path`` (query ignored; ``{name}`` matches one segment).

        Give a :class:`Reply`, a function of the :class:`FixtureRequest` returning one,
        or the parts of a reply as keywords. Later routes win over earlier ones.
        """
        responder = reply if reply is not None else Reply(status=status, json=json, body=body,
                                                         headers=headers or {})
        self.handle(method, path, _canned(responder))

    def handle(self, method: str, path: str, handler: Handler) -> None:
        """Answer ``method path`` (``*`` for any method) with ``handler(exchange)``: it
        answers through the :class:`Exchange`, or returns a :class:`Reply` to send."""
        with self._lock:
            self._routes.insert(0, _Route(method.upper(), _path_pattern(path), handler))

    def unmatched(self, exchange: Exchange) -> Reply | None:
        return Reply(status=404, body="no such route", headers={"Content-Type": "text/plain"})

    # -- what arrived ----------------------------------------------------------------------

    @property
    def requests(self) -> list[FixtureRequest]:
        with self._lock:
            return list(self._requests)

    def hits(self, *where: str) -> int:
        """How many requests arrived: ``hits()`` all, ``hits(path)`` for one path,
        ``hits(method, path)`` for one method and path (the query is ignored)."""
        if len(where) > 2:
            raise TypeError("hits() takes at most a method and a path")
        method = where[0] if len(where) == 2 else None
        path = where[-1] if where else None
        return sum(1 for r in self.requests
                   if (path is None or r.path == path)
                   and (method is None or r.method == method.upper()))

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Stop serving and cut every open connection (handlers see :attr:`stopping`)."""
        self.stopping.set()
        super().close()

    # -- serving ---------------------------------------------------------------------------

    def _dispatch(self, handler: BaseHTTPRequestHandler, request: FixtureRequest) -> None:
        with self._lock:
            if self._record:
                self._requests.append(request)
            found = next(((r, m) for r in self._routes
                          if r.method in ("*", request.method)
                          for m in [r.pattern.fullmatch(request.path)] if m), None)
        params = found[1].groupdict() if found else {}
        exchange = Exchange(self, handler, request, params)
        try:
            reply = found[0].handler(exchange) if found else self.unmatched(exchange)
        except (OSError, ssl.SSLError):
            raise  # the client hung up: nothing left to answer
        except Exception as exc:  # a broken route is the test's bug: show it to the client
            reply = Reply(status=500, body=f"corral.testing: the route for {request} raised "
                                           f"{exc!r}", headers={"Content-Type": "text/plain"})
        if reply is not None:
            exchange.reply(reply)


class _Httpd(CutsConnections, ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 256  # many concurrent connects must not overflow the backlog

    def __init__(self, owner: LocalServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _RequestHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hang up mid-response on purpose (caps, timeouts, closing tests)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, the body would wait for
    # the client's delayed ACK (40 ms on Linux) on every reused connection.
    disable_nagle_algorithm = True
    server: _Httpd

    def log_message(self, format: str, *args: Any) -> None:
        pass  # requests are recorded on the server, not printed

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        request = FixtureRequest(
            method=self.command, path=parts.path, query=parse_qs(parts.query),
            headers={k.lower(): v for k, v in self.headers.items()}, body=self._body(),
            peer_port=int(self.client_address[1]), raw_target=self.path)
        try:
            self.server.owner._dispatch(self, request)
        except (OSError, ssl.SSLError):
            self.close_connection = True

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._chunked_body()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _chunked_body(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve
