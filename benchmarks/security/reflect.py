"""A reflecting API: routes that echo the credential a request carried, in the forms real
APIs produce, on the paths a response has.

The threat model names it: an API on a pack's own auth domain that echoes what it
receives (a debug endpoint, an error page quoting the request, a JSON encoder escaping
``/``). :func:`add_reflecting_routes` teaches a :class:`~corral.testing.LocalServer` the
routes; the credential is the ``Authorization`` value or the ``api_key`` parameter::

    /reflect/<where>/<form>    where: body, json, header, cookie, location, www-auth
    /coded/<coding>            the echo compressed as <coding> (odd codings included)
    /negotiate                 the echo compressed with what Accept-Encoding asks for
    /bomb/<coding>?mb=N        N MiB of zeros under <coding> (br, x-gzip, stacked gzip)
    /deep/<kind>?depth=N       a JSON body nested N deep (kind: array or object)
    /sink                      takes anything (where a pack exfiltrates to), answers 204
"""

from __future__ import annotations

import base64
import gzip
import html
import json
import zlib
from typing import Callable
from urllib.parse import quote, quote_plus

from corral.testing import Exchange, LocalServer

try:
    import brotli
except ImportError:  # the br routes then send gzip and say br: still a coding the host must refuse
    brotli = None

#: How an API re-encodes what it echoes. Each is a real encoding some API applies.
FORMS: dict[str, Callable[[str], str]] = {
    "raw": lambda s: s,
    "json-slash": lambda s: json.dumps(s)[1:-1].replace("/", "\\/"),
    "json-u": lambda s: "".join(f"\\u{ord(c):04x}" for c in s),
    "json-U": lambda s: "".join(f"\\u{ord(c):04X}" for c in s),
    "pct-upper": lambda s: "".join(f"%{b:02X}" for b in s.encode()),
    "pct-lower": lambda s: "".join(f"%{b:02x}" for b in s.encode()),
    "pct-plus": quote_plus,
    "pct-twice": lambda s: quote(quote(s, safe=""), safe=""),
    "base64": lambda s: base64.b64encode(s.encode()).decode(),
    "base64url": lambda s: base64.urlsafe_b64encode(s.encode()).decode().rstrip("="),
    "html-named": lambda s: html.escape(s, quote=True),
    "html-decimal": lambda s: "".join(f"&#{ord(c)};" for c in s),
    "html-hex": lambda s: "".join(f"&#x{ord(c):x};" for c in s),
    "hex": lambda s: s.encode().hex(),
}


def credential(exchange: Exchange) -> str:
    """What the request carried: the Authorization value or the api_key parameter."""
    request = exchange.request
    return request.headers.get("authorization") or ",".join(request.query.get("api_key", []))


def compress(data: bytes, coding: str) -> bytes:
    if coding in ("gzip", "x-gzip"):
        return gzip.compress(data, mtime=0)
    if coding == "deflate":
        return zlib.compress(data)
    if coding == "br" and brotli is not None:
        return bytes(brotli.compress(data))
    return gzip.compress(data, mtime=0)  # zstd, compress, x-custom: bytes the host cannot read


#: ``/coded/<name>``: (Content-Encoding header lines, how the body is built).
CODINGS: dict[str, tuple[tuple[str, ...], Callable[[bytes], bytes]]] = {
    "gzip": (("gzip",), lambda d: compress(d, "gzip")),
    "deflate": (("deflate",), lambda d: compress(d, "deflate")),
    "br": (("br",), lambda d: compress(d, "br")),
    "gzip-gzip": (("gzip, gzip",), lambda d: compress(compress(d, "gzip"), "gzip")),
    "two-lines": (("gzip", "gzip"), lambda d: compress(compress(d, "gzip"), "gzip")),
    "gzip-deflate": (("gzip, deflate",), lambda d: compress(compress(d, "gzip"), "deflate")),
    "br-gzip": (("br, gzip",), lambda d: compress(compress(d, "br"), "gzip")),
    "zstd": (("zstd",), lambda d: compress(d, "zstd")),
    "compress": (("compress",), lambda d: compress(d, "compress")),
    "x-custom": (("x-custom",), lambda d: compress(d, "x-custom")),
    "identity-gzip": (("identity", "gzip"), lambda d: compress(d, "gzip")),
    "gzip-identity-gzip": (("gzip, identity, gzip",),
                           lambda d: compress(compress(d, "gzip"), "gzip")),
    "upper-GZIP-GZIP": (("GZIP, GZIP",), lambda d: compress(compress(d, "gzip"), "gzip")),
}


