"""Secrets at rest and in logs: after each of these the judge reads every file of every
store in the Host's data dir that changed (the GET cache's and result cache's LMDB files,
the connection store, the registry), every log record of every logger (the root logger
is at DEBUG: httpcore logs each response header line), and ``/metrics``. A reflecting API
on the auth domain makes sure there is something to find."""

from __future__ import annotations

from typing import Any, Callable

from ..harness import Attack, Bench, Observation

CACHED_PATHS = ("/echo", "/reflect/json/base64", "/reflect/header/raw", "/coded/gzip",
                "/reflect/body/pct-lower", "/reflect/json/json-u", "/reflect/cookie/raw")


def _cached_fetch(path: str, connection: str = "alice") -> Callable[[Bench], Any]:
    def run(bench: Bench) -> Any:
        url = bench.url(path) + f"?n={bench.unique_name('c')}"
        conn = bench.connections[connection]
        first = bench.call("zhostile", "FetchCached", url, 600, connection=conn,
                           principal="alice")
        again = bench.call("zhostile", "FetchCached", url, 600, connection=conn,
                           principal="alice")
        return {"first": first, "again": again}
    return run


def _cached_result(path: str) -> Callable[[Bench], Any]:
    def run(bench: Bench) -> Any:
        url = bench.url(path) + f"?n={bench.unique_name('r')}"
        return bench.call("zhostile", "WhoAmI", url, connection=bench.alice_conn,
                          principal="alice")
    return run


def _fetch(pack: str, connection: str, server: str, path: str,
           formula: str = "Fetch") -> Callable[[Bench], Any]:
    def run(bench: Bench) -> Any:
        url = f"http://bench.test:{bench.port(server)}{path}"
        return bench.call(pack, formula, url, connection=bench.connections[connection],
                          principal="alice")
    return run


def _connection_lifecycle(bench: Bench) -> Any:
    store = bench.host.connections
    manifest = bench.packs["zhostile"].manifest
    made = store.create(principal="carol", pack=manifest, name="carol's",
                        secret={"token": bench.secret.symbols})
    store.rename("carol", made.id, "renamed")
    store.delete("carol", made.id)
    return made.id


def _metrics_after(run: Callable[[Bench], Any]) -> Callable[[Bench], Any]:
    def attack(bench: Bench) -> Any:
        try:
            run(bench)
        except Exception as exc:  # the failure itself is the point: it is counted
            bench.extras["failed"] = type(exc).__name__
        return bench.host.metrics.render()
    return attack


def _metrics_counted(bench: Bench, seen: Observation) -> str | None:
    return None if "corral_" in str(seen.value) else "/metrics rendered nothing"


def attacks() -> list[Attack]:
    out = [Attack(f"GET cache entry of a response reflecting the token ({path})", "at_rest",
                  "ok", _cached_fetch(path), quick=path == "/echo", language="zig")
           for path in CACHED_PATHS]
    out += [Attack(f"GET cache entry of the {key} token echoed", "at_rest", "ok",
                   _cached_fetch("/echo", key), language="zig") for key in ("symbols", "short")]
    out += [Attack(f"result cache entry of a formula returning {path}", "at_rest", "ok",
                   _cached_result(path), language="zig")
            for path in ("/echo", "/reflect/body/base64", "/reflect/json/html-hex")]
    out += [
        Attack("third-party DEBUG logs of a response header reflecting the token", "at_rest",
               "ok", _fetch("zhostile", "alice", "server", "/reflect/header/raw"),
               quick=True, language="zig"),
        Attack("third-party DEBUG logs of a reflected header, percent-encoded", "at_rest", "ok",
               _fetch("zhostile", "alice", "server", "/reflect/header/pct-lower"),
               language="zig"),
        Attack("third-party DEBUG logs of a Set-Cookie reflecting the short token", "at_rest",
               "ok", _fetch("zhostile", "short", "server", "/reflect/cookie/raw"),
               language="zig"),
        Attack("DEBUG logs of a redirect hop whose Location holds the token", "at_rest",
               "fetch_denied", _fetch("zhostile", "alice", "server", "/reflect/location/raw"),
               rule="redirect_secret", language="zig"),
        Attack("logs of a malformed status line quoting the token", "at_rest", "fetch_network",
               _fetch("zwire", "wire", "wire", "/bad-status"), language="zig"),
        Attack("pack log of a body reflecting the token JSON-escaped", "at_rest", "ok",
               _fetch("zhostile", "alice", "server", "/reflect/json/json-u", "LogFetched"),
               language="zig"),
        Attack("connection created, renamed and deleted: the store files hold it sealed",
               "at_rest", "ok", _connection_lifecycle),
        Attack("/metrics after a pack failed quoting a reflected body", "at_rest", "ok",
               _metrics_after(_fetch("zhostile", "alice", "server", "/reflect/body/raw",
                                     "FailWithFetched")), verify=_metrics_counted,
               language="zig"),
        Attack("/metrics after fetch errors quoting the token", "at_rest", "ok",
               _metrics_after(_fetch("zwire", "wire", "wire", "/colonless")),
               verify=_metrics_counted, language="zig"),
    ]
    return out
