"""A raw HTTP/1.1 upstream on 127.0.0.1 that writes exactly the bytes a route scripts.

A well-behaved server library cannot send a malformed status line, a header line without
a colon, an answer nobody asked for or a gzip member followed by junk; this one can. Each
request on a kept-alive connection is parsed and handed to the route for its path, which
yields the bytes to send. Routes receive the credential the request carried (the bearer
token or the ``api_key`` parameter), so every misbehaviour can also reflect it. A route
that streams stops after :data:`STREAM_BUDGET` bytes, so even a host that reads forever
ends: the verdict is the bytes it read, never how long it took.
"""

from __future__ import annotations

import gzip
import socketserver
import ssl
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator
from urllib.parse import parse_qs, urlsplit

from .reflect import compress

#: The most a streaming route writes on one response (a host that never stops reading
#: still gets an end).
STREAM_BUDGET = 48 << 20


@dataclass(frozen=True)
class WireRequest:
    method: str
    target: str
    path: str
    headers: dict[str, str]
    body: bytes
    peer_port: int

    @property
    def token(self) -> str:
        """The credential the request carried (without the ``Bearer`` scheme)."""
        auth = self.headers.get("authorization", "")
        if auth:
            return auth.partition(" ")[2] or auth
        return ",".join(parse_qs(urlsplit(self.target).query).get("api_key", []))


Route = Callable[[WireRequest, int], Iterable[bytes]]


def response(body: bytes = b"", *, status: str = "200 OK",
             headers: Iterable[tuple[str, str]] = ()) -> bytes:
    head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}",
            *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _streamed(first: bytes, then: bytes, coding: str) -> Iterator[bytes]:
    """A chunked response: ``first`` (a whole compressed stream), then ``then`` again and
    again, up to the budget."""
    yield (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: {coding}"
           "\r\nTransfer-Encoding: chunked\r\n\r\n").encode() + chunk(first)
    sent = len(first)
    while sent < STREAM_BUDGET:
        yield chunk(then)
        sent += len(then)
    yield b"0\r\n\r\n"


def _raw_deflate(data: bytes) -> bytes:
    squeezer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return squeezer.compress(data) + squeezer.flush()


_ZEROS_MEMBER = gzip.compress(bytes(1 << 20), mtime=0)
_JUNK = b"\x00junk" * 13107


def _routes() -> dict[str, Route]:
    def reflected_status(r: WireRequest, port: int) -> Iterable[bytes]:
        return [f"HTTP/1.1 2x0 {r.token}\r\nContent-Length: 0\r\n\r\n".encode()]

    def reason(r: WireRequest, port: int) -> Iterable[bytes]:
        return [response(b"{}", status=f"200 {r.token}")]

    def colonless(r: WireRequest, port: int) -> Iterable[bytes]:
        return [f"HTTP/1.1 200 OK\r\nX-Seen {r.token}\r\nContent-Length: 2\r\n\r\n{{}}"
                .encode()]

    def nul_header(r: WireRequest, port: int) -> Iterable[bytes]:
        return [f"HTTP/1.1 200 OK\r\nX-Seen: {r.token}\x00\r\nContent-Length: 2\r\n\r\n{{}}"
                .encode()]

    def bad_length(r: WireRequest, port: int) -> Iterable[bytes]:
        return [f"HTTP/1.1 200 OK\r\nContent-Length: {r.token}\r\n\r\n{{}}".encode()]

    def bad_chunk(r: WireRequest, port: int) -> Iterable[bytes]:
        return [f"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{r.token}\r\n"
                .encode()]

    def folded(r: WireRequest, port: int) -> Iterable[bytes]:
        return [f"HTTP/1.1 200 OK\r\nX-Seen: a\r\n {r.token}\r\nContent-Length: 2\r\n\r\n{{}}"
                .encode()]

    def redirect(location: str) -> Route:
        def route(r: WireRequest, port: int) -> Iterable[bytes]:
            return [response(status="302 Found", headers=[
                ("Location", location.format(token=r.token, port=port))])]
        return route

    def first(r: WireRequest, port: int) -> Iterable[bytes]:
        stale = f'{{"stale": "{r.token}"}}'.encode()
        return [response(b'{"answer": "first"}') + response(stale, headers=[
            ("X-Stale", r.token or "none")])]

    def first_late(r: WireRequest, port: int) -> Iterable[bytes]:
        return [response(b'{"answer": "first"}'),
                response(f'{{"stale": "{r.token}"}}'.encode())]

    def second(r: WireRequest, port: int) -> Iterable[bytes]:
        return [response(b'{"answer": "second"}')]

    return {
        "/bad-status": reflected_status, "/reason": reason, "/colonless": colonless,
        "/nul-header": nul_header, "/bad-length": bad_length, "/bad-chunk": bad_chunk,
        "/folded": folded,
        "/to-ip": redirect("http://127.0.0.1:{port}/{token}"),
        "/to-undeclared": redirect("http://undeclared.test:{port}/{token}"),
        "/to-bracket": redirect("http://[{token}/"),
        "/to-bad-port": redirect("http://bench.test:{token}/"),
        "/to-gopher": redirect("gopher://bench.test:{port}/{token}"),
        "/to-userinfo": redirect("http://{token}@bench.test:{port}/json"),
        "/to-cdn-path": redirect("http://cdn.test:{port}/sink/{token}"),
        "/to-control": redirect("http://bench.test:{port}/\x01{token}"),
        "/first": first, "/first-late": first_late, "/second": second,
        "/gzip-then-junk": lambda r, p: _streamed(compress(b'{"a": 1}', "gzip"), _JUNK, "gzip"),
        "/gzip-then-members": lambda r, p: _streamed(compress(b'{"a": 1}', "gzip"),
                                                     _ZEROS_MEMBER, "gzip"),
        "/deflate-then-junk": lambda r, p: _streamed(_raw_deflate(b'{"a": 1}'), _JUNK,
                                                     "deflate"),
        "/br-then-junk": lambda r, p: _streamed(compress(b'{"a": 1}', "br"), _JUNK, "br"),
        "/gzip-then-token": lambda r, p: [response(
            compress(b'{"a": 1}', "gzip") + r.token.encode() * 64,
            headers=[("Content-Encoding", "gzip")])],
    }


class WireServer:
    """Serves the scripted routes on 127.0.0.1 (over TLS with ``tls``); records requests."""

    def __init__(self, *, tls: tuple[Path, Path] | None = None) -> None:
        self.requests: list[WireRequest] = []
        self._lock = threading.Lock()
        self._routes = _routes()
        self._server = _Server(("127.0.0.1", 0), _handler(self))
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="bench-wire-server", kwargs={"poll_interval": 0.02})

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> WireServer:
        self._thread.start()
        return self

    def record(self, request: WireRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def route(self, path: str) -> Route | None:
        return self._routes.get(path)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hang up on purpose (caps)


def _handler(owner: WireServer) -> type[socketserver.StreamRequestHandler]:
    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            while True:
                request = _read_request(self.rfile, int(self.client_address[1]))
                if request is None:
                    return
                owner.record(request)
                route = owner.route(request.path)
                parts = route(request, owner.port) if route else [response(b"no", status="404 X")]
                try:
                    for data in parts:
                        self.wfile.write(data)
                        self.wfile.flush()
                except OSError:
                    return

    return Handler


def _read_request(rfile: Any, peer_port: int) -> WireRequest | None:
    try:
        line = rfile.readline(65536)
    except OSError:
        return None
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
    body = rfile.read(length) if length else b""
    return WireRequest(method, target, urlsplit(target).path, headers, body, peer_port)
