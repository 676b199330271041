"""Declared domains: one reading of a host, a port and an IP literal for manifest, policy and auth.

The property tests at the end hold the manifest and the fetch policy to each other: what
the manifest accepts the policy can match, and what the policy refuses as a domain the
manifest refuses at load.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from corral import DeclaredDomain, FetchDenied, ManifestError, check_url, parse_manifest
from corral._domains import (DomainError, is_ip_literal, normalize_host, parse_host, parse_port,
                             split_host_port)


@dataclass(frozen=True)
class Policy:
    allow_http: bool = True
    host_map: Mapping[str, str] = field(default_factory=dict)


POLICY = Policy()


def manifest_domains(*domains: Any) -> tuple[str, ...]:
    data = {"pack": {"name": "demo", "version": "1.0.0", "network_domains": list(domains)},
            "formulas": [{"name": "F"}]}
    return parse_manifest(data).network_domains


# -- host names --------------------------------------------------------------------------


@pytest.mark.parametrize("raw, host", [
    ("Example.COM", "example.com"),
    ("example.com.", "example.com"),
    ("bücher.example", "xn--bcher-kva.example"),
    ("faß.de", "xn--fa-hia.de"),                     # non-transitional: ß stays ß
    ("ｅｘａｍｐｌｅ．com", "example.com"),              # full-width letters and dot
    ("example。com", "example.com"),                 # ideographic full stop
    ("my_bucket.example.com", "my_bucket.example.com"),
    ("localhost", "localhost"),                      # a host name, though never a declared domain
])
def test_host_names_are_normalised(raw: str, host: str) -> None:
    assert normalize_host(raw) == host


@pytest.mark.parametrize("raw", [
    "", ".", "example.com..", ".example.com", "a..b", "-a.example", "a-.example",
    "a" * 64 + ".example", ".".join(["a" * 63] * 4) + ".com", "exa mple.com", "a%2e.example",
    "a/b.example", "a@b.example", "*.example.com", "xn--zz.example", "xn--.example",
])
def test_broken_host_names_are_refused_by_the_host_rule(raw: str) -> None:
    with pytest.raises(DomainError) as info:
        normalize_host(raw)
    assert info.value.rule == "host"
    assert repr(raw) in str(info.value)


@pytest.mark.parametrize("host", [
    "127.0.0.1", "127.1", "2130706433", "0177.0.0.1", "0x7f000001", "0x7f.0.0.1", "0.0.0.0",
    "api.123", "a.0x10", "a.0x", "a.09", "example.com.1", "::1", "::", "[::1]",
    "[::ffff:127.0.0.1]", "::ffff:7f00:1", "fd00:ec2::254",
])
def test_ip_literals_are_recognised_in_every_notation(host: str) -> None:
    assert is_ip_literal(host)


@pytest.mark.parametrize("host", ["example.com", "a.0xg", "1a.com", "a.1b", "a.1e", "cafe",
                                  "dead.beef", "123.example.com", "0x10.example.com"])
def test_names_that_only_look_numeric_are_not_ip_literals(host: str) -> None:
    assert not is_ip_literal(host)


@pytest.mark.parametrize("raw", ["127.0.0.1", "①②⑦.⓪.⓪.①", "１２７.０.０.１", "api.①", "[::1]",
                                 "::1"])
def test_parse_host_refuses_ip_literals_after_normalising(raw: str) -> None:
    with pytest.raises(DomainError) as info:
        parse_host(raw)
    assert info.value.rule == "ip_literal"


# -- ports -------------------------------------------------------------------------------


@pytest.mark.parametrize("text, port", [("1", 1), ("443", 443), ("08443", 8443),
                                        ("65535", 65535), ("00080", 80)])
def test_ports_are_one_to_five_ascii_digits(text: str, port: int) -> None:
    assert parse_port(text) == port


@pytest.mark.parametrize("text", ["", "0", "00000", "65536", "99999", "000080", "-1", "+80",
                                  " 80", "80 ", "http", "0x1bb", "٣", "８０", "1e3"])
def test_bad_ports_are_refused_by_the_port_rule(text: str) -> None:
    with pytest.raises(DomainError) as info:
        parse_port(text)
    assert info.value.rule == "port"
    assert repr(text) in str(info.value)


@pytest.mark.parametrize("text, expected", [
    ("example.com", ("example.com", None)),
    ("example.com:8443", ("example.com", 8443)),
    ("EXAMPLE.com.:443", ("EXAMPLE.com.", 443)),
])
def test_split_host_port(text: str, expected: tuple[str, int | None]) -> None:
    assert split_host_port(text) == expected


@pytest.mark.parametrize("text, rule", [("example.com:", "port"), ("example.com:1:2", "ip_literal"),
                                        ("[::1]:443", "ip_literal")])
def test_split_host_port_refusals(text: str, rule: str) -> None:
    with pytest.raises(DomainError) as info:
        split_host_port(text)
    assert info.value.rule == rule


# -- declared domains --------------------------------------------------------------------


@pytest.mark.parametrize("text, name, port", [
    ("Example.COM", "example.com", None),
    ("example.com.", "example.com", None),
    ("  api.example.com:8443\t", "api.example.com", 8443),
    ("api.example.com:08443", "api.example.com", 8443),
    ("bücher.de:8443", "xn--bcher-kva.de", 8443),
    ("ex_ample.com", "ex_ample.com", None),
    ("_dmarc.example.com", "_dmarc.example.com", None),
])
def test_declared_domains_are_normalised(text: str, name: str, port: int | None) -> None:
    domain = DeclaredDomain.parse(text)
    assert (domain.name, domain.port) == (name, port)
    assert DeclaredDomain.parse(str(domain)) == domain


@pytest.mark.parametrize("text, what", [
    ("api.123", "IP address"),
    ("a.0x10", "IP address"),
    ("127.1", "IP address"),
    ("①②⑦.⓪.⓪.①", "IP address"),
    ("[::1]", "IPv6"),
    ("1.2.3.4:80", "IP address"),
    ("example.com:1:2", "more than one ':'"),
    ("api.example.com:99999", "'99999' is not a valid port"),
    ("example.com:0", "'0' is not a valid port"),
    ("example.com:", "'' is not a valid port"),
    ("example.com:http", "'http' is not a valid port"),
    ("example.com:٣", "is not a valid port"),
    ("localhost", "single label"),
    ("*.example.com", "write the bare domain"),
    ("example.com..", "label ''"),
    ("xn--zz.example.com", "invalid punycode label 'xn--zz'"),
    ("exa mple.com", "label 'exa mple'"),
    ("", "not a valid host name"),
])
def test_refused_declared_domains_say_what_is_wrong(text: str, what: str) -> None:
    with pytest.raises(ManifestError) as info:
        DeclaredDomain.parse(text)
    assert info.value.rule == "domain"
    assert what in info.value.message and repr(text) in info.value.message


@pytest.mark.parametrize("name, port", [("Example.com", None), ("example.com.", None),
                                        ("localhost", None), ("127.0.0.1", None),
                                        ("example.com", 0), ("example.com", 65536),
                                        ("example.com", True)])
def test_a_declared_domain_is_built_only_in_normal_form(name: str, port: Any) -> None:
    with pytest.raises(ManifestError):
        DeclaredDomain(name, port)


def test_a_declared_domain_is_read_from_a_string_only() -> None:
    with pytest.raises(ManifestError, match="a declared domain is a string, not int"):
        DeclaredDomain.parse(443)  # type: ignore[arg-type]


def test_a_declared_domain_is_a_value() -> None:
    domain = DeclaredDomain("api.example.com", 8443)
    assert str(domain) == "api.example.com:8443" and str(DeclaredDomain("a.example")) == "a.example"
    assert domain == DeclaredDomain.parse("API.example.com:8443")
    assert len({domain, DeclaredDomain.parse("api.example.com:8443")}) == 1
    with pytest.raises(AttributeError):
        domain.port = 1  # type: ignore[misc]


@pytest.mark.parametrize("host, port, default_port, expected", [
    ("example.com", 443, 443, True),
    ("a.b.example.com", 443, 443, True),
    ("evil-example.com", 443, 443, False),
    ("example.com.evil.net", 443, 443, False),
    ("com", 443, 443, False),
    ("example.com", 8443, 443, False),      # a bare domain: the scheme's default port only
    ("example.com", 80, 80, True),
    ("example.com", 8443, None, True),      # no default: any port (the credential rules)
    ("example.com", None, None, True),
])
def test_a_bare_domain_matches_by_labels_on_the_default_port(
        host: str, port: int | None, default_port: int | None, expected: bool) -> None:
    assert DeclaredDomain("example.com").matches(host, port,
                                                 default_port=default_port) is expected


@pytest.mark.parametrize("host, port, default_port, expected", [
    ("api.example.com", 8443, 443, True),
    ("v2.api.example.com", 8443, None, True),
    ("api.example.com", 443, 443, False),
    ("api.example.com", 443, None, False),
    ("api.example.com", None, None, False),
])
def test_a_domain_with_a_port_matches_that_port_only(
        host: str, port: int | None, default_port: int | None, expected: bool) -> None:
    assert DeclaredDomain("api.example.com", 8443).matches(host, port,
                                                           default_port=default_port) is expected


@pytest.mark.parametrize("outer, inner, expected", [
    ("example.com", "example.com", True),
    ("example.com", "api.example.com", True),
    ("example.com", "api.example.com:443", True),
    ("example.com", "api.example.com:80", True),
    ("example.com", "api.example.com:9999", False),    # never admitted: credentials would idle
    ("example.com:8443", "api.example.com", True),     # a bare credential domain takes any port
    ("example.com:8443", "api.example.com:8443", True),
    ("example.com:8443", "api.example.com:443", False),
    ("api.example.com", "example.com", False),
    ("example.com", "badexample.com", False),
])
def test_covers_holds_a_credential_domain_inside_a_network_domain(outer: str, inner: str,
                                                                  expected: bool) -> None:
    assert DeclaredDomain.parse(outer).covers(DeclaredDomain.parse(inner)) is expected


# -- the manifest and the policy read domains alike -------------------------------------


_labels = st.one_of(
    st.from_regex(r"[a-z0-9_]([a-z0-9_-]{0,6}[a-z0-9_])?", fullmatch=True),
    st.sampled_from(["123", "0x10", "0x", "09", "xn--zz", "xn--bcher-kva", "bücher", "ß", "ＡＢ",
                     "①", "-a", "a-", "", "A" * 64]),
    st.text(alphabet="abz09x_-AZÜüßｅ①", max_size=8))
_ports = st.one_of(st.none(), st.integers(1, 65535).map(str), st.integers(-2, 70000).map(str),
                   st.sampled_from(["", "http", "٣", "+80", "0x1bb", "08443", "000080"]))
_seps = st.one_of(st.just("."), st.just("."), st.just("."),
                  st.sampled_from(["．", "。", "..", ":", "[", "]", "*."]))


@st.composite
def domain_texts(draw: st.DrawFn) -> str:
    """Strings shaped like ``name[:port]``, often broken in a way one parser could miss."""
    labels = draw(st.lists(_labels, min_size=draw(st.sampled_from([1, 2, 2, 2])), max_size=4))
    text = labels[0] + "".join(draw(_seps) + label for label in labels[1:])
    if draw(st.booleans()):
        text += "."
    port = draw(_ports)
    return text if port is None else f"{text}:{port}"


DRIFT = ["api.123", "a.0x10", "api.example.com:99999", "ex_ample.com", "example.com:0",
         "example.com:", "a.b..", "xn--zz.example.com", "a.b:٣", "localhost", "a.①",
         "example.com:443", "bücher.de:08443", "[::1]:443", "*.example.com"]


def _example_drift(test: Any) -> Any:
    for text in DRIFT:
        test = example(text)(test)
    return test


def _urls_on(domain: DeclaredDomain) -> list[str]:
    """A URL on ``domain`` and one on a subdomain, for each scheme its port allows."""
    hosts = [domain.name, f"x-1.{domain.name}"]
    if domain.port is not None:
        return [f"https://{host}:{domain.port}/p" for host in hosts]
    return [f"{scheme}://{host}/p" for scheme in ("https", "http") for host in hosts]


@settings(max_examples=800, deadline=None)
@given(domain_texts())
@_example_drift
def test_every_domain_the_manifest_accepts_the_policy_matches(text: str) -> None:
    try:
        (stored,) = manifest_domains(text)
    except ManifestError:
        return
    domain = DeclaredDomain.parse(stored)
    for declared in (text, stored, domain):
        for url in _urls_on(domain):
            checked = check_url(url, [declared], POLICY)   # raises FetchDenied on a drift
            assert checked.host.endswith(domain.name)
            assert checked.port == (domain.port or {"https": 443, "http": 80}[checked.scheme])


@settings(max_examples=800, deadline=None)
@given(domain_texts())
@_example_drift
def test_what_the_policy_refuses_as_a_domain_the_manifest_refuses(text: str) -> None:
    try:
        check_url(f"https://{text}/", [text], POLICY)
        admitted = True
    except (FetchDenied, ManifestError):
        admitted = False
    try:
        manifest_domains(text)
        accepted = True
    except ManifestError as exc:
        assert exc.field == "pack.network_domains[0]"
        assert exc.rule == "domain"
        accepted = False
    assert admitted == accepted
