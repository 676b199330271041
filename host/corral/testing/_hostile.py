"""The hostile API: one local server with every misbehaviour the host must survive.

The host's fetch tests and the security benchmark both use it; a pack author can point a
pack at it to see how the pack copes with redirects, errors, bombs and stalls. Routes::

    /json                     200 JSON {"ok": true, "path", "query"} (held by hold_responses())
    /echo                     200 JSON {"method", "path", "query", "headers", "body"}
    /status/<code>            that status, a short text body
    /redirect?to=U&code=C     a redirect (default 302) to U
    /reflect-redirect?to=U    a 302 to U with this request's whole query appended (a leaky API)
    /hops/<n>                 n redirects in a row, then /json
    /loop                     a redirect to itself, forever
    /auth                     200 if Authorization is "Bearer <valid_token>", else 401
    /whoami                   {"user": <user>} for "Bearer <valid_token>", else {"user": null}
    /set-cookie               200 with two Set-Cookie headers
    /endless                  a chunked body that never ends
    /length-lie               declares a terabyte of Content-Length
    /huge-headers?count=N&size=M   N response headers of M bytes each
    /gzip, /deflate           a small gzip-encoded JSON body, a small raw-deflate body
    /gzip-bomb?mb=N           N MiB of zeros, gzip-encoded (about N KiB on the wire)
    /deflate-bomb?mb=N        the same, deflate-encoded
    /double-gzip              a body gzip-encoded twice (Content-Encoding: gzip, gzip)
    /slow?every=S             a 1000-byte body dripped one byte every S seconds (default 0.2)
    /drop                     closes the connection without answering
"""

from __future__ import annotations

import gzip
import json
import threading
import time
import zlib
from pathlib import Path

from ._server import Exchange, LocalServer

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


def _number(exchange: Exchange, name: str, default: str) -> float:
    return float(exchange.request.query.get(name, [default])[0])


