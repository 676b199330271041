"""``kill -9`` during API key creation and revocation: over HTTP, and with ``corral keys``.

HTTP: ``POST /v1/keys`` and ``DELETE /v1/keys/{id}`` until the server is killed; the next
start must list every acknowledged key and authenticate it, and refuse every key whose
revocation was acknowledged.

CLI: ``corral keys create`` and ``corral keys revoke`` beside a running server (the
documented use), each killed at a random point of its run, while the server itself
creates keys over HTTP; the running server must see every acknowledged change, and so
must the next start after the server is killed too.
"""

from __future__ import annotations

import random
import re
import threading
from pathlib import Path

from ._api import Answer, Api
from ._cycles import run_kill_cycles, start, write_until_killed
from ._ledgers import KeyLedger
from ._procs import ADMIN_KEY, CliRun, Server, TypicalRun, run_cli
from ._stores import check_stores
from ._tally import Context, Tally

REVOKE_SHARE = 0.3
HTTP_PAUSE_S = 0.02
_CREATED = re.compile(r"key (\S+) for")


class Keys:
    """Key writes over HTTP: creates, and revocations of acknowledged keys."""

    def __init__(self, rng: random.Random, ledger: KeyLedger, *, revoke: bool = True) -> None:
        self.rng = rng
        self.ledger = ledger
        self.revoke = revoke
        self.counter = 0

    def step(self, api: Api, tally: Tally) -> Answer:
        if self.revoke and self.rng.random() < REVOKE_SHARE:
            taken = self.ledger.take_for_revoking(self.rng)
            if taken is not None:
                answer = api.revoke_key(taken[0])
                tally.attempt(answer.ok)
                self.ledger.revoke_done(taken[0], answer.ok)
                return answer
        self.counter += 1
        answer = api.create_key(f"k{self.counter}")
        tally.attempt(answer.ok)
        if answer.ok:
            self.ledger.created(str(answer.body["id"]), str(answer.body["key"]))
        return answer

    def verify(self, api: Api, tally: Tally, *, final: bool) -> None:
        self.ledger.verify(api, tally, self.rng, final=final)

    def after_kill(self, data_dir: Path, tally: Tally) -> None:
        pass

    def reset(self) -> None:
        self.ledger.reset()


def run_http(ctx: Context) -> Tally:
    tally = Tally()
    scratch = ctx.scratch("keys_http")
    run_kill_cycles(Keys(ctx.rng("keys_http"), KeyLedger()), tally, data_dir=scratch / "data",
                    packs=[ctx.extra["packs"].base], cycles=ctx.size(3, 30), window_s=0.5,
                    rng=ctx.rng("keys_http/kills"), logs=scratch)
    return tally


# -- the CLI beside a running server ----------------------------------------------------------


class _Background:
    """The server's own key creations over HTTP while the CLI runs."""

    def __init__(self, server: Server, ledger: KeyLedger, rng: random.Random) -> None:
        self.tally = Tally()
        self.api = Api(server.base_url, ADMIN_KEY)
        self.writer = Keys(rng, ledger, revoke=False)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.wait(HTTP_PAUSE_S):
            answer = self.writer.step(self.api, self.tally)
            if not answer.ok:
                self.tally.broke("errors", answer.describe("POST /v1/keys beside the CLI"))

    def finish(self, tally: Tally) -> None:
        self.stop.set()
        self.thread.join()
        self.api.close()
        tally.merge(self.tally)


def _cli_create(data_dir: Path, n: int, delay: float, log: Path) -> CliRun:
    return run_cli(["keys", "create", f"cli{n}", "--data-dir", str(data_dir)], log=log,
                   kill_after_s=delay)


def _created(run: CliRun) -> tuple[str, str] | None:
    """The id and the key ``corral keys create`` printed (the key is its last line)."""
    lines = [line.strip() for line in run.stdout.strip().splitlines() if line.strip()]
    if len(lines) < 2:
        return None
    found = _CREATED.search(lines[0])
    if found:
        return found.group(1), lines[-1]
    parts = lines[-1].split("_")
    return (parts[1], lines[-1]) if lines[-1].startswith("corral_") and len(parts) > 2 else None


