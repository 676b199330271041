"""``kill -9`` during key rotation: ``corral keys rotate`` beside a running server.

Each rotation is killed at a random point of its run (or finishes: then it is an
acknowledged write). After each one the running server must still open every
connection's secret (it cannot ask anyone for the new key ring), and a connection it
creates then must survive the next rotation; every other rotation the server is killed
and restarted, and the fresh server must list and open every connection too.
"""

from __future__ import annotations

from ._api import Api
from ._cycles import start
from ._ledgers import ConnectionLedger, check_connection
from ._procs import CliRun, Server, TypicalRun, run_cli
from ._stores import check_stores
from ._tally import Context, Tally


class _Rotation:
    def __init__(self, ctx: Context, tally: Tally) -> None:
        self.scratch = ctx.scratch("rotation")
        self.data_dir = self.scratch / "data"
        self.packs = [ctx.extra["packs"].conn]
        self.rng = ctx.rng("rotation")
        self.ledger = ConnectionLedger()
        self.tally = tally
        self.counter = 0
        self.restarts = 0

    def create(self, api: Api, where: str) -> None:
        self.counter += 1
        answer = api.create_connection("conn", f"r{self.counter}",
                                       {"token": f"rotate-{self.counter}"})
        self.tally.attempt(answer.ok)
        if answer.ok:
            self.ledger.created(str(answer.body["id"]), "conn")
        else:
            self.tally.broke("errors", answer.describe(f"{where}creating a connection"))

    def rotate(self, kill_after_s: float | None) -> CliRun:
        run = run_cli(["keys", "rotate", "--data-dir", str(self.data_dir)],
                      log=self.scratch / "rotate.log", kill_after_s=kill_after_s)
        self.tally.attempt(not run.killed and run.returncode == 0)
        if run.killed:
            self.tally.kills += 1
        elif run.returncode != 0:
            self.tally.broke("errors", run.failure("corral keys rotate"))
        return run

    def check_running(self, api: Api, number: int) -> None:
        """Every connection's secret through the server that was running all along."""
        where = f"the running server after rotation {number}: "
        for connection_id in sorted(self.ledger.live):
            check_connection(api, self.tally, connection_id, where)

    def restart(self, server: Server) -> Server | None:
        server.close()
        check_stores(self.data_dir, self.tally)
        self.restarts += 1
        fresh = Server(self.data_dir, self.packs, self.scratch / f"serve-{self.restarts}.log")
        if not start(fresh, self.tally, f"restart {self.restarts}"):
            return None
        self.ledger.verify(fresh.api, self.tally, self.rng, final=True,
                           where=f"restart {self.restarts}: ")
        return fresh


def run_rotation(ctx: Context) -> Tally:
    tally = Tally()
    rotation = _Rotation(ctx, tally)
    server = Server(rotation.data_dir, rotation.packs, rotation.scratch / "serve-0.log")
    if not start(server, tally, "the first start"):
        return tally
    for _ in range(ctx.size(3, 6)):
        rotation.create(server.api, "setting up: ")
    typical = TypicalRun(rotation.rotate(None).seconds)
    rotation.check_running(server.api, 0)
    target, number = ctx.size(3, 22), 0
    while number % 2 or (tally.kills < target and number < 3 * target):
        number += 1
        typical.observe(rotation.rotate(typical.delay(rotation.rng)))
        rotation.check_running(server.api, number)
        rotation.create(server.api, f"after rotation {number}: ")
        if number % 2 == 0:
            restarted = rotation.restart(server)
            if restarted is None:
                return tally
            server = restarted
    tally.notes.append(typical.note("a rotation") + "; the server restarts every second one")
    server.close()
    return tally
