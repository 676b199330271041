"""The fetch policy on its own: URLs, addresses, headers and parameters."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Mapping

import httpx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from corral import DeclaredDomain, FetchDenied, FetchTooLarge, ManifestError, check_url
from corral._fetch.policy import check_address, check_headers, check_params, host_matches


@dataclass(frozen=True)
class Settings:
    allow_http: bool = False
    host_map: Mapping[str, str] = field(default_factory=dict)


STRICT = Settings()
DOMAINS = ("example.com", "api.other.org:8443")


@pytest.mark.parametrize("url, expected", [
    ("https://example.com", "https://example.com/"),
    ("https://api.example.com/v1/items?q=1#frag", "https://api.example.com/v1/items?q=1"),
    ("HTTPS://API.EXAMPLE.COM/Path", "https://api.example.com/Path"),
    ("https://example.com./x", "https://example.com/x"),
    ("  https://example.com/  ", "https://example.com/"),
    ("https://example.com:443/", "https://example.com/"),
    ("https://ｅｘａｍｐｌｅ.com/", "https://example.com/"),
    ("https://bücher.example.com/", "https://xn--bcher-kva.example.com/"),
    ("https://xn--bcher-kva.example.com/", "https://xn--bcher-kva.example.com/"),
    ("https://example.com?x=1", "https://example.com/?x=1"),
    ("https://api.other.org:8443/x", "https://api.other.org:8443/x"),
    ("https://my_bucket.example.com/", "https://my_bucket.example.com/"),
])
def test_admitted_urls_are_normalised(url: str, expected: str) -> None:
    assert check_url(url, DOMAINS, STRICT).url == expected


@pytest.mark.parametrize("url, rule", [
    # the domain rule: exact or subdomain, never a look-alike
    ("https://evil-example.com/", "undeclared_domain"),
    ("https://example.com.evil.net/", "undeclared_domain"),
    ("https://notexample.com/", "undeclared_domain"),
    ("https://example.co/", "undeclared_domain"),
    ("https://other.org:8443/", "undeclared_domain"),
    # userinfo, plain and disguised
    ("https://a.com@example.com/", "userinfo"),
    ("https://example.com@evil.net/", "userinfo"),
    ("https://user:pw@example.com/", "userinfo"),
    ("https://example.com%40evil.net/", "userinfo"),
    ("https://example.com%2540evil.net/", "host"),
    ("https://evil.net\\@example.com/", "userinfo"),
    ("https://example.com\\.evil.net/", "malformed"),
    # IP literals in every notation
    ("https://127.0.0.1/", "ip_literal"),
    ("https://127.1/", "ip_literal"),
    ("https://2130706433/", "ip_literal"),
    ("https://0177.0.0.1/", "ip_literal"),
    ("https://0x7f000001/", "ip_literal"),
    ("https://0x7f.0.0.1/", "ip_literal"),
    ("https://0.0.0.0/", "ip_literal"),
    ("https://169.254.169.254/", "ip_literal"),
    ("https://[::1]/", "ip_literal"),
    ("https://[::]/", "ip_literal"),
    ("https://[::ffff:127.0.0.1]/", "ip_literal"),
    ("https://[::ffff:7f00:1]/", "ip_literal"),
    ("https://[fd00:ec2::254]/", "ip_literal"),
    ("https://::1/", "ip_literal"),
    ("https://①②⑦.⓪.⓪.①/", "ip_literal"),
    ("https://１２７.０.０.１/", "ip_literal"),
    # schemes
    ("http://example.com/", "scheme"),
    ("ftp://example.com/", "scheme"),
    ("file:///etc/passwd", "scheme"),
    ("gopher://example.com/", "scheme"),
    ("javascript:alert(1)", "scheme"),
    ("//example.com/", "malformed"),
    ("example.com/", "malformed"),
    ("https:example.com", "malformed"),
    ("https:/example.com", "malformed"),
    # ports
    ("https://example.com:8443/", "port"),
    ("https://example.com:22/", "port"),
    ("https://api.other.org/", "port"),
    ("https://example.com:/", "port"),
    ("https://example.com:99999/", "port"),
    ("https://example.com:-1/", "port"),
    ("https://example.com:0x1bb/", "port"),
    # control characters anywhere
    ("https://example.com/\r\nX-Injected: 1", "control_char"),
    ("https://example.com/%0d%0a".replace("%0d%0a", "\n"), "control_char"),
    ("https://exa\tmple.com/", "control_char"),
    ("https://example.com\x00.evil.net/", "control_char"),
    ("https://example.com/\x7f", "control_char"),
    ("https://example.com/\x85", "control_char"),
    ("\nhttps://example.com/", "control_char"),
    # broken host names
    ("https://example.com../", "host"),
    ("https://.example.com/", "host"),
    ("https://ex ample.com/", "host"),
    ("https://xn--zz.example.com/", "host"),
    ("https://example.com／.evil.net/", "host"),
    ("https://%65xample.com/", "host"),
    ("https:///path", "malformed"),
    ("https://" + "a" * 64 + ".example.com/", "host"),
    ("https://example.com/" + "a" * 9000, "malformed"),
])
def test_refused_urls_name_the_rule(url: str, rule: str) -> None:
    with pytest.raises(FetchDenied) as info:
        check_url(url, DOMAINS, STRICT)
    assert info.value.rule == rule
    assert info.value.kind == "fetch_denied"
    assert f"({rule})" in str(info.value)


def test_non_string_url_is_refused() -> None:
    with pytest.raises(FetchDenied, match="must be a string") as info:
        check_url(b"https://example.com/", DOMAINS, STRICT)
    assert info.value.rule == "malformed"


def test_http_only_where_the_host_config_allows_it() -> None:
    assert check_url("http://example.com/", DOMAINS, Settings(allow_http=True)).port == 80
    with pytest.raises(FetchDenied) as info:
        check_url("http://example.com/", DOMAINS, STRICT)
    assert info.value.rule == "scheme"
    with pytest.raises(FetchDenied) as info:
        check_url("ws://example.com/", DOMAINS, Settings(allow_http=True))
    assert info.value.rule == "scheme"


def test_declared_port_admits_only_that_port() -> None:
    domains = ["api.example.com:8443"]
    assert check_url("https://api.example.com:8443/", domains, STRICT).port == 8443
    assert check_url("https://v2.api.example.com:8443/", domains, STRICT).port == 8443
    for url in ("https://api.example.com/", "https://api.example.com:8444/"):
        with pytest.raises(FetchDenied) as info:
            check_url(url, domains, STRICT)
        assert info.value.rule == "port"


def test_no_declared_domains_admits_nothing() -> None:
    with pytest.raises(FetchDenied) as info:
        check_url("https://example.com/", [], STRICT)
    assert info.value.rule == "undeclared_domain"


def test_redirect_locations_keep_their_query_out_of_messages() -> None:
    with pytest.raises(FetchDenied) as info:
        check_url("https://evil.net/steal?api_key=SECRET", DOMAINS, STRICT, redact_query=True)
    assert "SECRET" not in str(info.value)
    assert "SECRET" not in repr(info.value.to_dict())
    assert info.value.url == "https://evil.net/steal"


@pytest.mark.parametrize("declared", ["Example.COM", "example.com.", " example.com ",
                                      "ｅｘａｍｐｌｅ.com", DeclaredDomain("example.com")])
def test_declared_domains_are_read_as_the_manifest_reads_them(declared: str) -> None:
    assert check_url("https://api.example.com/", [declared], STRICT).host == "api.example.com"


@pytest.mark.parametrize("declared", ["127.0.0.1", "example.com:http", "exa mple.com", "[::1]",
                                      "api.123", "a.0x10", "api.example.com:99999", "localhost",
                                      "example.com:", "*.example.com", "xn--zz.example.com"])
def test_bad_declared_domains_are_manifest_errors(declared: str) -> None:
    with pytest.raises(ManifestError) as info:
        check_url("https://example.com/", [declared], STRICT)
    assert info.value.field == "network_domains"
    assert info.value.rule == "domain"
    assert repr(declared) in info.value.message


@pytest.mark.parametrize("declared, url", [
    ("ex_ample.com", "https://ex_ample.com/"),              # the manifest refused it before
    ("_dmarc.example.com", "https://a._dmarc.example.com/"),
    ("api.example.com:08443", "https://api.example.com:8443/"),
    ("example.com:443", "https://example.com/"),
    ("bücher.de:8443", "https://xn--bcher-kva.de:8443/"),
])
def test_declared_domains_the_manifest_accepts_are_admitted(declared: str, url: str) -> None:
    checked = check_url(url, [declared], STRICT)
    assert checked.url == url


def test_a_bare_domain_admits_the_default_port_of_each_scheme() -> None:
    lax = Settings(allow_http=True)
    assert check_url("http://example.com/", ["example.com"], lax).port == 80
    assert check_url("https://example.com/", ["example.com"], lax).port == 443
    for url in ("http://example.com:443/", "https://example.com:80/"):
        with pytest.raises(FetchDenied) as info:
            check_url(url, ["example.com"], lax)
        assert info.value.rule == "port"


def test_url_ports_follow_the_declared_port_rule() -> None:
    assert check_url("https://api.other.org:08443/", DOMAINS, STRICT).port == 8443
    for port in ("٣", "000443", "+443", " 443"):
        with pytest.raises(FetchDenied) as info:
            check_url(f"https://example.com:{port}/", DOMAINS, STRICT)
        assert info.value.rule == "port"


def test_host_matching_is_by_whole_labels() -> None:
    assert host_matches("example.com", "example.com")
    assert host_matches("a.b.example.com", "example.com")
    assert not host_matches("evil-example.com", "example.com")
    assert not host_matches("example.com.evil.net", "example.com")
    assert not host_matches("com", "example.com")


# -- addresses ---------------------------------------------------------------------------


@pytest.mark.parametrize("ip, rule", [
    ("127.0.0.1", "private_address"),
    ("127.8.9.10", "private_address"),
    ("10.1.2.3", "private_address"),
    ("172.16.0.1", "private_address"),
    ("192.168.1.1", "private_address"),
    ("169.254.1.1", "private_address"),
    ("100.64.0.1", "private_address"),
    ("100.127.255.254", "private_address"),
    ("0.0.0.0", "private_address"),
    ("224.0.0.1", "private_address"),
    ("239.255.255.250", "private_address"),
    ("240.0.0.1", "private_address"),
    ("255.255.255.255", "private_address"),
    ("192.0.2.1", "private_address"),
    ("198.18.0.1", "private_address"),
    ("::1", "private_address"),
    ("::", "private_address"),
    ("fe80::1", "private_address"),
    ("fc00::1", "private_address"),
    ("ff02::1", "private_address"),
    ("::ffff:127.0.0.1", "private_address"),
    ("::ffff:10.0.0.1", "private_address"),
    ("::127.0.0.1", "private_address"),
    ("64:ff9b::7f00:1", "private_address"),
    ("2002:7f00:1::", "private_address"),
    ("169.254.169.254", "metadata_address"),
    ("169.254.170.2", "metadata_address"),
    ("100.100.100.200", "metadata_address"),
    ("fd00:ec2::254", "metadata_address"),
    ("::ffff:169.254.169.254", "metadata_address"),
    ("not-an-ip", "private_address"),
])
def test_non_public_addresses_are_refused(ip: str, rule: str) -> None:
    with pytest.raises(FetchDenied) as info:
        check_address("api.example.com", ip, STRICT)
    assert info.value.rule == rule


@pytest.mark.parametrize("ip", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111",
                                "::ffff:8.8.8.8", "64:ff9b::808:808"])
def test_public_addresses_are_admitted(ip: str) -> None:
    assert check_address("api.example.com", ip, STRICT) == ipaddress.ip_address(ip)


def test_host_map_admits_exactly_the_mapped_pair() -> None:
    config = Settings(host_map={"api.example.test": "127.0.0.1"})
    assert str(check_address("api.example.test", "127.0.0.1", config)) == "127.0.0.1"
    for host, ip in [("api.example.test", "127.0.0.2"), ("other.example.test", "127.0.0.1"),
                     ("x.api.example.test", "127.0.0.1")]:
        with pytest.raises(FetchDenied) as info:
            check_address(host, ip, config)
        assert info.value.rule == "private_address"


# -- headers and parameters --------------------------------------------------------------


def _headers(headers: object, forbidden: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    return check_headers(headers, forbidden=forbidden, max_count=10, max_bytes=1000)


@pytest.mark.parametrize("name", ["Host", "connection", "Keep-Alive", "Transfer-Encoding", "TE",
                                  "Trailer", "Upgrade", "Content-Length", "Proxy-Authorization",
                                  "Proxy-Anything", "Expect"])
def test_host_controlled_headers_are_refused(name: str) -> None:
    with pytest.raises(FetchDenied, match=name) as info:
        _headers({name: "x"})
    assert info.value.rule == "header"


def test_credential_headers_are_refused() -> None:
    with pytest.raises(FetchDenied, match="X-Api-Key") as info:
        _headers({"X-Api-Key": "guess"}, forbidden=("x-api-key",))
    assert info.value.rule == "header"


@pytest.mark.parametrize("headers", [
    {"X-A": "1\r\nX-Injected: 2"}, {"X-A": "1\n"}, {"X-A": "a\x00b"}, {"X-A\r\n": "1"},
    {"X A": "1"}, {"": "1"}, {"X-A:": "1"}, {"X-A": 1}, {"X-A": b"1"}, {1: "x"},
    # C1 controls and every other non-printable: NEL, CSI, bidi override, zero-width space,
    # BOM, line and paragraph separators, a lone surrogate, private use, unassigned.
    {"X-A": "a\x85b"}, {"X-A": "\x9b31m"}, {"X-A": "\x80"}, {"X-A": "\x9f"}, {"X-A": "\x7f"},
    {"X-A": "abc\u202edcba"}, {"X-A": "a\u200bb"}, {"X-A": "\ufeffa"}, {"X-A": "a\u2028b"},
    {"X-A": "a\u2029b"}, {"X-A": "\ud800"}, {"X-A": "\ue000"}, {"X-A": "\U000e0001"},
    {"X-A": "\u0378"}, {"X-A\x85": "1"}, {"X-\u00e9": "1"},
])
def test_malformed_headers_are_refused(headers: dict[object, object]) -> None:
    with pytest.raises(FetchDenied) as info:
        _headers(headers)
    assert info.value.rule == "header"


def test_header_count_and_size_are_capped() -> None:
    with pytest.raises(FetchTooLarge) as info:
        _headers({f"X-{i}": "v" for i in range(11)})
    assert info.value.rule == "request_headers"
    with pytest.raises(FetchTooLarge):
        _headers({"X-Big": "v" * 1000})


def test_a_refused_value_names_the_code_point_not_the_value() -> None:
    with pytest.raises(FetchDenied, match="U\\+0085") as info:
        _headers({"X-A": "secret\x85"})
    assert "secret" not in str(info.value)


def test_ordinary_headers_pass_unchanged() -> None:
    assert _headers({"Accept": "application/json", "X-Trace": "a\tb", "X-Name": "Zoë"}) == [
        ("Accept", "application/json"), ("X-Trace", "a\tb"), ("X-Name", "Zoë")]
    assert _headers(None) == []


def test_credential_query_parameters_are_refused() -> None:
    url = check_url("https://example.com/x?q=1&API_KEY=guess", DOMAINS, STRICT)
    with pytest.raises(FetchDenied, match="API_KEY") as info:
        check_params(url, {"api_key"})
    assert info.value.rule == "param"
    check_params(check_url("https://example.com/x?q=1", DOMAINS, STRICT), {"api_key"})


# -- the property: nothing outside the declared domains is ever admitted ----------------


_PIECES = st.sampled_from([
    "example.com", "example", "com", "evil", "net", ".", "..", "@", "\\", "%40", "%2e", ":",
    ":443", ":8443", "/", "?", "#", "[", "]", "::1", "127.0.0.1", "0x7f", "１", "。", "．",
    "ｅｘａｍｐｌｅ", "xn--", "-", "_", " ", "\t", "a", "api.", "evil-example.com",
    "example.com.evil.net", "\u200b", "\u3002", "Ⓔ", "／", "＠",
])


@st.composite
def hostile_urls(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["https://", "http://", "HTTPS://", "https:/", "https:\\\\",
                                   ""]))
    before = "".join(draw(st.lists(_PIECES, max_size=3)))
    core = draw(st.sampled_from(["example.com", "api.example.com", "EXAMPLE.COM", "example.com.",
                                 "ｅｘａｍｐｌｅ.com", "a-b.example.com", ""]))
    after = "".join(draw(st.lists(_PIECES, max_size=4)))
    return scheme + before + core + after


@settings(max_examples=600, deadline=None)
@given(hostile_urls())
@example("https://evil.net\\@example.com/")
@example("https://example.com@evil.net/")
@example("https://example.com.evil.net/")
@example("https://xn--comapi.example.com")
def test_nothing_outside_the_declared_domains_is_admitted(url: str) -> None:
    try:
        checked = check_url(url, ["example.com"], Settings(allow_http=True))
    except FetchDenied:
        return
    assert host_matches(checked.host, "example.com")
    assert checked.port == {"https": 443, "http": 80}[checked.scheme]
    # The URL handed to the HTTP client reads back as the same host (in its wire form:
    # httpx shows a punycode label decoded) and port.
    rebuilt = httpx.URL(checked.url)
    assert ((rebuilt.raw_host.decode("ascii"), rebuilt.port or checked.port)
            == (checked.host, checked.port))
    # And where httpx can read the raw string at all, it finds a declared host too.
    try:
        raw_host = httpx.URL(url.strip(" ")).host.rstrip(".")
    except (httpx.InvalidURL, ValueError):
        return
    assert raw_host == "" or host_matches(raw_host, "example.com")
