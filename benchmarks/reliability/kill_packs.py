"""``kill -9`` during pack uploads: ``POST /v1/packs`` to ``corral serve``, and
``Host.register_bytes`` / ``register_file`` in a child process.

Uploads are new versions (8-96 KiB each, a padding section makes them real writes) of
three packs, with an occasional ``DELETE``. After each kill the next start must succeed,
list every acknowledged version, have the last acknowledged one active (or the one in
flight), and that version must answer with its own name and version.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

from ._api import Answer, Api
from ._cycles import run_kill_cycles, start
from ._ledgers import PackLedger, PackState, observe_packs
from ._packs import answer_pack, version_answer
from ._procs import STARTUP_TIMEOUT_S, Server, child_env, reap, spawn
from ._stores import check_stores
from ._tally import Context, Tally
from ._writer import NAMES as WRITER_NAMES
from ._writer import plan

HTTP_NAMES = ("up_a", "up_b", "up_c")
DELETE_SHARE = 0.12


def check_answers(api: Api, seen: PackState, tally: Tally, where: str = "") -> None:
    """Each present pack answers with its active version."""
    for name, (active, _) in sorted(seen.items()):
        answer = api.call(name, "F")
        want = version_answer(name, active)
        if not answer.ok:
            tally.broke("errors", answer.describe(f"{where}calling {name}.F"))
        elif answer.body.get("result") != want:
            tally.broke("errors", f"{where}{name}.F answered {answer.body.get('result')!r}, "
                                  f"not {want!r}")


class Uploads:
    """The HTTP upload path."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.ledger = PackLedger()
        self.counter = 0

    def step(self, api: Api, tally: Tally) -> Answer:
        name = self.rng.choice(HTTP_NAMES)
        if self.ledger.versions.get(name) and self.rng.random() < DELETE_SHARE:
            self.ledger.pending = ("delete", name, "")
            answer = api.delete_pack(name)
            tally.attempt(answer.ok)
            if answer.ok:
                self.ledger.deleted(name)
                self.ledger.pending = None
            return answer
        self.counter += 1
        version = f"1.0.{self.counter}"
        padding = self.rng.randbytes(self.rng.randrange(8 << 10, 96 << 10))
        wasm = answer_pack(name, version, version_answer(name, version), padding=padding)
        self.ledger.pending = ("upload", name, version)
        answer = api.upload(wasm)
        tally.attempt(answer.ok)
        if answer.ok:
            self.ledger.uploaded(name, version)
            self.ledger.pending = None
        return answer

    def verify(self, api: Api, tally: Tally, *, final: bool) -> None:
        seen = observe_packs(api, self.ledger.names() or list(HTTP_NAMES), tally)
        self.ledger.verify(seen, tally)
        check_answers(api, seen, tally)

    def after_kill(self, data_dir: Path, tally: Tally) -> None:
        pass

    def reset(self) -> None:
        self.ledger.reset()


def run_http(ctx: Context) -> Tally:
    tally = Tally()
    scratch = ctx.scratch("packs_http")
    run_kill_cycles(Uploads(ctx.rng("packs_http")), tally, data_dir=scratch / "data",
                    packs=[ctx.extra["packs"].base], cycles=ctx.size(3, 30), window_s=0.6,
                    rng=ctx.rng("packs_http/kills"), logs=scratch)
    return tally


# -- Host.register_* in a child --------------------------------------------------------------


class _Writer:
    """One writer child: its first line, then its acknowledgements until it dies."""

    def __init__(self, data_dir: Path, seed: int, start: int, count: int, log: Path) -> None:
        command = [sys.executable, "-m", "benchmarks.reliability._writer", str(data_dir),
                   str(seed), str(start), str(count)]
        self.proc = spawn(command, log=log, env=child_env(), stdout=subprocess.PIPE)
        self.watchdog = threading.Timer(STARTUP_TIMEOUT_S * 2, self.proc.kill)
        self.watchdog.start()
        self.killed = False
        self.lock = threading.Lock()

    @property
    def out(self) -> IO[bytes]:
        assert self.proc.stdout is not None
        return self.proc.stdout

    def first(self) -> dict[str, Any] | None:
        try:
            line = json.loads(self.out.readline() or b"null")
        except ValueError:
            return None
        return line if isinstance(line, dict) and "state" in line else None

    def kill(self) -> None:
        with self.lock:
            if self.proc.poll() is None:
                self.killed = True
                self.proc.kill()

    def acks(self) -> list[tuple[str, str, int]]:
        found = []
        for raw in self.out:
            try:
                name, version, index = json.loads(raw)["ack"]
            except (ValueError, KeyError, TypeError):
                break  # half a line: the kill came while it was printed
            found.append((str(name), str(version), int(index)))
        return found

    def close(self) -> int:
        self.watchdog.cancel()
        self.out.close()
        return reap(self.proc)


def _writer_state(first: dict[str, Any]) -> PackState:
    return {name: (str(active), {str(v) for v in versions})
            for name, (active, versions) in first["state"].items()}


def _check_writer_answers(first: dict[str, Any], seen: PackState, tally: Tally) -> None:
    for name, (active, _) in seen.items():
        got, want = first["answers"].get(name), version_answer(name, active)
        if got != want:
            tally.broke("errors", f"register: {name}.F answered {got!r}, not {want!r}")


def run_register(ctx: Context) -> Tally:
    tally = Tally()
    scratch = ctx.scratch("packs_register")
    data_dir = scratch / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    rng, ledger, index = ctx.rng("packs_register"), PackLedger(), 0
    cycles = ctx.size(3, 30)
    for cycle in range(cycles):
        writer = _Writer(data_dir, ctx.seed, index, 10_000, scratch / f"writer-{cycle}.log")
        first = writer.first()
        if first is None:
            writer.kill()
            writer.close()
            kind = "crashes" if (writer.proc.returncode or 0) < 0 and not writer.killed \
                else "failed_restarts"
            tally.broke(kind, f"Host start after kill {cycle} failed (see writer-{cycle}.log)")
            data_dir, index = scratch / f"data-fresh{cycle}", index + 1
            ledger.reset()
            continue
        seen = _writer_state(first)
        ledger.verify(seen, tally, "register: ")
        _check_writer_answers(first, seen, tally)
        timer = threading.Timer(rng.uniform(0.0, 0.4), writer.kill)
        timer.start()
        for name, version, done in writer.acks():
            tally.attempt(True)
            ledger.uploaded(name, version)
            index = done + 1
        timer.cancel()
        writer.kill()
        code = writer.close()
        tally.attempts += 1  # the write in flight when the kill came
        if writer.killed:
            tally.kills += 1
        elif code < 0:
            tally.broke("crashes", f"a register writer died by signal {-code}")
        name, version, _, _ = plan(ctx.seed, index)
        ledger.pending = ("upload", name, version)
        index += 1  # the write in flight is never repeated: its bytes may be stored
        check_stores(data_dir, tally)
    _final_check(ledger, tally, data_dir, ctx, scratch)
    return tally


def _final_check(ledger: PackLedger, tally: Tally, data_dir: Path, ctx: Context,
                 scratch: Path) -> None:
    """The last start is ``corral serve`` itself, checked over HTTP."""
    server = Server(data_dir, [ctx.extra["packs"].base], scratch / "serve-final.log")
    try:
        if start(server, tally, "register: the final start"):
            seen = observe_packs(server.api, list(WRITER_NAMES), tally)
            ledger.verify(seen, tally, "register (final): ")
            check_answers(server.api, seen, tally, "register (final): ")
    finally:
        server.close()