class HostileServer(LocalServer):
    """A :class:`LocalServer` serving the hostile routes above; use as a context manager."""

    def __init__(self, *, valid_token: str = "fresh-token", user: str = "alice",
                 tls: tuple[Path, Path] | None = None) -> None:
        super().__init__(tls=tls, name="corral-hostile-server")
        self.valid_token = valid_token
        self.user = user
        self._gate: threading.Event | None = None
        routes = {
            "/json": self._json, "/echo": self._echo, "/status/{code}": self._status,
            "/redirect": self._redirect, "/reflect-redirect": self._reflect_redirect,
            "/hops/{left}": self._hops, "/loop": self._loop, "/auth": self._auth,
            "/whoami": self._whoami, "/set-cookie": self._set_cookie,
            "/endless": self._endless, "/length-lie": self._length_lie,
            "/huge-headers": self._huge_headers, "/gzip": self._gzip,
            "/deflate": self._deflate, "/gzip-bomb": self._gzip_bomb,
            "/deflate-bomb": self._deflate_bomb, "/double-gzip": self._double_gzip,
            "/slow": self._slow, "/drop": self._drop,
        }
        for path, handler in routes.items():
            self.handle("*", path, handler)

    def hold_responses(self) -> threading.Event:
        """Make /json wait until the returned event is set (to keep a request in flight)."""
        self._gate = threading.Event()
        return self._gate

    def close(self) -> None:
        if self._gate is not None:
            self._gate.set()
        super().close()

    def _authorized(self, exchange: Exchange) -> bool:
        return exchange.request.headers.get("authorization") == f"Bearer {self.valid_token}"

    def _json(self, exchange: Exchange) -> None:
        if self._gate is not None:
            self._gate.wait(10)
        r = exchange.request
        exchange.send_json({"ok": True, "path": r.path, "query": r.query})

    def _echo(self, exchange: Exchange) -> None:
        r = exchange.request
        exchange.send_json({"method": r.method, "path": r.path, "query": r.query,
                            "headers": r.headers, "body": r.body.decode("utf-8", "replace")})

    def _status(self, exchange: Exchange) -> None:
        code = int(exchange.params["code"])
        exchange.send(code, f"status {code}".encode())

    def _redirect(self, exchange: Exchange) -> None:
        query = exchange.request.query
        exchange.send(int(query.get("code", ["302"])[0]), b"", [("Location", query["to"][0])])

    def _reflect_redirect(self, exchange: Exchange) -> None:
        r = exchange.request
        whole_query = r.raw_target.partition("?")[2]
        exchange.send(302, b"", [("Location", f"{r.query['to'][0]}?{whole_query}")])

    def _hops(self, exchange: Exchange) -> None:
        left = int(exchange.params["left"])
        exchange.send(302, b"", [("Location", f"/hops/{left - 1}" if left > 1 else "/json")])

    def _loop(self, exchange: Exchange) -> None:
        exchange.send(302, b"", [("Location", "/loop")])

    def _auth(self, exchange: Exchange) -> None:
        authorized = self._authorized(exchange)
        exchange.send_json({"authorized": authorized}, status=200 if authorized else 401)

    def _whoami(self, exchange: Exchange) -> None:
        exchange.send_json({"user": self.user if self._authorized(exchange) else None})

    def _set_cookie(self, exchange: Exchange) -> None:
        exchange.send(200, b"{}", [("Content-Type", "application/json"),
                                   ("Set-Cookie", "session=s3cr3t; Path=/"),
                                   ("Set-Cookie", "other=1; Path=/")])

    def _endless(self, exchange: Exchange) -> None:
        exchange.close_after()
        exchange.begin(200, [("Content-Type", "application/octet-stream"),
                             ("Transfer-Encoding", "chunked")])
        chunk = b"x" * 65536
        frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        stop = time.monotonic() + 30
        while time.monotonic() < stop and not exchange.stopping:
            exchange.write(frame)

    def _length_lie(self, exchange: Exchange) -> None:
        exchange.close_after()
        exchange.begin(200, [("Content-Type", "application/octet-stream"),
                             ("Content-Length", str(1 << 40))])
        exchange.write(b"y" * 65536)

    def _huge_headers(self, exchange: Exchange) -> None:
        count = int(_number(exchange, "count", "10"))
        size = int(_number(exchange, "size", "10"))
        exchange.send(200, b"{}", [("Content-Type", "application/json"),
                                   *((f"X-Filler-{i}", "v" * size) for i in range(count))])

    def _gzip(self, exchange: Exchange) -> None:
        body = gzip.compress(json.dumps({"compressed": True}).encode())
        exchange.send(200, body, [("Content-Type", "application/json"),
                                  ("Content-Encoding", "gzip")])

    def _deflate(self, exchange: Exchange) -> None:
        squeezer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        body = squeezer.compress(b"deflated " * 100) + squeezer.flush()
        exchange.send(200, body, [("Content-Encoding", "deflate")])

    def _bomb(self, exchange: Exchange, coding: str) -> None:
        megabytes = int(_number(exchange, "mb", "64"))
        exchange.send(200, _zeros(coding, megabytes), [
            ("Content-Type", "application/octet-stream"), ("Content-Encoding", coding)])

    def _gzip_bomb(self, exchange: Exchange) -> None:
        self._bomb(exchange, "gzip")

    def _deflate_bomb(self, exchange: Exchange) -> None:
        self._bomb(exchange, "deflate")

    def _double_gzip(self, exchange: Exchange) -> None:
        body = gzip.compress(gzip.compress(bytes(4 << 20)))
        exchange.send(200, body, [("Content-Type", "application/octet-stream"),
                                  ("Content-Encoding", "gzip, gzip")])

    def _slow(self, exchange: Exchange) -> None:
        every = _number(exchange, "every", "0.2")
        exchange.close_after()
        exchange.begin(200, [("Content-Type", "text/plain"), ("Content-Length", "1000")])
        for _ in range(1000):
            if exchange.stopping:
                break
            exchange.write(b".")
            time.sleep(every)

    def _drop(self, exchange: Exchange) -> None:
        exchange.drop()
