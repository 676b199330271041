"""Two ``corral serve`` processes on one data dir.

Each round both write at once: A uploads (and deletes) packs and makes API keys, B makes
and revokes keys and makes connections. Then each must see what the other acknowledged:
every key authenticates on both and every revoked one on neither, every connection is
listed and opens on both, every pack version is listed, the active one answers, and a
deleted pack is gone on both. Then one of the two is killed at a random point of its
writes, started again, and everything is checked once more on both.
"""

from __future__ import annotations

import random
import threading
from pathlib import Path

from ._api import Answer, Api
from ._cycles import start, write_until_killed
from ._ledgers import KeyLedger, observe_packs
from ._procs import Server
from ._stores import check_stores
from ._tally import Context, Tally
from .kill_connections import Connections
from .kill_keys import Keys
from .kill_packs import Uploads, check_answers


class _Mixed:
    """Writes of several kinds, one of each in turn, on one server."""

    def __init__(self, *subjects: Uploads | Keys | Connections) -> None:
        self.subjects = subjects
        self.turn = 0

    def step(self, api: Api, tally: Tally) -> Answer:
        self.turn += 1
        return self.subjects[self.turn % len(self.subjects)].step(api, tally)

    def verify(self, api: Api, tally: Tally, *, final: bool) -> None:
        pass

    def after_kill(self, data_dir: Path, tally: Tally) -> None:
        pass

    def reset(self) -> None:
        pass


def _write(server: Server, mixed: _Mixed, steps: int, tally: Tally) -> None:
    api = Api(server.base_url, server.api.admin_key)
    try:
        for _ in range(steps):
            answer = mixed.step(api, tally)
            if not answer.ok:
                tally.broke("errors", answer.describe(f"a write on server {server.name}"))
    finally:
        api.close()


class _Pair:
    def __init__(self, ctx: Context, tally: Tally) -> None:
        self.scratch = ctx.scratch("two_servers")
        self.data_dir = self.scratch / "data"
        packs = ctx.extra["packs"]
        self.packs = [packs.base, packs.conn]
        self.rng = ctx.rng("two_servers")
        self.tally = tally
        self.keys = KeyLedger()
        self.uploads = Uploads(random.Random(self.rng.random()))
        self.connections = Connections(random.Random(self.rng.random()))
        self.writers = {
            "A": _Mixed(self.uploads, Keys(random.Random(self.rng.random()), self.keys,
                                           revoke=False)),
            "B": _Mixed(Keys(random.Random(self.rng.random()), self.keys), self.connections),
        }
        self.starts = 0

    def server(self, name: str) -> Server | None:
        self.starts += 1
        server = Server(self.data_dir, self.packs, self.scratch / f"serve-{name}-{self.starts}.log")
        server.name = name
        return server if start(server, self.tally, f"starting server {name}") else None

    def write_both(self, servers: dict[str, Server], steps: int) -> None:
        tallies = {name: Tally() for name in servers}
        threads = [threading.Thread(target=_write, args=(servers[n], self.writers[n], steps,
                                                         tallies[n])) for n in servers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for tally in tallies.values():
            self.tally.merge(tally)

    def verify(self, servers: dict[str, Server]) -> None:
        for name, server in sorted(servers.items()):
            where = f"server {name}: "
            self.keys.verify(server.api, self.tally, self.rng, final=True, eventual=True,
                             where=where)
            self.connections.ledger.verify(server.api, self.tally, self.rng, final=True,
                                           eventual=True, where=where)
            ledger = self.uploads.ledger
            seen = observe_packs(server.api, ledger.names(), self.tally)
            ledger.verify(seen, self.tally, where)
            check_answers(server.api, seen, self.tally, where)

    def kill_one(self, servers: dict[str, Server]) -> str:
        victim = self.rng.choice(sorted(servers))
        if write_until_killed(servers[victim], self.writers[victim], self.tally,
                              self.rng.uniform(0.0, 0.4)):
            self.tally.kills += 1
        servers[victim].close()
        return victim


def run_two_servers(ctx: Context) -> Tally:
    tally = Tally()
    pair = _Pair(ctx, tally)
    servers: dict[str, Server] = {}
    try:
        for name in ("A", "B"):
            server = pair.server(name)
            if server is None:
                return tally
            servers[name] = server
        for _ in range(ctx.size(1, 4)):
            pair.write_both(servers, ctx.size(12, 20))
            pair.verify(servers)
            victim = pair.kill_one(servers)
            restarted = pair.server(victim)
            if restarted is None:
                return tally
            servers[victim] = restarted
            pair.verify(servers)
    finally:
        for server in servers.values():
            server.close()
    check_stores(pair.data_dir, tally)
    return tally
