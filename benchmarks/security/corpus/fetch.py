"""Fetch abuse through real packs (Zig and C): every allow-list and SSRF bypass, redirects,
DNS rebinding, slow drips, compression bombs, CRLF injection and header floods.

Each refusal must name its rule and leave the target untouched on the server."""

from __future__ import annotations

from typing import Any, Callable

from ..egress import PUBLIC_ADDRESS, ScriptedResolver
from ..harness import Attack, Bench, Observation, expect_no_requests, expect_untouched


def _fetch(url: str, pack: str = "zhostile") -> Callable[[Bench], Any]:
    """Fetch ``url`` (``{port}`` is the hostile server's port) from ``pack``."""
    return lambda b: b.call(pack, "Fetch", url.format(port=b.server.port))


def _redirect(target: str, code: int = 302, pack: str = "zhostile") -> Callable[[Bench], Any]:
    def run(bench: Bench) -> Any:
        location = target.format(port=bench.server.port)
        return bench.call(pack, "Fetch", bench.url(f"/redirect?code={code}&to={location}"))
    return run


def _header(name: str, value: str, pack: str = "zhostile") -> Callable[[Bench], Any]:
    return lambda b: b.call(pack, "FetchWithHeader", b.url("/echo"), name, value)


def _denied(title: str, url: str, rule: str, *, pack: str = "zhostile",
            quick: bool = False) -> Attack:
    return Attack(title, "fetch", "fetch_denied", _fetch(url, pack), rule=rule,
                  verify=expect_no_requests, quick=quick,
                  language="c" if pack == "chostile" else "zig")


def _redirected(title: str, target: str, rule: str, *, code: int = 302,
                pack: str = "zhostile", quick: bool = False) -> Attack:
    return Attack(title, "fetch", "fetch_denied", _redirect(target, code, pack), rule=rule,
                  verify=expect_untouched("/json"), quick=quick,
                  language="c" if pack == "chostile" else "zig")


def _header_denied(title: str, name: str, value: str, *, pack: str = "zhostile",
                   quick: bool = False) -> Attack:
    return Attack(title, "fetch", "fetch_denied", _header(name, value, pack), rule="header",
                  verify=expect_untouched("/echo"), quick=quick,
                  language="c" if pack == "chostile" else "zig")


def _rebinding_contained(bench: Bench, seen: Observation) -> str | None:
    lookups = bench.resolver.lookups[ScriptedResolver.REBIND_NAME]
    if seen.new_requests:
        return "the rebinding name reached the loopback server"
    if any(address != PUBLIC_ADDRESS for address, _ in seen.new_blocked):
        return f"the host dialled an address it had not checked: {seen.new_blocked}"
    if lookups < 1:
        return "the name was never resolved"
    return None


def _small_body(bench: Bench, seen: Observation) -> str | None:
    body = seen.value.get("body", "") if isinstance(seen.value, dict) else ""
    return None if len(body) < 1 << 20 else f"{len(body)} bytes reached the guest"


def _bypasses() -> list[Attack]:
    return [
        _denied("IP literal 127.0.0.1", "http://127.0.0.1:{port}/json", "ip_literal",
                quick=True),
        _denied("short IPv4 127.1", "http://127.1:{port}/json", "ip_literal"),
        _denied("decimal IPv4 2130706433", "http://2130706433:{port}/json", "ip_literal"),
        _denied("hex IPv4 0x7f000001", "http://0x7f000001:{port}/json", "ip_literal"),
        _denied("octal IPv4 0177.0.0.1", "http://0177.0.0.1:{port}/json", "ip_literal"),
        _denied("IPv6 loopback [::1]", "http://[::1]:{port}/json", "ip_literal"),
        _denied("IPv4-mapped IPv6 [::ffff:127.0.0.1]", "http://[::ffff:127.0.0.1]:{port}/json",
                "ip_literal"),
        _denied("unspecified 0.0.0.0", "http://0.0.0.0:{port}/json", "ip_literal"),
        _denied("cloud metadata by IP", "http://169.254.169.254/latest/meta-data/",
                "ip_literal", pack="chostile"),
        _denied("userinfo bench.test@127.0.0.1", "http://bench.test@127.0.0.1:{port}/json",
                "userinfo"),
        _denied("encoded userinfo bench.test%40evil.test",
                "http://bench.test%40evil.test:{port}/json", "userinfo"),
        _denied("backslash userinfo bench.test\\@evil.test",
                "http://bench.test\\@evil.test:{port}/json", "userinfo"),
        _denied("undeclared domain", "http://undeclared.test:{port}/json",
                "undeclared_domain", pack="chostile", quick=True),
        _denied("lookalike evil-bench.test", "http://evil-bench.test:{port}/json",
                "undeclared_domain"),
        _denied("suffix bench.test.evil.net", "http://bench.test.evil.net:{port}/json",
                "undeclared_domain"),
        _denied("IDNA homograph bench.tеst (Cyrillic е)", "http://bench.t\u0435st:{port}/json",
                "undeclared_domain"),
        _denied("undeclared port", "http://bench.test:1/json", "port"),
        _denied("file:// scheme", "file:///etc/passwd", "scheme"),
        _denied("gopher:// scheme", "gopher://bench.test:{port}/_json", "scheme"),
        _denied("CRLF in the URL", "http://bench.test:{port}/json\r\nX-Evil: 1",
                "control_char"),
        _denied("declared subdomain resolving to 10.1.2.3",
                "http://internal.bench.test:{port}/json", "private_address", quick=True),
        _denied("declared subdomain resolving to the metadata address",
                "http://metadata.bench.test:{port}/json", "metadata_address"),
        _denied("name resolving to IPv4-mapped loopback",
                "http://mapped.bench.test:{port}/json", "private_address"),
        _denied("name resolving to NAT64 metadata (64:ff9b::a9fe:a9fe)",
                "http://nat64.bench.test:{port}/json", "metadata_address"),
        _denied("name resolving to CGNAT 100.64.0.1", "http://cgnat.bench.test:{port}/json",
                "private_address"),
        _denied("name resolving to public and loopback at once",
                "http://mixed.bench.test:{port}/json", "private_address"),
        Attack("DNS rebinding: public on the first lookup, loopback after", "fetch", "fetch_denied",
               _fetch("http://rebind.bench.test:{port}/json"), rule="private_address",
               verify=_rebinding_contained, egress_expected=True, quick=True),
    ]


