"""Host names and declared domains: the one reading of a name, a port and an IP literal.

The manifest checks ``network_domains`` and ``auth.domains`` here, the fetch policy
reads a URL's host and port here and matches them against the declared domains here,
and the credential rules match hosts here. So a domain the manifest accepts is one the
policy can match, and a name the policy would refuse is never declared.

The rules:

- **host name**: non-ASCII converted with IDNA (UTS #46, non-transitional), lower-cased,
  one trailing dot dropped; then 1-253 characters of labels of 1-63 characters from
  ``a-z 0-9 - _`` that neither start nor end with ``-``, every ``xn--`` label valid
  punycode;
- **IP literal**, refused in every notation: dotted (``127.0.0.1``), short (``127.1``),
  decimal (``2130706433``), octal (``0177.0.0.1``), hex (``0x7f.1``) — WHATWG URL
  parsers read any name whose last label is a number as IPv4 — and IPv6, bare or
  bracketed (``::1``, ``[::ffff:127.0.0.1]``), also when Unicode normalises to one;
- **port**: 1-5 ASCII digits, 1-65535;
- **declared domain** ``name[:port]``: a host name of at least two labels, never a
  wildcard. It admits the name and its subdomains by whole labels (``example.com``
  admits ``api.example.com``, never ``evil-example.com``), on its port, or on the
  scheme's default port when it names none.

The helpers raise :class:`DomainError`, a ``ValueError`` whose ``rule`` is ``host``,
``ip_literal`` or ``port``. It never leaves the package: the fetch policy raises it as a
``FetchDenied`` with that rule, and :meth:`DeclaredDomain.parse` as a ``ManifestError``.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

from ._errors import ManifestError

#: The port a URL reaches when it names none; a bare declared domain admits only this one.
DEFAULT_PORTS: Mapping[str, int] = MappingProxyType({"https": 443, "http": 80})
MAX_HOST_CHARS = 253

_LABEL_RE = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
_NUMERIC_LABEL_RE = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)$")
#: Every character an IP address notation (decimal, octal, hex, IPv6) may use.
_IP_CHARS_RE = re.compile(r"[0-9a-fx:.]+")


class DomainError(ValueError):
    """A host, port or declared domain broke a rule (``host``, ``ip_literal``, ``port``)."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


# -- host names --------------------------------------------------------------------------


def normalize_host(raw: str) -> str:
    """The lower-case ASCII (IDNA) form of a host name, without its trailing dot.

    Refuses what is not a DNS name; an IP address passes (see :func:`parse_host`).
    """
    host = raw
    if not host.isascii():
        import idna

        try:
            host = idna.encode(host, uts46=True, transitional=False).decode("ascii")
        except (idna.IDNAError, UnicodeError) as exc:
            raise DomainError("host", f"{raw!r} is not a valid international domain name"
                              ) from exc
    host = host.lower()
    if host.endswith("."):
        host = host[:-1]
    _check_labels(host, raw)
    return host


def _check_labels(host: str, raw: str) -> None:
    if not host or len(host) > MAX_HOST_CHARS:
        raise DomainError("host", f"{raw!r} is not a valid host name")
    for label in host.split("."):
        if not _LABEL_RE.match(label):
            raise DomainError("host", f"{raw!r} is not a valid host name (label {label!r})")
        if label.startswith("xn--"):
            import idna

            try:
                idna.decode(label)
            except (idna.IDNAError, UnicodeError) as exc:
                raise DomainError("host", f"{raw!r} has an invalid punycode label {label!r}"
                                  ) from exc


def is_ipv6_form(text: str) -> bool:
    """``text`` (a host or ``host:port``) is written the way only an IPv6 address is."""
    return "[" in text or "]" in text or text.count(":") > 1


def is_ip_literal(host: str) -> bool:
    """A URL parser would read ``host`` (normalised, or IPv6-shaped) as an IP address."""
    if is_ipv6_form(host):
        return True
    if _NUMERIC_LABEL_RE.match(host.rsplit(".", 1)[-1]):
        return True
    if not _IP_CHARS_RE.fullmatch(host):
        return False  # a letter past f, a hyphen...: no address notation reads it
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def parse_host(raw: str) -> str:
    """The normalised host name ``raw`` names; refuses IP literals in every notation."""
    if is_ipv6_form(raw):
        raise DomainError("ip_literal", "IPv6 address literals are not allowed; use a domain name")
    host = normalize_host(raw)
    if is_ip_literal(host):
        raise DomainError("ip_literal", f"{raw!r} is an IP address; use a domain name")
    return host


