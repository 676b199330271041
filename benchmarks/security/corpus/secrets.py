"""Secret exfiltration: host environment and files, other principals' connections and
cache entries, and tokens echoed into logs or errors."""

from __future__ import annotations

from typing import Any, Callable

from ..harness import Attack, Bench, Observation, expect_untouched
from .abi import wat_pack


def _register_built(pack_dir: str) -> Callable[[Bench], Any]:
    def run(bench: Bench) -> Any:
        return bench.register(bench.build(pack_dir), source=pack_dir)
    return run


def _register_wat(name: str, **manifest: Any) -> Callable[[Bench], Any]:
    def run(bench: Bench) -> Any:
        return bench.register(wat_pack(name, bench.unique_name("wat"), **manifest),
                              source=f"{name}.wat")
    return run


def _mallory_uses_alices_connection(bench: Bench) -> Any:
    return bench.call("zhostile", "Fetch", bench.url("/whoami"), connection=bench.alice_conn,
                      principal="mallory")


def _mallory_references_alices_connection(bench: Bench) -> Any:
    formula = (f'=zhostile.Fetch($$[packConnectionReference:{bench.alice_conn}:zhostile], '
               f'"{bench.url("/whoami")}")')
    return bench.host.evaluate(formula, principal="mallory")


def _mallory_reads_alices_cached_result(bench: Bench) -> Any:
    url = bench.url("/whoami?cache=result")
    mine = bench.call("zhostile", "WhoAmI", url, connection=bench.alice_conn, principal="alice")
    if "alice" not in mine:
        raise AssertionError(f"the setup call did not authenticate: {mine!r}")
    return bench.call("zhostile", "WhoAmI", url, connection=bench.alice_conn,
                      principal="mallory")


def _anonymous_call_after_alice(bench: Bench) -> Any:
    url = bench.url("/whoami?cache=anonymous")
    bench.call("zhostile", "WhoAmI", url, connection=bench.alice_conn, principal="alice")
    return bench.call("zhostile", "WhoAmI", url, principal="mallory")


def _not_alice(bench: Bench, seen: Observation) -> str | None:
    return "mallory received alice's answer" if "alice" in str(seen.value) else None


def _fetch_cache_after_alice(bench: Bench) -> Any:
    url = bench.url("/whoami?cache=fetch")
    bench.call("zhostile", "FetchCached", url, 600, connection=bench.alice_conn,
               principal="alice")
    return bench.call("zhostile", "FetchCached", url, 600, principal="mallory")


def _fresh_fetch_for_mallory(bench: Bench, seen: Observation) -> str | None:
    if "alice" in str(seen.value):
        return "mallory was answered from alice's cached fetch"
    if len([s for s in seen.new_requests if s.path == "/whoami"]) != 2:
        return "mallory's fetch did not reach the server on its own"
    return None


def _no_credentials_at_cdn(bench: Bench, seen: Observation) -> str | None:
    at_cdn = [s for s in seen.new_requests if s.path == "/echo"]
    if not at_cdn:
        return "the redirect was not followed"
    if any("authorization" in s.headers for s in at_cdn):
        return "alice's Authorization header followed the redirect to cdn.test"
    if bench.alice_token in str(seen.value):
        return "the token reached the guest"
    return None


def attacks() -> list[Attack]:
    return [
        Attack("C pack reading the environment (getenv -> WASI environ_get)", "secrets",
               "invalid_pack", _register_built("c_env"), quick=True, language="c"),
        Attack("C pack reading /etc/passwd (fopen -> WASI path_open, fd_read)", "secrets",
               "invalid_pack", _register_built("c_file"), language="c"),
        Attack("WAT import of wasi environ_get", "secrets", "invalid_pack",
               _register_wat("wasi_environ"), language="wat"),
        Attack("WAT import of wasi path_open and fd_read", "secrets", "invalid_pack",
               _register_wat("wasi_fd_read"), language="wat"),
        Attack("import of an undefined corral.get_secret", "secrets", "invalid_pack",
               _register_wat("undefined_host_import"), language="wat"),
        # pack.wasi is allowed (the JS engine needs the subset: clock, random, an empty
        # environment); what it must never open is the rest of WASI, files included.
        Attack("manifest asking for WASI, importing path_open and fd_read", "secrets",
               "invalid_pack", _register_wat("wasi_fd_read", pack={"wasi": True}),
               language="wat"),
        Attack("another principal's connection id in a call", "secrets", "not_found",
               _mallory_uses_alices_connection, quick=True,
               verify=expect_untouched("/whoami")),
        Attack("another principal's connection in a formula reference", "secrets",
               "not_found", _mallory_references_alices_connection,
               verify=expect_untouched("/whoami")),
        Attack("another principal's cached result (same connection id)", "secrets",
               "not_found", _mallory_reads_alices_cached_result),
        Attack("connectionless call after alice's cached call", "secrets", "ok",
               _anonymous_call_after_alice, verify=_not_alice),
        Attack("another principal's cached fetch", "secrets", "ok", _fetch_cache_after_alice,
               verify=_fresh_fetch_for_mallory),
        Attack("connection of another pack", "secrets", "forbidden",
               lambda b: b.call("zquery", "Fetch", b.url("/whoami"), connection=b.alice_conn,
                                principal="alice"), verify=expect_untouched("/whoami")),
        Attack("guest sets Authorization over the injected token", "secrets", "fetch_denied",
               lambda b: b.call("zhostile", "FetchWithHeader", b.url("/echo"), "Authorization",
                                "Bearer attacker", connection=b.alice_conn, principal="alice"),
               rule="header", verify=expect_untouched("/echo"), quick=True, language="zig"),
        Attack("guest sets the injected query parameter", "secrets", "fetch_denied",
               lambda b: b.call("zquery", "Fetch", b.url("/echo?api_key=mine"),
                                connection=b.alice_query_conn, principal="alice"),
               rule="param", verify=expect_untouched("/echo"), language="zig"),
        Attack("credentials on a redirect to another declared (approved) host", "secrets", "ok",
               lambda b: b.call("zapproved", "Fetch", b.url(
                   f"/redirect?to=http://cdn.test:{b.server.port}/echo"),
                   connection=b.alice_approved_conn, principal="alice"),
               verify=_no_credentials_at_cdn, language="zig"),
        Attack("redirect reflecting the query token to an undeclared host", "secrets",
               "fetch_denied", lambda b: b.call("zquery", "Fetch", b.url(
                   f"/reflect-redirect?to=http://undeclared.test:{b.server.port}/json"),
                   connection=b.alice_query_conn, principal="alice"),
               rule="redirect_secret", language="zig"),
        Attack("network error on a request carrying the query token", "secrets", "fetch_network",
               lambda b: b.call("zquery", "Fetch", b.url("/drop"),
                                connection=b.alice_query_conn, principal="alice"), language="zig"),
        Attack("network error on a request carrying the bearer token", "secrets", "fetch_network",
               lambda b: b.call("zhostile", "Fetch", b.url("/drop"),
                                connection=b.alice_conn, principal="alice"), language="zig"),
        Attack("server echoes the token; guest writes it to the pack log", "secrets", "ok",
               lambda b: b.call("zhostile", "LogFetched", b.url("/echo"),
                                connection=b.alice_conn, principal="alice"), quick=True, language="zig"),
        Attack("server echoes the token; guest puts it in its error", "secrets", "guest_error",
               lambda b: b.call("zhostile", "FailWithFetched", b.url("/echo"),
                                connection=b.alice_conn, principal="alice"), language="zig"),
    ]