def _redirects() -> list[Attack]:
    return [
        _redirected("redirect to 127.0.0.1", "http://127.0.0.1:{port}/json", "ip_literal",
                    quick=True),
        _redirected("307 redirect to a private name", "http://internal.bench.test:{port}/json",
                    "private_address", code=307),
        _redirected("303 redirect to the metadata name",
                    "http://metadata.bench.test:{port}/json", "metadata_address", code=303),
        _redirected("redirect to an undeclared domain", "http://undeclared.test:{port}/json",
                    "undeclared_domain", pack="chostile"),
        _redirected("redirect to file://", "file:///etc/passwd", "scheme"),
        _redirected("redirect to userinfo URL", "http://x@bench.test:{port}/json", "userinfo"),
        Attack("endless redirect loop", "fetch", "fetch_denied", _fetch("http://bench.test:{port}/loop"),
               rule="redirect_limit"),
    ]


def _responses() -> list[Attack]:
    return [
        # Two deadlines cut it, the fetch's and the call's (both the call's 400 ms): which
        # fires first depends on the machine, either is a contained drip.
        Attack("slow drip: one byte every 200 ms", "fetch", "fetch_timeout|timeout",
               _fetch("http://bench.test:{port}/slow", pack="zdeadline"), language="zig"),
        Attack("gzip bomb: 64 MiB of zeros", "fetch", "fetch_too_large",
               _fetch("http://bench.test:{port}/gzip-bomb?mb=64"), quick=True, language="zig"),
        Attack("deflate bomb: 64 MiB of zeros", "fetch", "fetch_too_large",
               _fetch("http://bench.test:{port}/deflate-bomb?mb=64", pack="chostile"),
               language="c"),
        Attack("stacked gzip, gzip encodings are a bad response, never passed on raw",
               "fetch", "fetch_network", lambda b: b.call("zhostile", "Fetch", b.url("/double-gzip")),
               rule="content_encoding", verify=_small_body, language="zig"),
        Attack("endless chunked body", "fetch", "fetch_too_large",
               _fetch("http://bench.test:{port}/endless"), language="zig"),
        Attack("Content-Length of a terabyte", "fetch", "fetch_too_large",
               _fetch("http://bench.test:{port}/length-lie"), language="zig"),
        Attack("response header flood: 500 headers", "fetch", "fetch_too_large",
               _fetch("http://bench.test:{port}/huge-headers?count=500&size=20"), language="zig"),
        Attack("one 100 KB response header", "fetch", "fetch_too_large",
               _fetch("http://bench.test:{port}/huge-headers?count=1&size=100000",
                      pack="chostile"), language="c"),
    ]


def _requests() -> list[Attack]:
    return [
        _header_denied("CRLF header injection in a value", "X-Note", "a\r\nX-Evil: 1",
                       quick=True),
        _header_denied("CRLF header injection in a name", "X-Note\r\nX-Evil", "1"),
        _header_denied("NUL in a header value", "X-Note", "a\x00b"),
        _header_denied("Host header override", "Host", "evil.test"),
        _header_denied("Transfer-Encoding smuggling", "Transfer-Encoding", "chunked",
                       pack="chostile"),
        _header_denied("Proxy-Authorization", "Proxy-Authorization", "Basic Zm9vOmJhcg=="),
        _header_denied("guest Accept-Encoding: br (the host owns content coding)",
                       "Accept-Encoding", "br"),
        _header_denied("guest Accept-Encoding: identity (C)", "accept-encoding", "identity",
                       pack="chostile"),
        _header_denied("CRLF header injection (C)", "X-Note", "a\r\nX-Evil: 1",
                       pack="chostile"),
        Attack("request header flood: 1000 headers", "fetch", "fetch_too_large",
               lambda b: b.call("zhostile", "FetchHeaderFlood", b.url("/echo"), 1000, 8),
               rule="request_headers", verify=expect_untouched("/echo"), language="zig"),
        Attack("one 100 KB request header", "fetch", "fetch_too_large",
               lambda b: b.call("zhostile", "FetchHeaderFlood", b.url("/echo"), 1, 100_000),
               rule="request_headers", verify=expect_untouched("/echo"), language="zig"),
        Attack("2 MiB request body (over the input cap)", "fetch", "fetch_too_large",
               lambda b: b.call("zhostile", "FetchBigBody", b.url("/echo"), 2 << 20),
               verify=expect_untouched("/echo"), language="zig"),
        Attack("CONNECT method", "fetch", "fetch_denied",
               lambda b: b.call("zhostile", "FetchMethod", b.url("/echo"), "CONNECT"),
               rule="method", verify=expect_untouched("/echo"), language="zig"),
        Attack("fetch storm past max_fetches", "fetch", "fetch_limit",
               lambda b: b.call("zhostile", "FetchStorm", b.url("/json"), 50), quick=True,
               verify=lambda b, s: None if len(s.new_requests) <= 8 else
               f"{len(s.new_requests)} fetches reached the server", language="zig"),
    ]


def attacks() -> list[Attack]:
    return _bypasses() + _redirects() + _responses() + _requests()
