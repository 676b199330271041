"""What the benchmark host may reach: a scripted DNS and a loopback-only socket layer.

``ScriptedResolver`` is the ``(name, port) -> [ips]`` function handed to
``Host(settings, resolver=...)``. Some names answer private or metadata addresses, and
``rebind.bench.test`` changes its answer between lookups (public first, loopback after),
the way a DNS-rebinding attacker's name does.

``LoopbackOnly`` is the last network hop of the host's own ``PinnedTransport``: every
address the policy admitted arrives here. Loopback addresses are connected; any other
address is refused and recorded, so no attack can leave the machine, and an attack that
got a connection to a non-loopback address is visible as an egress attempt. One public
address, :data:`ROUTED_ADDRESS`, stands for "a server on the internet": the policy admits
it like any public address (no host_map test mapping vouches for it), and this layer
delivers it to the same port on 127.0.0.1, where the benchmark's servers listen. Every
byte read off every connection is counted, so a cap is judged by bytes, not by time.
"""

from __future__ import annotations

import ipaddress
import threading
from collections import Counter
from typing import Any, Iterable

import httpcore

from corral.testing import CountingConnector

PUBLIC_ADDRESS = "93.184.216.34"
"""A globally routable address: the policy admits it, the egress guard never dials it."""
ROUTED_ADDRESS = "93.184.216.80"
"""A globally routable address the egress layer delivers to 127.0.0.1 (same port)."""
#: Names answering :data:`ROUTED_ADDRESS`: servers "on the internet", never test mappings.
ROUTED_NAMES = ("secure.bench.test", "idp.bench.test", "plain.bench.test")

_ANSWERS: dict[str, list[str]] = {
    **{name: [ROUTED_ADDRESS] for name in ROUTED_NAMES},
    "internal.bench.test": ["10.1.2.3"],
    "metadata.bench.test": ["169.254.169.254"],
    "mapped.bench.test": ["::ffff:127.0.0.1"],
    "nat64.bench.test": ["64:ff9b::a9fe:a9fe"],
    "cgnat.bench.test": ["100.64.0.1"],
    "mixed.bench.test": [PUBLIC_ADDRESS, "127.0.0.1"],
    "public.bench.test": [PUBLIC_ADDRESS],
    # Not globally reachable by the IANA registries, though ipaddress.is_global says some are.
    "sitelocal.bench.test": ["fec0::1"],
    "doc6.bench.test": ["3fff::1"],
    "relay6to4.bench.test": ["192.88.99.1"],
    "srv6.bench.test": ["5f00::1"],
    "nat64local.bench.test": ["64:ff9b:1::7f00:1"],
    "discard6.bench.test": ["100::1"],
    "bench6.bench.test": ["2001:2::1"],
    "unallocated6.bench.test": ["4000::1"],
    "testnet2.bench.test": ["198.51.100.7"],
    "sixtofour.bench.test": ["2002:7f00:1::1"],
    "teredo.bench.test": ["2001:0:5db8:d822::80ff:fffe"],  # public server, loopback client
}


class ScriptedResolver:
    """A DNS that answers from a script and counts every lookup."""

    REBIND_NAME = "rebind.bench.test"

    def __init__(self) -> None:
        self.lookups: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._extra: dict[str, list[str]] = {}

    def answer(self, name: str, addresses: list[str]) -> None:
        """Script one more name (the address attacks add one per registry entry)."""
        with self._lock:
            self._extra[name] = list(addresses)

    def __call__(self, name: str, port: int) -> list[str]:
        with self._lock:
            self.lookups[name] += 1
            count = self.lookups[name]
        if name == self.REBIND_NAME:
            return [PUBLIC_ADDRESS] if count == 1 else ["127.0.0.1"]
        with self._lock:
            extra = self._extra.get(name)
        return list(extra if extra is not None else _ANSWERS.get(name, []))


class LoopbackOnly(CountingConnector):
    """Connects to loopback addresses only; records every other address it was given, and
    counts the bytes read (``bytes_read``)."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.blocked: list[tuple[str, int]] = []
        self.connected: list[tuple[str, int]] = []

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        routed = host == ROUTED_ADDRESS
        if not routed and not ipaddress.ip_address(host).is_loopback:
            with self._lock:
                self.blocked.append((host, port))
            raise httpcore.ConnectError(f"the benchmark's egress guard kept {host}:{port} "
                                        "off the network")
        with self._lock:
            self.connected.append((host, port))
        return super().connect_tcp("127.0.0.1" if routed else host, port, timeout=timeout,
                                   local_address=local_address, socket_options=socket_options)

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None
                            ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not part of the benchmark")
