"""The fetch policy: what a pack may ask the host to fetch, decided before any byte is sent.

Pure functions, no I/O. ``check_url`` parses and normalises a guest URL strictly and
admits it only for the pack's declared domains; ``check_address`` admits a resolved
address only if it is public (or the host's own config maps that exact name to it);
``check_headers`` and ``check_params`` keep the guest away from what the host controls.
Which addresses are public is the IANA registries' answer, kept as data in
:mod:`corral._fetch.special_addresses`.

Where credentials may go is decided here too: ``credentials_may_travel`` sends them only
over https (or plain http to a loopback test mapping), and ``check_reach`` keeps a call
that holds a caller's credentials on the pack's auth domains and the domains the operator
approved when registering the pack.

Every refusal is a :class:`FetchDenied` (or :class:`FetchTooLarge` for size caps) whose
``rule`` names the rule; docs/fetch-policy.md lists them all.

The URL is parsed here and nowhere else: the client is handed a URL rebuilt from the
checked parts, so no second parser can read a different host out of the same string.
Its host and port, and the declared domains they are matched against, are read by
:mod:`corral._domains`, the same reading the manifest checks ``network_domains`` with.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Iterable, Mapping, Protocol, Sequence, Union
from urllib.parse import parse_qsl

from .._domains import DEFAULT_PORTS as DEFAULT_PORTS
from .._domains import DeclaredDomain, DomainError, is_ipv6_form, parse_host, split_host_port
from .._domains import host_matches as host_matches
from .._domains import normalize_host as _normalize_host
from .._errors import FetchDenied, FetchTooLarge, ManifestError
from .._types import Credentials
from .special_addresses import embedded_ipv4, refusing_block

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]

MAX_URL_CHARS = 8192

#: Hop-by-hop and framing headers: the host and the HTTP client own them.
FORBIDDEN_HEADERS = frozenset({
    "host", "connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
    "content-length", "expect", "proxy-authorization", "proxy-authenticate",
    "proxy-connection",
})

#: Cloud metadata endpoints. All are non-public anyway; listing them names the rule.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254",   # AWS, GCP, Azure, DigitalOcean, OpenStack
    "169.254.169.253",   # AWS DNS
    "169.254.169.123",   # AWS time
    "169.254.170.2",     # AWS ECS task metadata
    "100.100.100.200",   # Alibaba Cloud
    "192.0.0.192",       # Oracle Cloud
    "fd00:ec2::254",     # AWS IPv6
))

_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f]")
_TOKEN_RE = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


class PolicySettings(Protocol):
    """The part of the host's fetch config the policy reads (``FetchConfig`` has it)."""

    @property
    def allow_http(self) -> bool: ...

    @property
    def host_map(self) -> Mapping[str, str]: ...


@dataclass(frozen=True)
class CheckedURL:
    """A URL that passed the policy: normalised scheme, host and port, and the request target."""

    scheme: str
    host: str
    port: int
    target: str
    """Path and query as the guest wrote them (fragment dropped); always starts with ``/``."""

    @property
    def origin(self) -> str:
        if self.port == DEFAULT_PORTS[self.scheme]:
            return f"{self.scheme}://{self.host}"
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return self.origin + self.target

    @property
    def url_without_query(self) -> str:
        """For messages about hops whose query the guest did not write (it may echo secrets)."""
        return self.origin + self.target.split("?", 1)[0]

    @property
    def query(self) -> str:
        return self.target.split("?", 1)[1] if "?" in self.target else ""


def check_url(url: object, domains: Sequence[str | DeclaredDomain], config: PolicySettings, *,
              redact_query: bool = False) -> CheckedURL:
    """Parse ``url`` strictly and admit it only for one of the declared ``domains``.

    A domain given as text is read by :meth:`DeclaredDomain.parse`; one it refuses is a
    :class:`ManifestError` (``field`` ``network_domains``), not a refusal of the URL.

    ``redact_query`` keeps the query out of refusal messages: set it for URLs the guest
    did not write (redirect locations), whose query may echo an injected credential.
    """
    text = _check_text(url)
    shown = text.split("#", 1)[0].split("?", 1)[0] if redact_query else text
    scheme, rest = _split_scheme(text, config, shown)
    authority, target = _split_authority(rest, text, shown)
    host, port = _split_host_port(authority, scheme, shown)
    _check_declared(host, port, scheme, domains, shown)
    return CheckedURL(scheme=scheme, host=host, port=port, target=target)


