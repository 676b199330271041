"""Which IP addresses are globally reachable: the IANA registries, as data.

The fetch policy connects only to addresses this module calls public. Python's
``ipaddress.is_global`` is not the authority (it calls ``fec0::/10``, ``3fff::/20`` and
``192.88.99.0/24`` global); these are, as of 2025:

- the IANA IPv4 Special-Purpose Address Registry,
  https://www.iana.org/assignments/iana-ipv4-special-registry (RFC 6890, RFC 8190);
- the IANA IPv6 Special-Purpose Address Registry,
  https://www.iana.org/assignments/iana-ipv6-special-registry (RFC 6890, RFC 8190);
- the IANA IPv4 Address Space Registry (``224.0.0.0/4`` is multicast) and the IANA IPv6
  Address Space Registry (only ``2000::/3`` is allocated as global unicast; everything else
  is reserved by the IETF, multicast, unique-local, link-local or the deprecated site-local
  ``fec0::/10``).

The rule: an address is public only if no entry below that contains it is anything but
globally reachable, and an IPv6 address lies in ``2000::/3``. That is stricter than the
registries in one place, on purpose: the few entries marked globally reachable inside a
block that is not (``192.0.0.9``, ``192.0.0.10`` inside ``192.0.0.0/24``; ``2001:1::1-3``,
``2001:3::/32``, ``2001:4:112::/48``, ``2001:20::/28``, ``2001:30::/28`` inside
``2001::/23``) are anycast service, AMT, AS112 or identifier prefixes, never an HTTP API,
and stay refused. Entries whose reachability the registry gives as N/A (deprecated blocks,
and the translation prefixes below) are not reachable here.

Translated forms (IPv4-mapped, IPv4-compatible, NAT64 ``64:ff9b::/96``, 6to4
``2002::/16``, Teredo ``2001::/32``) are judged by the IPv4 addresses they carry, see
:func:`embedded_ipv4`: a connection to one reaches that IPv4 address.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Union

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


@dataclass(frozen=True)
class SpecialBlock:
    """One registry entry: the block, its name and reference, and whether it is reachable."""

    network: Network
    name: str
    reference: str
    globally_reachable: bool | None
    """The registry's "Globally Reachable" column; None where it says N/A."""


def _block(cidr: str, name: str, reference: str, reachable: bool | None) -> SpecialBlock:
    return SpecialBlock(ipaddress.ip_network(cidr), name, reference, reachable)


#: The IPv4 Special-Purpose Address Registry, entry by entry, and multicast.
IPV4_BLOCKS: tuple[SpecialBlock, ...] = (
    _block("0.0.0.0/8", '"This network"', "RFC 791, section 3.2", False),
    _block("0.0.0.0/32", '"This host on this network"', "RFC 1122, section 3.2.1.3", False),
    _block("10.0.0.0/8", "Private-Use", "RFC 1918", False),
    _block("100.64.0.0/10", "Shared Address Space", "RFC 6598", False),
    _block("127.0.0.0/8", "Loopback", "RFC 1122, section 3.2.1.3", False),
    _block("169.254.0.0/16", "Link Local", "RFC 3927", False),
    _block("172.16.0.0/12", "Private-Use", "RFC 1918", False),
    _block("192.0.0.0/24", "IETF Protocol Assignments", "RFC 6890, section 2.1", False),
    _block("192.0.0.0/29", "IPv4 Service Continuity Prefix", "RFC 7335", False),
    _block("192.0.0.8/32", "IPv4 dummy address", "RFC 7600", False),
    _block("192.0.0.9/32", "Port Control Protocol Anycast", "RFC 7723", True),
    _block("192.0.0.10/32", "Traversal Using Relays around NAT Anycast", "RFC 8155", True),
    _block("192.0.0.170/32", "NAT64/DNS64 Discovery", "RFC 8880, RFC 7050", False),
    _block("192.0.0.171/32", "NAT64/DNS64 Discovery", "RFC 8880, RFC 7050", False),
    _block("192.0.2.0/24", "Documentation (TEST-NET-1)", "RFC 5737", False),
    _block("192.31.196.0/24", "AS112-v4", "RFC 7535", True),
    _block("192.52.193.0/24", "AMT", "RFC 7450", True),
    _block("192.88.99.0/24", "Deprecated (6to4 Relay Anycast)", "RFC 7526", None),
    _block("192.168.0.0/16", "Private-Use", "RFC 1918", False),
    _block("192.175.48.0/24", "Direct Delegation AS112 Service", "RFC 7534", True),
    _block("198.18.0.0/15", "Benchmarking", "RFC 2544", False),
    _block("198.51.100.0/24", "Documentation (TEST-NET-2)", "RFC 5737", False),
    _block("203.0.113.0/24", "Documentation (TEST-NET-3)", "RFC 5737", False),
    _block("224.0.0.0/4", "Multicast (IPv4 Address Space Registry)", "RFC 5771", False),
    _block("240.0.0.0/4", "Reserved", "RFC 1112, section 4", False),
    _block("255.255.255.255/32", "Limited Broadcast", "RFC 8190, RFC 919 section 7", False),
)