def host_matches(host: str, domain: str) -> bool:
    """``host`` is ``domain`` or one of its subdomains (both normalised, no port)."""
    return host == domain or host.endswith("." + domain)


# -- ports -------------------------------------------------------------------------------


def parse_port(text: str) -> int:
    """A port written as 1-5 ASCII digits, 1-65535."""
    if not (0 < len(text) <= 5 and text.isascii() and text.isdigit()) \
            or not 0 < int(text) < 65536:
        raise DomainError("port", f"{text!r} is not a valid port (1-65535)")
    return int(text)


def split_host_port(text: str) -> tuple[str, int | None]:
    """``host[:port]`` as (the host as written, the port or None); the host is not checked."""
    if is_ipv6_form(text):
        raise DomainError("ip_literal", f"{text!r} has brackets or more than one ':', as only "
                          "an IPv6 address literal has; use a domain name")
    raw_host, sep, port_text = text.partition(":")
    return raw_host, parse_port(port_text) if sep else None


# -- declared domains --------------------------------------------------------------------


@dataclass(frozen=True)
class DeclaredDomain:
    """A domain a pack may reach: ``name`` and its subdomains, on ``port`` or the default.

    ``DeclaredDomain.parse("API.Example.com:8443")`` normalises; constructing one
    directly requires the normal form already. ``str()`` gives the canonical text
    (what the manifest stores).
    """

    name: str
    port: int | None = None

    def __post_init__(self) -> None:
        try:
            if not isinstance(self.name, str) or parse_host(self.name) != self.name:
                raise DomainError("host", f"{self.name!r} is not in normal form "
                                  "(DeclaredDomain.parse normalises)")
            _check_declared(self.name, self.port)
        except DomainError as exc:
            raise ManifestError(f"{str(self)!r} is not a declared domain: {exc}",
                                rule="domain") from exc

    @classmethod
    def parse(cls, text: str) -> DeclaredDomain:
        """Read ``name[:port]``; a :class:`ManifestError` (rule ``domain``) says what is wrong."""
        if not isinstance(text, str):
            raise ManifestError(f"a declared domain is a string, not {type(text).__name__}",
                                rule="domain")
        return _parse_declared(text)

    def __str__(self) -> str:
        return self.name if self.port is None else f"{self.name}:{self.port}"

    def covers_host(self, host: str) -> bool:
        """``host`` (normalised) is this domain or a subdomain of it, whatever the port."""
        return host_matches(host, self.name)

    def matches(self, host: str, port: int | None = None, *,
                default_port: int | None = None) -> bool:
        """``host`` (normalised) on ``port`` is admitted.

        A domain with a port admits that port only. A bare domain admits
        ``default_port`` (the scheme's, for the fetch policy), or any port when that is
        None (for the credential rules, which only ever see ports the policy admitted).
        """
        if not self.covers_host(host):
            return False
        wanted = self.port if self.port is not None else default_port
        return wanted is None or port == wanted

    def covers(self, other: DeclaredDomain) -> bool:
        """``other`` (an ``auth.domains`` entry) lies inside this domain.

        Its name is this name or a subdomain, and it names no port (credentials then
        follow the policy's decision) or a port this domain admits.
        """
        if not self.covers_host(other.name):
            return False
        if other.port is None or other.port == self.port:
            return True
        return self.port is None and other.port in DEFAULT_PORTS.values()


@functools.lru_cache(maxsize=4096)
def _parse_declared(text: str) -> DeclaredDomain:
    stripped = text.strip()
    try:
        if stripped.startswith("*."):
            raise DomainError("host", "write the bare domain; subdomains are always admitted")
        raw_host, port = split_host_port(stripped)
        name = parse_host(raw_host)
        _check_declared(name, port)
    except DomainError as exc:
        raise ManifestError(f"{text!r} is not a valid domain: {exc}", rule="domain") from exc
    return DeclaredDomain(name, port)


def _check_declared(name: str, port: int | None) -> None:
    """What a declared domain asks beyond a host name: two labels at least, a port in range."""
    if "." not in name:
        raise DomainError("host", f"{name!r} is a single label; declare a domain name like "
                          "api.example.com")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int)
                             or not 0 < port < 65536):
        raise DomainError("port", f"{port!r} is not a valid port (1-65535)")