def normalize_host(raw: str, *, url: str | None = None) -> str:
    """The normal form of a host name (see :func:`corral._domains.normalize_host`).

    A name that is not a DNS name is a :class:`FetchDenied` (rule ``host``).
    """
    try:
        return _normalize_host(raw)
    except DomainError as exc:
        raise _deny(exc.rule, exc.message, url) from exc


def check_address(host: str, ip: str, config: PolicySettings) -> IPAddress:
    """Admit ``ip`` as the address of ``host`` only if it is globally reachable (by the IANA
    registries) or the host config maps that exact name to it."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError as exc:
        raise _deny("private_address", f"{host} resolved to {ip!r}, which is not an IP address",
                    None) from exc
    mapped = config.host_map.get(host)
    if mapped is not None and _same_address(mapped, address):
        return address
    # A translated form (IPv4-mapped, NAT64, 6to4, Teredo...) reaches the IPv4 it carries.
    if address in METADATA_ADDRESSES or any(a in METADATA_ADDRESSES
                                            for a in embedded_ipv4(address)):
        raise _deny("metadata_address",
                    f"{host} resolved to {address}, a cloud metadata address", None)
    block = refusing_block(address)
    if block is not None:
        raise _deny("private_address",
                    f"{host} resolved to {address}, which is not a public address "
                    f"({block.name}, {block.reference})", None)
    return address


def check_headers(headers: object, *, forbidden: Iterable[str] = (), max_count: int,
                  max_bytes: int) -> list[tuple[str, str]]:
    """The guest's request headers as a list, or a refusal naming the header and the rule."""
    if headers is None:
        return []
    if not isinstance(headers, Mapping):
        raise _deny("header", f"headers must be a map of name to string, not "
                    f"{type(headers).__name__}", None)
    if len(headers) > max_count:
        raise FetchTooLarge(f"{len(headers)} request headers; at most {max_count} are allowed",
                            rule="request_headers")
    refused = FORBIDDEN_HEADERS | {name.lower() for name in forbidden}
    checked: list[tuple[str, str]] = []
    total = 0
    for name, value in headers.items():
        checked.append(_check_header(name, value, refused))
        total += len(name) + len(value.encode("utf-8")) + 4
    if total > max_bytes:
        raise FetchTooLarge(f"request headers take {total} bytes; at most {max_bytes} are allowed",
                            rule="request_headers")
    return checked


def check_params(checked: CheckedURL, forbidden: Iterable[str]) -> None:
    """Refuse query parameters the host injects from the connection."""
    refused = {name.lower() for name in forbidden}
    if not refused or not checked.query:
        return
    for name, _ in parse_qsl(checked.query, keep_blank_values=True):
        if name.lower() in refused:
            raise _deny("param", f"query parameter {name!r} is set by the host from the "
                        "connection; the pack may not set it", checked.url_without_query)


def credentials_may_travel(url: CheckedURL, config: PolicySettings) -> bool:
    """Credentials may be sent over this URL's channel: https, or plain http to a name the
    host config maps to a loopback address (a test mapping, whose bytes never leave the
    machine). ``allow_http`` alone never lets them travel in clear."""
    if url.scheme == "https":
        return True
    mapped = config.host_map.get(url.host)
    return url.scheme == "http" and mapped is not None and _is_loopback(mapped)


def check_reach(url: CheckedURL, credentials: Credentials | None,
                approved: Sequence[str | DeclaredDomain], shown: str) -> None:
    """Keep a call that holds a caller's credentials on their domains (the pack's auth
    domains) and the declared domains the operator approved when registering the pack.

    Without that approval a pack could carry what it learnt with the caller's token (or
    the token itself, transformed beyond recognition) to its other declared domains.
    """
    if credentials is None or credentials.applies_to(url.host, url.port, url.scheme):
        return
    default = DEFAULT_PORTS[url.scheme]
    declared = [d if isinstance(d, DeclaredDomain) else _declared(d) for d in approved]
    if any(d.matches(url.host, url.port, default_port=default) for d in declared):
        return
    raise _deny("unapproved_domain", f"{url.host}:{url.port} is not an auth domain of the "
                "pack, and the operator did not approve it for calls that hold a connection",
                shown)


# -- the steps of check_url -------------------------------------------------------------


def _check_text(url: object) -> str:
    if not isinstance(url, str):
        raise _deny("malformed", f"the URL must be a string, not {type(url).__name__}", None)
    text = url.strip(" ")
    if len(text) > MAX_URL_CHARS:
        raise _deny("malformed", f"the URL has {len(text)} characters; at most {MAX_URL_CHARS}",
                    None)
    control = _CONTROL_RE.search(text)
    if control is not None:
        raise _deny("control_char", f"control character {control.group()!r} at position "
                    f"{control.start()} of the URL", None)
    return text


