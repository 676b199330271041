"""What the benchmark host lives among: its local servers, TLS files, packs and connections.

Servers, all on 127.0.0.1:

* ``server``: the hostile API (plain http) under ``bench.test`` and ``cdn.test`` (host_map
  test mappings), with the reflecting routes (:mod:`.reflect`);
* ``other``: the same on another port, under ``static.bench.test``;
* ``tls``: the same over TLS, under ``secure.bench.test`` (a name the policy resolves to a
  public address that the egress layer delivers here: no test mapping vouches for it);
* ``plain``: the hostile API in clear under ``plain.bench.test`` (public the same way),
  where a token must never arrive;
* ``wire`` / ``tls_wire``: raw upstreams that write scripted bytes (:mod:`.wire`).

Packs are the one hostile Zig pack (and the C and WAT ones) re-embedded with the domains,
auth and limits of each role; connections hold three bearer tokens (long, with symbols,
short) and a query key.
"""

from __future__ import annotations

import inspect
import json
import secrets
import string
from pathlib import Path
from typing import Any, Sequence

from corral import (MANIFEST_SECTION, BuildError, Host, Pack, build_pack, read_manifest,
                    set_custom_section)
from corral.testing import HostileServer, make_tls_files

from .reflect import add_reflecting_routes
from .wire import WireServer

REPO = Path(__file__).resolve().parents[2]
PACKS_DIR = Path(__file__).resolve().parent / "packs"

#: The limits the benchmark runs the shared hostile Zig pack under (its pack.toml holds the
#: host tests' tighter ones): room for a 12 MiB allocation, 8 fetches, 64 KiB of logs, and
#: a deadline-bound twin cut at 400 ms.
ZIG_LIMITS = {"fuel": 100_000_000, "memory_bytes": 32 << 20, "timeout_ms": 3000,
              "max_output_bytes": 65536, "max_fetches": 8, "max_log_bytes": 65536}
ZIG_DEADLINE_LIMITS = {**ZIG_LIMITS, "fuel": 10_000_000_000, "timeout_ms": 400}
#: Fuel-bound with a wall clock far away: a loop of host calls ends by count, never by speed.
ZIG_FUEL_LIMITS = {**ZIG_LIMITS, "fuel": 5_000_000, "timeout_ms": 120_000}

TLS_NAMES = ["secure.bench.test", "idp.bench.test", "bench.test"]


def _build(pack_dir: Path) -> Path:
    try:
        return build_pack(pack_dir).path
    except BuildError:
        # zig's clang has been seen to crash once under a parallel build; one retry.
        return build_pack(pack_dir, force=True).path


def with_manifest(wasm: bytes, **changes: Any) -> bytes:
    """``wasm`` with its embedded manifest changed: ``pack={...}`` / ``auth={...}`` merge."""
    manifest = read_manifest(wasm).to_dict()
    for section, values in changes.items():
        if isinstance(values, dict) and isinstance(manifest.get(section), dict):
            manifest[section].update(values)
        else:
            manifest[section] = values
    return set_custom_section(wasm, MANIFEST_SECTION, json.dumps(manifest).encode())


def register(host: Host, wasm: bytes, source: str, approve: Sequence[str] = ()) -> Pack:
    """Register ``wasm``; approve its other declared domains where the host asks for that
    (calls holding a connection reach only auth domains and approved ones)."""
    if approve and "approved_domains" in inspect.signature(host.register_bytes).parameters:
        return host.register_bytes(wasm, source=source,  # type: ignore[call-arg]
                                   approved_domains=list(approve))
    return host.register_bytes(wasm, source=source)


class Servers:
    """Every local server and the TLS files, started together, closed together."""

    def __init__(self, directory: Path, valid_token: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.ca, cert, key = make_tls_files(directory, TLS_NAMES)
        self.tls_files = (cert, key)
        self.server = HostileServer(valid_token=valid_token).start()
        self.other = HostileServer(valid_token=valid_token).start()
        self.tls = HostileServer(valid_token=valid_token, tls=self.tls_files).start()
        self.plain = HostileServer(valid_token=valid_token).start()
        for hostile in (self.server, self.other, self.tls, self.plain):
            add_reflecting_routes(hostile)
        self.wire = WireServer().start()
        self.tls_wire = WireServer(tls=self.tls_files).start()
        #: Every server whose requests the judge reads (attack families add theirs).
        self.recording: list[Any] = [self.server, self.other, self.tls, self.plain,
                                     self.wire, self.tls_wire]

    def close(self) -> None:
        for server in self.recording[:6]:  # the rest are closed by whoever added them
            server.close()


def _token(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


class Secrets:
    """The connection secrets the benchmark plants."""

    def __init__(self) -> None:
        self.alice = "alice-" + secrets.token_hex(16)
        # Symbols a JSON encoder escapes (/), URL encoders escape (+ = / &) and HTML
        # escapes (& < > ' ") -- as real tokens (base64, JWTs) and passwords carry.
        self.symbols = "sym/" + secrets.token_hex(8) + "+Z=&<q>'x\"" + _token(string.digits, 4)
        self.short = "k" + _token(string.ascii_letters + string.digits, 5) + "#"
        self.query = "qkey-" + secrets.token_hex(16)

    def all(self) -> tuple[str, ...]:
        return (self.alice, self.symbols, self.short, self.query)
