"""``kill -9`` during connection writes over HTTP, and during result-cache writes.

Connections: creates (a bearer secret each) and deletes through ``corral serve``; after
each kill the next start must list every acknowledged connection and none acknowledged
deleted, and their secrets must open (``POST /v1/connections/{id}/test``). The HTTP API
has no route that updates a connection, so there is no update to kill.

Result cache: calls of a formula with ``cache_ttl_s`` and fresh arguments, each answer
cached before it is sent; with the server dead, every acknowledged call's entry must be
in the cache (read with the host's own ``ResultCache`` and ``result_key``).
"""

from __future__ import annotations

import hashlib
import random
import secrets
from pathlib import Path

from corral._calls.result_cache import ResultCache, result_key

from ._api import Answer, Api
from ._cycles import run_kill_cycles
from ._ledgers import ConnectionLedger
from ._tally import Context, Tally

DELETE_SHARE = 0.3
CACHE_PACK, CACHE_ANSWER = "cache", "cached"


class Connections:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.ledger = ConnectionLedger()
        self.counter = 0

    def step(self, api: Api, tally: Tally) -> Answer:
        if self.ledger.live and self.rng.random() < DELETE_SHARE:
            connection_id = self.ledger.take_for_deleting(self.rng)
            assert connection_id is not None
            answer = api.delete_connection(connection_id)
            tally.attempt(answer.ok)
            if answer.ok:
                self.ledger.delete_done(connection_id)
            return answer
        self.counter += 1
        secret = {"token": f"t{self.counter}-{secrets.token_urlsafe(24)}"}
        answer = api.create_connection("conn", f"c{self.counter}", secret)
        tally.attempt(answer.ok)
        if answer.ok:
            self.ledger.created(str(answer.body["id"]), "conn")
        return answer

    def verify(self, api: Api, tally: Tally, *, final: bool) -> None:
        self.ledger.verify(api, tally, self.rng, final=final)

    def after_kill(self, data_dir: Path, tally: Tally) -> None:
        pass

    def reset(self) -> None:
        self.ledger.reset()


def run_connections(ctx: Context) -> Tally:
    tally = Tally()
    scratch = ctx.scratch("connections_http")
    tally.notes.append("creates and deletes (the HTTP API has no connection update)")
    run_kill_cycles(Connections(ctx.rng("connections_http")), tally,
                    data_dir=scratch / "data", packs=[ctx.extra["packs"].conn],
                    cycles=ctx.size(3, 30), window_s=0.5,
                    rng=ctx.rng("connections_http/kills"), logs=scratch)
    return tally


class CachedCalls:
    def __init__(self, pack_sha256: str) -> None:
        self.pack_sha256 = pack_sha256
        self.acknowledged: list[int] = []
        #: call -> the base URL it was made to: part of its cache key (ctx.invocation_location).
        self.base_urls: dict[int, str] = {}
        self.counter = 0

    def step(self, api: Api, tally: Tally) -> Answer:
        self.counter += 1
        answer = api.call(CACHE_PACK, "F", self.counter)
        ok = answer.ok and answer.body.get("result") == CACHE_ANSWER
        tally.attempt(ok)
        if ok:
            self.acknowledged.append(self.counter)
            self.base_urls[self.counter] = api.base_url.rstrip("/")
        elif answer.ok:
            tally.broke("errors", f"{CACHE_PACK}.F answered {answer.body!r}")
        return answer

    def verify(self, api: Api, tally: Tally, *, final: bool) -> None:
        pass  # the entries are read with the server dead, in after_kill

    def after_kill(self, data_dir: Path, tally: Tally) -> None:
        try:
            cache = ResultCache(data_dir / "result-cache")
        except Exception as exc:  # a cache that does not open is the finding
            tally.broke("unreadable", f"the result cache does not open: {exc}")
            return
        with cache:
            missing = [n for n in self.acknowledged if self._entry(cache, n) != CACHE_ANSWER]
        if missing:
            tally.broke("lost", f"{len(missing)} acknowledged cached results are gone "
                                f"(calls {missing[:5]})", len(missing))
            self.acknowledged = [n for n in self.acknowledged if n not in missing]

    def _entry(self, cache: ResultCache, n: int) -> object:
        context = ("UTC", self.base_urls.get(n, ""), "")  # the server's default time zone
        found = cache.get(result_key(CACHE_PACK, self.pack_sha256, "F", [n], None,
                                     context=context))
        return None if found is None else found.value

    def reset(self) -> None:
        self.acknowledged = []
        self.base_urls = {}


def run_cache(ctx: Context) -> Tally:
    tally = Tally()
    scratch = ctx.scratch("result_cache")
    packs = ctx.extra["packs"]
    subject = CachedCalls(hashlib.sha256(packs.cache_wasm).hexdigest())
    run_kill_cycles(subject, tally, data_dir=scratch / "data", packs=[packs.cache],
                    cycles=ctx.size(3, 25), window_s=0.5, rng=ctx.rng("result_cache/kills"),
                    logs=scratch)
    return tally