def _echo(exchange: Exchange) -> bytes:
    """The credential in a JSON body long enough that every coder really compresses it
    (brotli stores a short input as it is)."""
    seen = credential(exchange)
    return json.dumps({"seen": seen, "again": [seen] * 4, "path": exchange.request.path,
                       "padding": "abcdefgh" * 512}).encode()


def _reflect(exchange: Exchange) -> None:
    where, form = exchange.params["where"], exchange.params["form"]
    shown = FORMS[form](credential(exchange))
    port = exchange.server.port
    if where == "body":
        exchange.send(200, f"you sent: {shown}".encode(), [("Content-Type", "text/plain")])
    elif where == "json":
        exchange.send(200, ('{"seen": "' + shown + '"}').encode(),
                      [("Content-Type", "application/json")])
    elif where == "header":
        exchange.send(200, b"{}", [("Content-Type", "application/json"), ("X-Seen", shown)])
    elif where == "cookie":
        exchange.send(200, b"{}", [("Content-Type", "application/json"),
                                   ("Set-Cookie", f"seen={shown}; Path=/")])
    elif where == "www-auth":
        exchange.send(401, b"{}", [("Content-Type", "application/json"),
                                   ("WWW-Authenticate", f'Bearer error="{shown}"')])
    elif where == "location":
        exchange.send(302, b"", [("Location", f"http://cdn.test:{port}/sink?seen={shown}")])
    else:
        exchange.send(404, b"no such reflection")


def _coded(exchange: Exchange) -> None:
    lines, build = CODINGS[exchange.params["coding"]]
    exchange.send(200, build(_echo(exchange)), [("Content-Type", "application/json"),
                                               *(("Content-Encoding", line) for line in lines)])


def _negotiate(exchange: Exchange) -> None:
    """Honours the request's Accept-Encoding, first coding first (as many servers do)."""
    asked = exchange.request.headers.get("accept-encoding", "")
    codings = [c.split(";")[0].strip().lower() for c in asked.split(",") if c.strip()]
    chosen = next((c for c in codings if c in ("br", "zstd", "gzip", "deflate")), "identity")
    body = _echo(exchange)
    headers = [("Content-Type", "application/json")]
    if chosen != "identity":
        body = compress(body, chosen)
        headers.append(("Content-Encoding", chosen))
    exchange.send(200, body, headers)


_BOMBS: dict[tuple[str, int], bytes] = {}


def _zeros(coding: str, megabytes: int) -> bytes:
    """``megabytes`` MiB of zeros under ``coding``, compressed a block at a time."""
    block = bytes(1 << 20)
    if coding == "br" and brotli is not None:
        squeezer = brotli.Compressor(quality=1)
        return b"".join(squeezer.process(block) for _ in range(megabytes)) + squeezer.finish()
    gzipper = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    return b"".join(gzipper.compress(block) for _ in range(megabytes)) + gzipper.flush()


def _bomb(exchange: Exchange) -> None:
    coding = {"gzip-gzip": "gzip, gzip"}.get(exchange.params["coding"], exchange.params["coding"])
    megabytes = int(exchange.request.query.get("mb", ["64"])[0])
    if (coding, megabytes) not in _BOMBS:
        body = _zeros(coding if coding != "gzip, gzip" else "gzip", megabytes)
        _BOMBS[coding, megabytes] = compress(body, "gzip") if coding == "gzip, gzip" else body
    exchange.send(200, _BOMBS[coding, megabytes], [("Content-Type", "application/json"),
                                                   ("Content-Encoding", coding)])


def _deep(exchange: Exchange) -> None:
    depth = int(exchange.request.query.get("depth", ["990"])[0])
    if exchange.params["kind"] == "object":
        body = '{"a":' * depth + "1" + "}" * depth
    else:
        body = "[" * depth + "1" + "]" * depth
    exchange.send(200, body.encode(), [("Content-Type", "application/json")])


def _sink(exchange: Exchange) -> None:
    exchange.send(204)


def add_reflecting_routes(server: LocalServer) -> None:
    server.handle("*", "/reflect/{where}/{form}", _reflect)
    server.handle("*", "/coded/{coding}", _coded)
    server.handle("*", "/negotiate", _negotiate)
    server.handle("*", "/bomb/{coding}", _bomb)
    server.handle("*", "/deep/{kind}", _deep)
    server.handle("*", "/sink", _sink)