#: The IPv6 Special-Purpose Address Registry, entry by entry, and the address space
#: blocks outside global unicast that have names.
IPV6_BLOCKS: tuple[SpecialBlock, ...] = (
    _block("::1/128", "Loopback Address", "RFC 4291", False),
    _block("::/128", "Unspecified Address", "RFC 4291", False),
    _block("::ffff:0:0/96", "IPv4-mapped Address", "RFC 4291", False),
    _block("64:ff9b::/96", "IPv4-IPv6 Translat.", "RFC 6052", True),
    _block("64:ff9b:1::/48", "IPv4-IPv6 Translat. (local use)", "RFC 8215", False),
    _block("100::/64", "Discard-Only Address Block", "RFC 6666", False),
    _block("100:0:0:1::/64", "Dummy IPv6 Prefix", "RFC 9780", False),
    _block("2001::/23", "IETF Protocol Assignments", "RFC 2928", False),
    _block("2001::/32", "TEREDO", "RFC 4380, RFC 8190", None),
    _block("2001:1::1/128", "Port Control Protocol Anycast", "RFC 7723", True),
    _block("2001:1::2/128", "Traversal Using Relays around NAT Anycast", "RFC 8155", True),
    _block("2001:1::3/128", "DNS-SD Service Registration Protocol Anycast", "RFC 9665", True),
    _block("2001:2::/48", "Benchmarking", "RFC 5180", False),
    _block("2001:3::/32", "AMT", "RFC 7450", True),
    _block("2001:4:112::/48", "AS112-v6", "RFC 7535", True),
    _block("2001:10::/28", "Deprecated (previously ORCHID)", "RFC 4843", None),
    _block("2001:20::/28", "ORCHIDv2", "RFC 7343", True),
    _block("2001:30::/28", "Drone Remote ID Protocol Entity Tags (DETs) Prefix", "RFC 9374",
           True),
    _block("2001:db8::/32", "Documentation", "RFC 3849", False),
    _block("2002::/16", "6to4", "RFC 3056", None),
    _block("2620:4f:8000::/48", "Direct Delegation AS112 Service", "RFC 7534", True),
    _block("3fff::/20", "Documentation", "RFC 9637", False),
    _block("5f00::/16", "Segment Routing (SRv6) SIDs", "RFC 9602", False),
    _block("fc00::/7", "Unique-Local", "RFC 4193, RFC 8190", False),
    _block("fe80::/10", "Link-Local Unicast", "RFC 4291", False),
    _block("fec0::/10", "Site-Local (deprecated; IPv6 Address Space Registry)", "RFC 3879",
           False),
    _block("ff00::/8", "Multicast (IPv6 Address Space Registry)", "RFC 4291", False),
)

#: The only IPv6 block the IPv6 Address Space Registry allocates as global unicast.
IPV6_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")

_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_TEREDO = ipaddress.ip_network("2001::/32")
_SIXTOFOUR = ipaddress.ip_network("2002::/16")


def embedded_ipv4(address: IPAddress) -> tuple[ipaddress.IPv4Address, ...]:
    """The IPv4 addresses an IPv6 translated form carries (none for any other address).

    IPv4-mapped ``::ffff:a.b.c.d``, IPv4-compatible ``::a.b.c.d``, NAT64
    ``64:ff9b::a.b.c.d`` and 6to4 ``2002:AABB:CCDD::`` carry one; Teredo carries two,
    its server and its (obfuscated) client, and both must be public.
    """
    if not isinstance(address, ipaddress.IPv6Address):
        return ()
    if address.ipv4_mapped is not None:
        return (address.ipv4_mapped,)
    if address in _TEREDO and address.teredo is not None:
        return address.teredo
    if address in _SIXTOFOUR and address.sixtofour is not None:
        return (address.sixtofour,)
    if (address in _IPV4_COMPATIBLE and int(address) > 1) or address in _NAT64:
        return (ipaddress.IPv4Address(int(address) & 0xFFFFFFFF),)
    return ()


def refusing_block(address: IPAddress) -> SpecialBlock | None:
    """The registry entry that makes ``address`` not globally reachable, or None if it is.

    A translated form is judged by the addresses it carries (see :func:`embedded_ipv4`).
    """
    carried = embedded_ipv4(address)
    if carried:
        for inner in carried:
            block = refusing_block(inner)
            if block is not None:
                return block
        return None
    blocks = IPV4_BLOCKS if isinstance(address, ipaddress.IPv4Address) else IPV6_BLOCKS
    refusing = [b for b in blocks
                if b.globally_reachable is not True and address in b.network]
    if refusing:
        return max(refusing, key=lambda b: b.network.prefixlen)  # name the narrowest
    if isinstance(address, ipaddress.IPv6Address) and address not in IPV6_GLOBAL_UNICAST:
        return _UNALLOCATED_IPV6
    return None


_UNALLOCATED_IPV6 = SpecialBlock(ipaddress.ip_network("::/0"),
                                 "Reserved by IETF (outside global unicast 2000::/3)",
                                 "IANA IPv6 Address Space Registry, RFC 4291", False)


def is_globally_reachable(address: IPAddress) -> bool:
    """No registry entry keeps ``address`` from being reached across the internet."""
    return refusing_block(address) is None
