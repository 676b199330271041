"""The scripted routes of the benchmark's raw upstreams (``wire`` and ``tls_wire``).

A well-behaved server library cannot send a malformed status line, a header line without
a colon, an answer nobody asked for or a gzip member followed by junk; the test kit's
:class:`~corral.testing.RawServer` can, and :class:`WireServer` is one serving the routes
below. Routes reflect the credential the request carried (the bearer token or the
``api_key`` parameter), so every misbehaviour can also leak it. A route that streams
stops after :data:`STREAM_BUDGET` bytes, so even a host that reads forever ends: the
verdict is the bytes it read, never how long it took.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import Iterable, Iterator

from corral.testing import FixtureRequest, RawRoute, RawServer, chunk, raw_response

from .reflect import compress

#: The most a streaming route writes on one response (a host that never stops reading
#: still gets an end).
STREAM_BUDGET = 48 << 20


def token(request: FixtureRequest) -> str:
    """The credential the request carried (without the ``Bearer`` scheme)."""
    auth = request.headers.get("authorization", "")
    if auth:
        return auth.partition(" ")[2] or auth
    return ",".join(request.query.get("api_key", []))


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


def _routes(port: int) -> dict[str, RawRoute]:
    def reflected_status(r: FixtureRequest) -> Iterable[bytes]:
        return [f"HTTP/1.1 2x0 {token(r)}\r\nContent-Length: 0\r\n\r\n".encode()]

    def reason(r: FixtureRequest) -> Iterable[bytes]:
        return [raw_response(b"{}", status=f"200 {token(r)}")]

    def colonless(r: FixtureRequest) -> Iterable[bytes]:
        return [f"HTTP/1.1 200 OK\r\nX-Seen {token(r)}\r\nContent-Length: 2\r\n\r\n{{}}"
                .encode()]

    def nul_header(r: FixtureRequest) -> Iterable[bytes]:
        return [f"HTTP/1.1 200 OK\r\nX-Seen: {token(r)}\x00\r\nContent-Length: 2\r\n\r\n{{}}"
                .encode()]

    def bad_length(r: FixtureRequest) -> Iterable[bytes]:
        return [f"HTTP/1.1 200 OK\r\nContent-Length: {token(r)}\r\n\r\n{{}}".encode()]

    def bad_chunk(r: FixtureRequest) -> Iterable[bytes]:
        return [f"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{token(r)}\r\n"
                .encode()]

    def folded(r: FixtureRequest) -> Iterable[bytes]:
        return [f"HTTP/1.1 200 OK\r\nX-Seen: a\r\n {token(r)}\r\nContent-Length: 2\r\n\r\n{{}}"
                .encode()]

    def redirect(location: str) -> RawRoute:
        def route(r: FixtureRequest) -> Iterable[bytes]:
            return [raw_response(status="302 Found", headers=[
                ("Location", location.format(token=token(r), port=port))])]
        return route

    def first(r: FixtureRequest) -> Iterable[bytes]:
        stale = f'{{"stale": "{token(r)}"}}'.encode()
        return [raw_response(b'{"answer": "first"}') + raw_response(stale, headers=[
            ("X-Stale", token(r) or "none")])]

    def first_late(r: FixtureRequest) -> Iterable[bytes]:
        return [raw_response(b'{"answer": "first"}'),
                raw_response(f'{{"stale": "{token(r)}"}}'.encode())]

    def second(r: FixtureRequest) -> Iterable[bytes]:
        return [raw_response(b'{"answer": "second"}')]

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
        "/gzip-then-junk": lambda r: _streamed(compress(b'{"a": 1}', "gzip"), _JUNK, "gzip"),
        "/gzip-then-members": lambda r: _streamed(compress(b'{"a": 1}', "gzip"),
                                                  _ZEROS_MEMBER, "gzip"),
        "/deflate-then-junk": lambda r: _streamed(_raw_deflate(b'{"a": 1}'), _JUNK,
                                                  "deflate"),
        "/br-then-junk": lambda r: _streamed(compress(b'{"a": 1}', "br"), _JUNK, "br"),
        "/gzip-then-token": lambda r: [raw_response(
            compress(b'{"a": 1}', "gzip") + token(r).encode() * 64,
            headers=[("Content-Encoding", "gzip")])],
    }


class WireServer(RawServer):
    """A :class:`~corral.testing.RawServer` serving the scripted routes (over TLS with
    ``tls``); records requests."""

    def __init__(self, *, tls: tuple[Path, Path] | None = None) -> None:
        super().__init__(tls=tls, name="bench-wire-server")
        for path, route in _routes(self.port).items():
            self.route(path, route)
