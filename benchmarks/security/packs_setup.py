"""The packs and connections every attack family shares, registered once per run.

Each role is the same hostile Zig module (or the C one) with another embedded manifest:
which domains it declares, where its credentials go and which other domains the operator
approved for calls that hold a connection (``world.register``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .world import (PACKS_DIR, REPO, ZIG_DEADLINE_LIMITS, ZIG_FUEL_LIMITS, ZIG_LIMITS, _build,
                    with_manifest)

if TYPE_CHECKING:
    from .harness import Bench


def _bearer(*domains: str) -> dict[str, Any]:
    return {"kind": "bearer", "domains": list(domains)}


def register_all(bench: Bench) -> None:
    s = bench.servers
    p, o, w, t, tw, pl = (s.server.port, s.other.port, s.wire.port, s.tls.port,
                          s.tls_wire.port, s.plain.port)
    bench.packs["hello"] = bench.host.register_file(_build(REPO / "packs" / "hello"))
    zig = _build(PACKS_DIR / "hostile").read_bytes()
    zig_deadline = _build(PACKS_DIR / "hostile_time").read_bytes()
    c_wasm = _build(PACKS_DIR / "c_hostile").read_bytes()
    bench.extras["zig"] = zig
    net = [f"bench.test:{p}", f"cdn.test:{p}"]
    roles: dict[str, tuple[bytes, dict[str, Any], tuple[str, ...]]] = {
        # not approved for cdn.test: a call holding a connection stays on bench.test
        "zhostile": (zig, {"pack": {"name": "zhostile", "network_domains": net},
                           "auth": _bearer(f"bench.test:{p}"), "limits": ZIG_LIMITS}, ()),
        "zdeadline": (zig_deadline, {"pack": {"name": "zdeadline", "network_domains": net},
                                     "auth": _bearer(f"bench.test:{p}"),
                                     "limits": ZIG_DEADLINE_LIMITS}, ()),
        "zfuel": (zig, {"pack": {"name": "zfuel", "network_domains": net},
                        "limits": ZIG_FUEL_LIMITS}, ()),
        # The operator approved its non-auth domain (cdn.test) for calls holding a connection.
        "zapproved": (zig, {"pack": {"name": "zapproved", "network_domains": net},
                            "auth": _bearer(f"bench.test:{p}"), "limits": ZIG_LIMITS},
                      tuple(net)),
        "zquery": (zig, {"pack": {"name": "zquery", "network_domains": net},
                         "limits": ZIG_LIMITS, "auth": {"kind": "query", "param": "api_key"}},
                   ()),
        "chostile": (c_wasm, {"pack": {"network_domains": net}}, ()),
        "zwire": (zig, {"pack": {"name": "zwire", "network_domains": [
            f"bench.test:{w}", f"cdn.test:{w}"]}, "auth": _bearer(f"bench.test:{w}"),
            "limits": ZIG_LIMITS}, (f"cdn.test:{w}",)),
        "ztlswire": (zig, {"pack": {"name": "ztlswire", "network_domains": [
            f"secure.bench.test:{tw}"]}, "auth": _bearer(f"secure.bench.test:{tw}"),
            "limits": ZIG_LIMITS}, ()),
        # auth on a bare name: the https port is its port; the plain one must get nothing
        "zsecure": (zig, {"pack": {"name": "zsecure", "network_domains": [
            f"secure.bench.test:{t}", f"secure.bench.test:{pl}", f"plain.bench.test:{pl}",
            f"cdn.test:{p}"]}, "auth": _bearer("secure.bench.test"), "limits": ZIG_LIMITS},
            (f"cdn.test:{p}", f"plain.bench.test:{pl}")),
        # auth on a bare parent name: a subdomain on another port is not its domain
        "zsub": (zig, {"pack": {"name": "zsub", "network_domains": [
            f"bench.test:{p}", f"static.bench.test:{o}"]}, "auth": _bearer("bench.test"),
            "limits": ZIG_LIMITS}, ()),
    }
    for name, (wasm, manifest, approve) in roles.items():
        bench.packs[name] = bench.register(with_manifest(wasm, **manifest), source=name,
                                           approve=approve)
    bench.carriers |= {("bench.test", p), ("bench.test", w), ("secure.bench.test", t),
                       ("secure.bench.test", tw)}
    _connections(bench)


def _connections(bench: Bench) -> None:
    store = bench.host.connections
    secret = bench.secret
    plan = {"alice": ("zhostile", {"token": secret.alice}),
            "symbols": ("zhostile", {"token": secret.symbols}),
            "short": ("zhostile", {"token": secret.short}),
            "query": ("zquery", {"value": secret.query}),
            "approved": ("zapproved", {"token": secret.alice}),
            "approved_symbols": ("zapproved", {"token": secret.symbols}),
            "approved_short": ("zapproved", {"token": secret.short}),
            "wire": ("zwire", {"token": secret.alice}),
            "wire_symbols": ("zwire", {"token": secret.symbols}),
            "tls_wire": ("ztlswire", {"token": secret.alice}),
            "secure": ("zsecure", {"token": secret.alice}),
            "sub": ("zsub", {"token": secret.alice}),
            "deadline": ("zdeadline", {"token": secret.alice})}
    for key, (pack, value) in plan.items():
        bench.connections[key] = store.create(principal="alice",
                                              pack=bench.packs[pack].manifest,
                                              name=f"alice's {key}", secret=value).id
