"""Addresses judged by the IANA special-purpose registries, not by ``ipaddress.is_global``."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Mapping

import pytest

from corral import FetchDenied
from corral._fetch.policy import check_address
from corral._fetch.special_addresses import (IPV4_BLOCKS, IPV6_BLOCKS, SpecialBlock,
                                             embedded_ipv4, is_globally_reachable)


@dataclass(frozen=True)
class Config:
    allow_http: bool = False
    host_map: Mapping[str, str] = field(default_factory=dict)


STRICT = Config()
#: Blocks judged by the IPv4 address they carry, not by their own row.
TRANSLATED = {"::ffff:0:0/96", "64:ff9b::/96", "2002::/16", "2001::/32"}


def refused_rule(ip: str) -> str:
    with pytest.raises(FetchDenied) as info:
        check_address("api.example.com", ip, STRICT)
    assert "api.example.com" in str(info.value)
    return str(info.value.rule)


@pytest.mark.parametrize("ip", ["fec0::1", "fef0::1", "3fff::1", "3fff:fff:ffff::1",
                                "192.88.99.1", "192.88.99.2"])
def test_what_python_calls_global_but_the_registries_do_not_is_refused(ip: str) -> None:
    assert ipaddress.ip_address(ip).is_global, "the stdlib alone would let this through"
    assert refused_rule(ip) == "private_address"


@pytest.mark.parametrize("ip, named", [
    ("3fff::1", "Documentation, RFC 9637"),
    ("fec0::1", "Site-Local"),
    ("192.88.99.7", "6to4 Relay Anycast"),
    ("5f00::1", "Segment Routing"),
    ("64:ff9b:1::a", "local use"),
    ("4000::1", "outside global unicast"),
])
def test_a_refusal_names_the_registry_entry(ip: str, named: str) -> None:
    with pytest.raises(FetchDenied, match=named):
        check_address("api.example.com", ip, STRICT)


def _samples(block: SpecialBlock) -> list[str]:
    network = block.network
    middle = network.network_address + network.num_addresses // 2
    return [str(network.network_address), str(middle), str(network.broadcast_address)]


NOT_REACHABLE = [b for b in (*IPV4_BLOCKS, *IPV6_BLOCKS)
                 if b.globally_reachable is not True and str(b.network) not in TRANSLATED]


@pytest.mark.parametrize("block", NOT_REACHABLE, ids=[str(b.network) for b in NOT_REACHABLE])
def test_every_registry_entry_not_globally_reachable_is_refused(block: SpecialBlock) -> None:
    for ip in _samples(block):
        assert refused_rule(ip) in ("private_address", "metadata_address"), ip


@pytest.mark.parametrize("ip", [
    "192.0.0.9", "192.0.0.10",  # reachable anycast inside 192.0.0.0/24
    "2001:1::1", "2001:3::1", "2001:4:112::1", "2001:20::1", "2001:30::1",  # inside 2001::/23
])
def test_reachable_entries_inside_an_unreachable_block_stay_refused(ip: str) -> None:
    assert refused_rule(ip) == "private_address"


@pytest.mark.parametrize("ip", [
    "8.8.8.8", "1.1.1.1", "93.184.216.34",
    "192.31.196.1", "192.52.193.1", "192.175.48.1",  # reachable registry entries
    "2606:4700:4700::1111", "2a00:1450:4001::1",
    "2620:4f:8000::1",  # AS112 direct delegation: globally reachable
])
def test_globally_reachable_addresses_are_admitted(ip: str) -> None:
    assert check_address("api.example.com", ip, STRICT) == ipaddress.ip_address(ip)


def teredo(server: str, client: str) -> str:
    """A Teredo address for ``server`` and ``client`` (the client obfuscated, RFC 4380)."""
    value = (0x20010000 << 96) | (int(ipaddress.IPv4Address(server)) << 64) \
        | (0xFFFFFFFF ^ int(ipaddress.IPv4Address(client)))
    return str(ipaddress.IPv6Address(value))


@pytest.mark.parametrize("ip, carried", [
    ("::ffff:10.0.0.1", ["10.0.0.1"]),
    ("::192.168.0.1", ["192.168.0.1"]),
    ("64:ff9b::c058:6301", ["192.88.99.1"]),
    ("2002:c058:6301::1", ["192.88.99.1"]),
    (teredo("8.8.8.8", "127.0.0.1"), ["8.8.8.8", "127.0.0.1"]),
    (teredo("10.0.0.1", "8.8.8.8"), ["10.0.0.1", "8.8.8.8"]),
])
def test_translated_forms_are_unwrapped_and_judged_by_what_they_carry(
        ip: str, carried: list[str]) -> None:
    assert [str(a) for a in embedded_ipv4(ipaddress.ip_address(ip))] == carried
    assert refused_rule(ip) == "private_address"


@pytest.mark.parametrize("ip", ["::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1",
                                teredo("8.8.8.8", "1.1.1.1")])
def test_translated_forms_of_public_addresses_pass(ip: str) -> None:
    assert is_globally_reachable(ipaddress.ip_address(ip))


def test_metadata_is_named_inside_every_translated_form() -> None:
    for ip in ("::ffff:169.254.169.254", "64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::",
               teredo("8.8.8.8", "169.254.169.254")):
        assert refused_rule(ip) == "metadata_address", ip


def test_the_table_is_well_formed() -> None:
    for block in (*IPV4_BLOCKS, *IPV6_BLOCKS):
        assert block.network.version == (4 if block in IPV4_BLOCKS else 6)
        assert block.name and block.reference.startswith(("RFC", "IANA"))
    cidrs = [str(b.network) for b in (*IPV4_BLOCKS, *IPV6_BLOCKS)]
    assert len(cidrs) == len(set(cidrs)), "one row per registry entry"
