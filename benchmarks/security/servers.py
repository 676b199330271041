"""A hostile HTTP server on 127.0.0.1 that stands in for every API a pack may reach.

It records each request (host header, path, query, headers), so an attack can prove
that a refused request never arrived, and serves the routes the fetch attacks need:

    /json                 a small JSON body
    /echo                 the request's headers and query as JSON (reflects credentials)
    /whoami               {"user": "alice"} only when the bearer token is alice's
    /redirect?to=U&code=C a redirect (default 302) to U
    /reflect-redirect?to=U  a 302 to U with this request's whole query appended
    /loop                 a redirect to itself, forever
    /endless              a chunked body that never ends
    /length-lie           declares a terabyte of Content-Length
    /gzip-bomb?mb=N       N MiB of zeros, gzip-encoded
    /deflate-bomb?mb=N    the same, deflate-encoded
    /double-gzip          a body gzip-encoded twice (Content-Encoding: gzip, gzip)
    /huge-headers?count=N&size=M   N response headers of M bytes
    /slow                 a body dripped one byte every 200 ms
    /drop                 closes the connection without answering
"""

from __future__ import annotations

import gzip
import json
import threading
import time
import zlib
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Seen:
    """One request as the server received it."""

    host: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hang up mid-response on purpose (caps, timeouts)


class HostileServer:
    """Threaded HTTP/1.1 on 127.0.0.1 with an ephemeral port; use as a context manager."""

    def __init__(self, *, alice_token: str) -> None:
        self.alice_token = alice_token
        self._seen: list[Seen] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd = _Server(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True,
                                        kwargs={"poll_interval": 0.02}, name="bench-http")

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def url(self, path: str, host: str = "bench.test") -> str:
        return f"http://{host}:{self.port}{path}"

    def record(self, seen: Seen) -> None:
        with self._lock:
            self._seen.append(seen)

    @property
    def seen(self) -> list[Seen]:
        with self._lock:
            return list(self._seen)

    def hits(self, path: str | None = None) -> int:
        return sum(1 for s in self.seen if path is None or s.path == path)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def _handler_for(server: HostileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(_Routes):
        owner = server

    return Handler


_BOMBS: dict[tuple[str, int], bytes] = {}


def _zeros(coding: str, megabytes: int) -> bytes:
    """``megabytes`` MiB of zeros compressed with ``coding`` (a few KiB on the wire)."""
    key = (coding, megabytes)
    if key not in _BOMBS:
        wbits = zlib.MAX_WBITS | 16 if coding == "gzip" else zlib.MAX_WBITS
        squeezer = zlib.compressobj(9, zlib.DEFLATED, wbits)
        block = bytes(1 << 20)
        _BOMBS[key] = b"".join(squeezer.compress(block) for _ in range(megabytes)) + \
            squeezer.flush()
    return _BOMBS[key]


class _Routes(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: HostileServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length", "0") or "0")
        if length:
            self.rfile.read(length)
        seen = Seen(host=self.headers.get("Host", ""), path=parts.path,
                    query=parse_qs(parts.query),
                    headers={k.lower(): v for k, v in self.headers.items()})
        self.owner.record(seen)
        route = self._routes().get(parts.path)
        try:
            if route is None:
                self._send(404, b"no such route", "text/plain")
            else:
                route(seen)
        except OSError:
            self.close_connection = True

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _routes(self) -> dict[str, Callable[[Seen], None]]:
        return {
            "/json": lambda s: self._json({"ok": True}),
            "/echo": lambda s: self._json({"headers": s.headers, "query": s.query}),
            "/whoami": self._whoami, "/redirect": self._redirect,
            "/reflect-redirect": self._reflect_redirect, "/loop": self._loop,
            "/endless": self._endless, "/length-lie": self._length_lie,
            "/gzip-bomb": lambda s: self._bomb(s, "gzip"),
            "/deflate-bomb": lambda s: self._bomb(s, "deflate"),
            "/double-gzip": self._double_gzip, "/huge-headers": self._huge_headers,
            "/slow": self._slow, "/drop": self._drop,
        }

    def _send(self, status: int, body: bytes, content_type: str,
              extra: list[tuple[str, str]] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra or []:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, value: Any, status: int = 200) -> None:
        self._send(status, json.dumps(value).encode(), "application/json")

    def _whoami(self, seen: Seen) -> None:
        alice = seen.headers.get("authorization") == f"Bearer {self.owner.alice_token}"
        self._json({"user": "alice" if alice else None})

    def _redirect(self, seen: Seen) -> None:
        code = int(seen.query.get("code", ["302"])[0])
        self._send(code, b"", "text/plain", [("Location", seen.query["to"][0])])

    def _reflect_redirect(self, seen: Seen) -> None:
        query = urlsplit(self.path).query
        self._send(302, b"", "text/plain", [("Location", f"{seen.query['to'][0]}?{query}")])

    def _loop(self, seen: Seen) -> None:
        self._send(302, b"", "text/plain", [("Location", "/loop")])

    def _endless(self, seen: Seen) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = b"x" * 65536
        frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        stop = time.monotonic() + 20
        while time.monotonic() < stop and not self.owner.stopping:
            self.wfile.write(frame)
        self.close_connection = True

    def _length_lie(self, seen: Seen) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(1 << 40))
        self.end_headers()
        self.wfile.write(b"y" * 65536)
        self.close_connection = True

    def _bomb(self, seen: Seen, coding: str) -> None:
        megabytes = int(seen.query.get("mb", ["64"])[0])
        self._send(200, _zeros(coding, megabytes), "application/octet-stream",
                   [("Content-Encoding", coding)])

    def _double_gzip(self, seen: Seen) -> None:
        body = gzip.compress(gzip.compress(bytes(4 << 20)))
        self._send(200, body, "application/octet-stream", [("Content-Encoding", "gzip, gzip")])

    def _huge_headers(self, seen: Seen) -> None:
        count = int(seen.query.get("count", ["10"])[0])
        size = int(seen.query.get("size", ["10"])[0])
        self._send(200, b"{}", "application/json",
                   [(f"X-Filler-{i}", "v" * size) for i in range(count)])

    def _slow(self, seen: Seen) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "1000")
        self.end_headers()
        for _ in range(1000):
            if self.owner.stopping:
                break
            self.wfile.write(b".")
            self.wfile.flush()
            time.sleep(0.2)
        self.close_connection = True

    def _drop(self, seen: Seen) -> None:
        self.close_connection = True
        self.connection.close()
