"""Addresses from the IANA special-purpose registries, not from Python's ``is_global``:
a declared name that resolves into any block that is not globally reachable is refused
before a connection is made (the egress guard must see nothing). The table is the
benchmark's own reading of the registries (iana-ipv4-special-registry,
iana-ipv6-special-registry, and the address-space registries for multicast and the
deprecated site-local block), one representative address inside each entry.

Then header values: C1 controls (U+0080-U+009F, NEL among them) and the other
non-printables a guest might smuggle into a header."""

from __future__ import annotations

from typing import Any, Callable

from ..harness import Attack, Bench, Observation, expect_untouched

#: (block, an address inside it, the rule a refusal names).
NOT_GLOBAL: tuple[tuple[str, str, str], ...] = (
    ("0.0.0.0/8 this network", "0.1.2.3", "private_address"),
    ("10.0.0.0/8 private-use", "10.200.0.9", "private_address"),
    ("100.64.0.0/10 shared address space", "100.127.255.1", "private_address"),
    ("127.0.0.0/8 loopback", "127.3.4.5", "private_address"),
    ("169.254.0.0/16 link local", "169.254.10.20", "private_address"),
    ("169.254.169.254 cloud metadata", "169.254.169.254", "metadata_address"),
    ("172.16.0.0/12 private-use", "172.31.0.1", "private_address"),
    ("192.0.0.0/24 IETF protocol assignments", "192.0.0.100", "private_address"),
    ("192.0.0.8 IPv4 dummy address", "192.0.0.8", "private_address"),
    ("192.0.0.170 NAT64/DNS64 discovery", "192.0.0.170", "private_address"),
    ("192.0.2.0/24 TEST-NET-1", "192.0.2.33", "private_address"),
    ("192.88.99.0/24 deprecated 6to4 relay anycast", "192.88.99.1", "private_address"),
    ("192.168.0.0/16 private-use", "192.168.77.1", "private_address"),
    ("198.18.0.0/15 benchmarking", "198.19.0.1", "private_address"),
    ("198.51.100.0/24 TEST-NET-2", "198.51.100.7", "private_address"),
    ("203.0.113.0/24 TEST-NET-3", "203.0.113.9", "private_address"),
    ("224.0.0.0/4 multicast", "233.1.2.3", "private_address"),
    ("240.0.0.0/4 reserved", "250.1.2.3", "private_address"),
    ("255.255.255.255 limited broadcast", "255.255.255.255", "private_address"),
    ("::1 loopback", "::1", "private_address"),
    (":: unspecified", "::", "private_address"),
    ("::ffff:0:0/96 IPv4-mapped private", "::ffff:10.0.0.1", "private_address"),
    ("64:ff9b::/96 NAT64 of a private address", "64:ff9b::c0a8:101", "private_address"),
    ("64:ff9b:1::/48 local-use translation", "64:ff9b:1::a00:1", "private_address"),
    ("100::/64 discard-only", "100::1", "private_address"),
    ("2001::/23 IETF protocol assignments", "2001:1ff::1", "private_address"),
    ("2001::/32 Teredo", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "private_address"),
    ("2001:2::/48 benchmarking", "2001:2::10", "private_address"),
    ("2001:10::/28 deprecated ORCHID", "2001:10::1", "private_address"),
    ("2001:db8::/32 documentation", "2001:db8::5", "private_address"),
    ("2002::/16 6to4 of a private address", "2002:c0a8:101::1", "private_address"),
    ("3fff::/20 documentation", "3fff:0:1::1", "private_address"),
    ("5f00::/16 SRv6 SIDs", "5f00::1", "private_address"),
    ("fc00::/7 unique-local", "fd12:3456::1", "private_address"),
    ("fe80::/10 link-local", "fe80::1", "private_address"),
    ("fec0::/10 deprecated site-local", "fec0::1", "private_address"),
    ("ff00::/8 multicast", "ff02::1", "private_address"),
    ("fd00:ec2::254 IPv6 cloud metadata", "fd00:ec2::254", "metadata_address"),
)
QUICK = {"fec0::1", "192.88.99.1"}

#: Characters a header value must never carry (besides CR, LF, NUL: the fetch corpus).
NON_PRINTABLE = {"U+0085 NEL": "\u0085", "U+0080": "\u0080", "U+009B CSI": "\u009b",
                 "U+009F": "\u009f", "U+0007 BEL": "\u0007", "U+001B ESC": "\u001b",
                 "U+007F DEL": "\u007f", "U+2028 line separator": "\u2028",
                 "U+2029 paragraph separator": "\u2029", "U+202E right-to-left override":
                 "\u202e", "U+200B zero width space": "\u200b", "U+FEFF BOM": "\ufeff"}


def _resolving(address: str, index: int) -> Callable[[Bench], Any]:
    name = f"iana{index}.bench.test"

    def run(bench: Bench) -> Any:
        bench.resolver.answer(name, [address])
        return bench.call("zhostile", "Fetch", f"http://{name}:{bench.port()}/json")
    return run


def _nothing_dialled(bench: Bench, seen: Observation) -> str | None:
    if seen.new_blocked:
        return f"the host dialled {seen.new_blocked} (the egress guard stopped it)"
    return expect_untouched("/json")(bench, seen)


def _header(name: str, value: str) -> Callable[[Bench], Any]:
    return lambda b: b.call("zhostile", "FetchWithHeader", b.url("/echo"), name, value)


def attacks() -> list[Attack]:
    out = [Attack(f"name resolving into {block} ({address})", "addresses", "fetch_denied",
                  _resolving(address, i), rule=rule, verify=_nothing_dialled,
                  quick=address in QUICK, language="zig")
           for i, (block, address, rule) in enumerate(NOT_GLOBAL)]
    out.append(Attack("name resolving to AS112 192.31.196.1 (globally reachable: admitted, "
                      "then stopped by the egress guard)", "addresses", "fetch_network",
                      _resolving("192.31.196.1", len(NOT_GLOBAL)), egress_expected=True,
                      language="zig"))
    for label, char in NON_PRINTABLE.items():
        out.append(Attack(f"{label} in a guest header value", "addresses", "fetch_denied",
                          _header("X-Note", f"a{char}b"), rule="header",
                          verify=expect_untouched("/echo"), quick=label.endswith("NEL"),
                          language="zig"))
    out.append(Attack("U+0085 NEL in a guest header name", "addresses", "fetch_denied",
                      _header("X-No\u0085te", "1"), rule="header",
                      verify=expect_untouched("/echo"), language="zig"))
    return out