class _CliKeys:
    def __init__(self, ctx: Context, tally: Tally) -> None:
        self.scratch = ctx.scratch("keys_cli")
        self.data_dir = self.scratch / "data"
        self.packs = [ctx.extra["packs"].base]
        self.rng = ctx.rng("keys_cli")
        self.ledger = KeyLedger()
        self.tally = tally
        self.counter = 0
        self.starts = 0
        self.cli_log = self.scratch / "cli.log"
        self.typical = TypicalRun(0.0)

    def start(self, what: str) -> Server | None:
        """A server on the data dir; after a failed start, one on a fresh data dir."""
        for _ in range(2):
            self.starts += 1
            server = Server(self.data_dir, self.packs, self.scratch / f"serve-{self.starts}.log")
            if start(server, self.tally, what):
                return server
            self.data_dir = self.scratch / f"data-fresh{self.starts}"
            self.ledger.reset()
        return None

    def calibrate(self) -> None:
        """How long one ``corral keys create`` takes here: the kill delays scale with it."""
        run = _cli_create(self.data_dir, 0, 120.0, self.cli_log)
        self._record_create(run)
        self.typical = TypicalRun(run.seconds)

    def _record_create(self, run: CliRun) -> None:
        self.typical.observe(run)
        self.tally.attempt(not run.killed and run.returncode == 0)
        if run.killed:
            self.tally.kills += 1
        elif run.returncode != 0:
            self.tally.broke("errors", run.failure("corral keys create"))
        else:
            created = _created(run)
            if created is None:
                self.tally.broke("errors", f"corral keys create printed {run.stdout[:80]!r}")
            else:
                self.ledger.created(*created)

    def one_command(self) -> None:
        delay = self.typical.delay(self.rng)
        taken = (self.ledger.take_for_revoking(self.rng)
                 if self.rng.random() < REVOKE_SHARE else None)
        if taken is None:
            self.counter += 1
            self._record_create(_cli_create(self.data_dir, self.counter, delay, self.cli_log))
            return
        run = run_cli(["keys", "revoke", taken[0], "--data-dir", str(self.data_dir)],
                      log=self.cli_log, kill_after_s=delay)
        self.typical.observe(run)
        acknowledged = not run.killed and run.returncode == 0
        self.tally.attempt(acknowledged)
        self.ledger.revoke_done(taken[0], acknowledged)
        if run.killed:
            self.tally.kills += 1
        elif run.returncode != 0:
            self.tally.broke("errors", run.failure("corral keys revoke"))

    def batch(self, server: Server, kills: int) -> None:
        """Commands until ``kills`` of them were killed (at most three times as many)."""
        background = _Background(server, self.ledger, random.Random(self.rng.random()))
        target = self.tally.kills + kills
        try:
            for _ in range(3 * kills):
                self.one_command()
                if self.tally.kills >= target:
                    break
        finally:
            background.finish(self.tally)
        self.ledger.verify(server.api, self.tally, self.rng, final=False, eventual=True,
                           where="the running server: ")

    def kill_server(self, server: Server) -> None:
        """Kill the server while it writes keys itself, then check the stores."""
        writer = Keys(self.rng, self.ledger)
        if write_until_killed(server, writer, self.tally, self.rng.uniform(0.0, 0.4)):
            self.tally.kills += 1
        server.close()
        check_stores(self.data_dir, self.tally)


def run_cli_keys(ctx: Context) -> Tally:
    tally = Tally()
    keys = _CliKeys(ctx, tally)
    batches, kills = ctx.size(1, 5), ctx.size(4, 8)
    server = keys.start("the first start")
    if server is None:
        return tally
    keys.calibrate()
    for number in range(batches):
        keys.batch(server, kills)
        keys.kill_server(server)
        restarted = keys.start(f"start after server kill {number + 1}")
        if restarted is None:
            return tally
        server = restarted
        keys.ledger.verify(server.api, tally, keys.rng, final=number == batches - 1,
                           where="after a restart: ")
    tally.notes.append(keys.typical.note("`corral keys create` or `revoke`"))
    server.close()
    check_stores(keys.data_dir, tally)
    return tally
