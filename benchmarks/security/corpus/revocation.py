"""Revocation: a connection deleted since a call was cached stops answering at once, from
the result cache (the node's own or the shared one), the formula memo and a formula's
single-flight alike; the call is refused as if the connection never existed."""

from __future__ import annotations

from typing import Any, Callable

from ..harness import Attack, Bench


def _deleted_after(ask: Callable[[Bench, str, str], Any]) -> Callable[[Bench], Any]:
    def run(bench: Bench) -> Any:
        store = bench.host.connections
        made = store.create(principal="alice", pack=bench.packs["zhostile"].manifest,
                            name=bench.unique_name("doomed"),
                            secret={"token": bench.secret.symbols})
        url = bench.url(f"/whoami?cache={bench.unique_name('rv')}")
        ask(bench, url, made.id)  # cached now
        store.delete("alice", made.id)
        return ask(bench, url, made.id)
    return run


def _call(bench: Bench, url: str, connection: str) -> Any:
    return bench.call("zhostile", "WhoAmI", url, connection=connection, principal="alice")


def _evaluate(bench: Bench, url: str, connection: str) -> Any:
    return bench.host.evaluate(f'=zhostile.WhoAmI("{url}")', principal="alice",
                               connections={"zhostile": connection})


def attacks() -> list[Attack]:
    return [
        Attack("a cached result through a connection deleted since", "revocation",
               "not_found", _deleted_after(_call), quick=True, language="zig"),
        Attack("a memoised formula through a connection deleted since", "revocation",
               "not_found", _deleted_after(_evaluate), language="zig"),
    ]
