"""The fetch-cache key: a new version of a pack (another wasm hash) is never answered from
an older version's entries, and one caller's credentials never answer for another's."""

from __future__ import annotations

from typing import Any, Callable

from ..harness import Attack, Bench, Observation
from ..world import ZIG_LIMITS, with_manifest


def _versions(first: str, second: str, *, same_version: bool = False) -> Callable[[Bench], Any]:
    def run(bench: Bench) -> Any:
        name = bench.unique_name("zcache")
        url = bench.url(f"/json?cache={name}")
        for version in (first, second):
            limits = {**ZIG_LIMITS, "fuel": ZIG_LIMITS["fuel"] + (version == second)}
            wasm = with_manifest(bench.extras["zig"], pack={
                "name": name, "version": first if same_version else version,
                "network_domains": bench.domains()}, limits=limits)
            bench.register(wasm, source=f"{name}-{version}")
            bench.call(name, "FetchCached", url, 600)
        return url
    return run


def _fetched_twice(bench: Bench, seen: Observation) -> str | None:
    hits = [r for r in seen.new_requests if r.path == "/json"]
    return None if len(hits) == 2 else (f"the second version was answered from the first's "
                                        f"cache ({len(hits)} request(s) reached the server)")


def _two_connections(bench: Bench) -> Any:
    url = bench.url(f"/whoami?cache={bench.unique_name('c')}")
    bench.call("zhostile", "FetchCached", url, 600, connection=bench.alice_conn,
               principal="alice")
    return bench.call("zhostile", "FetchCached", url, 600,
                      connection=bench.connections["symbols"], principal="alice")


def _fresh_for_second_connection(bench: Bench, seen: Observation) -> str | None:
    if "alice" in str(seen.value):
        return "the second connection was answered with the first's identity"
    return None if len([r for r in seen.new_requests if r.path == "/whoami"]) == 2 else \
        "the second connection's fetch did not reach the server"


def attacks() -> list[Attack]:
    return [
        Attack("version 0.2.0 answered from 0.1.0's fetch-cache entry", "cache_key", "ok",
               _versions("0.1.0", "0.2.0"), verify=_fetched_twice, quick=True,
               language="zig"),
        Attack("a rollback-style older version after a newer one", "cache_key", "ok",
               _versions("0.3.0", "0.2.5"), verify=_fetched_twice, language="zig"),
        Attack("same version number, other code (a rebuilt pack)", "cache_key", "ok|conflict",
               _versions("1.0.0", "1.0.1", same_version=True),
               verify=lambda b, s: None if s.kind == "conflict" else _fetched_twice(b, s),
               language="zig"),
        Attack("one caller's two connections share no fetch-cache entry", "cache_key", "ok",
               _two_connections, verify=_fresh_for_second_connection, language="zig"),
    ]