def _split_scheme(text: str, config: PolicySettings, shown: str) -> tuple[str, str]:
    match = _SCHEME_RE.match(text)
    if match is None:
        raise _deny("malformed", f"{shown!r} is not an absolute URL (no scheme)", shown)
    scheme = match.group(1).lower()
    allowed = ("https", "http") if config.allow_http else ("https",)
    if scheme not in allowed:
        raise _deny("scheme", f"scheme {scheme!r} is not allowed; use {' or '.join(allowed)}",
                    shown)
    rest = text[match.end():]
    if not rest.startswith("//"):
        raise _deny("malformed", f"{shown!r}: expected '//' after '{scheme}:'", shown)
    return scheme, rest[2:]


def _split_authority(rest: str, text: str, shown: str) -> tuple[str, str]:
    end = min((i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0),
              default=len(rest))
    authority, remainder = rest[:end], rest[end:]
    _check_authority_chars(authority, "@" in text, shown)
    target = remainder.split("#", 1)[0]
    if not target.startswith("/"):
        target = "/" + target
    return authority, target


def _check_authority_chars(authority: str, at_in_url: bool, text: str) -> None:
    lowered = authority.lower()
    if "@" in authority or "%40" in lowered or ("\\" in authority and at_in_url):
        raise _deny("userinfo", "credentials in the URL (user@host) are not allowed", text)
    if "\\" in authority:
        raise _deny("malformed", "a backslash in the host part of the URL", text)
    if is_ipv6_form(authority):
        raise _deny("ip_literal", "IPv6 address literals are not allowed; use a domain name",
                    text)
    if "%" in authority:
        raise _deny("host", "percent-encoding in the host part of the URL", text)
    if not authority:
        raise _deny("malformed", "the URL has no host", text)


def _split_host_port(authority: str, scheme: str, text: str) -> tuple[str, int]:
    try:
        raw_host, port = split_host_port(authority)
        host = parse_host(raw_host)
    except DomainError as exc:
        raise _deny(exc.rule, exc.message, text) from exc
    return host, DEFAULT_PORTS[scheme] if port is None else port


def _check_declared(host: str, port: int, scheme: str,
                    domains: Sequence[str | DeclaredDomain], text: str) -> None:
    declared = [d if isinstance(d, DeclaredDomain) else _declared(d) for d in domains]
    if any(d.matches(host, port, default_port=DEFAULT_PORTS[scheme]) for d in declared):
        return
    if any(d.covers_host(host) for d in declared):
        raise _deny("port", f"port {port} of {host} is not declared in the pack's "
                    "network_domains", text)
    raise _deny("undeclared_domain", f"{host} is not in the pack's network_domains", text)


def _declared(domain: str) -> DeclaredDomain:
    try:
        return DeclaredDomain.parse(domain)
    except ManifestError as exc:
        raise ManifestError(exc.message, field="network_domains", rule="domain") from exc


# -- addresses ---------------------------------------------------------------------------


def _is_loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


def _same_address(mapped: str, address: IPAddress) -> bool:
    try:
        return ipaddress.ip_address(mapped) == address
    except ValueError:
        return False


# -- headers -----------------------------------------------------------------------------


def _check_header(name: object, value: object, refused: frozenset[str] | set[str]
                  ) -> tuple[str, str]:
    if not isinstance(name, str) or not _TOKEN_RE.match(name):
        raise _deny("header", f"{name!r} is not a valid header name", None)
    lowered = name.lower()
    if lowered in refused or lowered.startswith("proxy-"):
        raise _deny("header", f"header {name!r} is set by the host; the pack may not set it",
                    None)
    if not isinstance(value, str):
        raise _deny("header", f"header {name!r}: the value must be a string, not "
                    f"{type(value).__name__}", None)
    for char in value:
        # isprintable() is False for C0 and C1 controls, DEL, format characters (bidi
        # overrides, zero-width), separators other than the space, surrogates, private use
        # and unassigned code points.
        if char != "\t" and not char.isprintable():
            raise _deny("header", f"header {name!r}: non-printable character "
                        f"U+{ord(char):04X} in the value", None)
    return name, value


def _deny(rule: str, message: str, url: str | None) -> FetchDenied:
    return FetchDenied(f"fetch refused ({rule}): {message}", rule=rule, url=url)
