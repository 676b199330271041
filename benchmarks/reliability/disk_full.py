"""A full disk: the data dir on a small tmpfs, written until nothing more fits.

The server takes pack uploads (256 KiB each), connections (16 KiB secrets) and API keys,
round robin, until every kind of write has failed three times running. A write that
cannot be stored must be answered ``507 Insufficient Storage`` (or an error that says the
storage is full without the storage layer's internals); a 500, a dropped connection or an
error blaming the caller counts as an error. Then every acknowledged write must be there:
through the running server, after a ``kill -9`` and a start on the still full disk, and
after a start with some space freed. Mounting needs root; where it fails the row says so.
"""

from __future__ import annotations

import random
import subprocess
from collections import Counter
from pathlib import Path

from ._api import Answer, Api
from ._cycles import start
from ._ledgers import ConnectionLedger, KeyLedger, PackLedger, observe_packs
from ._packs import answer_pack, version_answer
from ._procs import Server
from ._stores import check_stores
from ._tally import Context, Tally
from .kill_packs import check_answers

UPLOAD_PADDING = 256 << 10
SECRET_BYTES = 16 << 10
BALLAST_BYTES = 1 << 20
FAILURES_TO_STOP = 3
PACK = "fill"
STORAGE_WORDS = ("storage", "space", "disk", "full")


def mount_tmpfs(where: Path, size: str) -> str:
    """Mount a tmpfs of ``size`` at ``where``; '' on success, else why not."""
    where.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                               str(where)], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{type(exc).__name__}: {exc}"
    return "" if done.returncode == 0 else (done.stderr.strip() or f"status {done.returncode}")


def unmount(where: Path) -> None:
    """Unmount; lazily if something still holds it (it goes once that lets go)."""
    if subprocess.run(["umount", str(where)], capture_output=True, timeout=30).returncode:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=30)


def clear_refusal(answer: Answer) -> bool:
    """507, or an error that says the storage is full and shows none of its internals."""
    if answer.status == 507:
        return True
    return (answer.status not in (0, 500) and not answer.leaks_internals
            and any(word in answer.detail.lower() for word in STORAGE_WORDS))


class _Fill:
    def __init__(self, rng: random.Random, tally: Tally) -> None:
        self.rng = rng
        self.tally = tally
        self.keys, self.connections, self.packs = KeyLedger(), ConnectionLedger(), PackLedger()
        self.refusals: Counter[str] = Counter()
        self.counter = 0

    def write(self, api: Api, kind: str) -> Answer:
        self.counter += 1
        n = self.counter
        if kind == "upload":
            version = f"1.0.{n}"
            self.packs.pending = ("upload", PACK, version)
            answer = api.upload(answer_pack(PACK, version, version_answer(PACK, version),
                                            padding=self.rng.randbytes(UPLOAD_PADDING)))
            if answer.ok:
                self.packs.uploaded(PACK, version)
                self.packs.pending = None
        elif kind == "connection":
            answer = api.create_connection("conn", f"f{n}", {"token": "x" * SECRET_BYTES})
            if answer.ok:
                self.connections.created(str(answer.body["id"]), "conn")
        else:
            answer = api.create_key(f"full{n}")
            if answer.ok:
                self.keys.created(str(answer.body["id"]), str(answer.body["key"]))
        self.tally.attempt(answer.ok)
        if not answer.ok:
            self._refused(kind, answer)
        return answer

    def _refused(self, kind: str, answer: Answer) -> None:
        self.refusals[f"{answer.status or 'dropped'}"] += 1
        if not clear_refusal(answer):
            leak = " (shows storage internals)" if answer.leaks_internals else ""
            self.tally.broke("errors", answer.describe(f"{kind} on a full disk") + leak)

    def fill(self, api: Api, max_writes: int) -> None:
        failures = {"upload": 0, "connection": 0, "key": 0}
        order = ["upload", "connection", "key", "connection"]
        for index in range(max_writes):
            kind = order[index % len(order)]
            answer = self.write(api, kind)
            failures[kind] = 0 if answer.ok else failures[kind] + 1
            if min(failures.values()) >= FAILURES_TO_STOP:
                return

    def verify(self, api: Api, where: str) -> None:
        self.keys.verify(api, self.tally, self.rng, final=True, where=where)
        self.connections.verify(api, self.tally, self.rng, final=True, where=where)
        seen = observe_packs(api, [PACK], self.tally)
        self.packs.verify(seen, self.tally, where)
        check_answers(api, seen, self.tally, where)


def run_disk_full(ctx: Context) -> Tally:
    tally = Tally()
    scratch = ctx.scratch("disk_full")
    mount = scratch / "tmpfs"
    size = ctx.size("8m", "16m")
    why_not = mount_tmpfs(mount, size)
    if why_not:
        tally.skipped = f"mounting a {size} tmpfs failed: {why_not}"
        return tally
    try:
        _fill_and_check(ctx, tally, mount, scratch)
    finally:
        unmount(mount)
    return tally


def _fill_and_check(ctx: Context, tally: Tally, mount: Path, scratch: Path) -> None:
    ballast = mount / "ballast"
    ballast.write_bytes(b"\0" * BALLAST_BYTES)
    data_dir = mount / "data"
    packs = [ctx.extra["packs"].base, ctx.extra["packs"].conn]
    filler = _Fill(ctx.rng("disk_full"), tally)
    server = Server(data_dir, packs, scratch / "serve-0.log")
    try:
        if not start(server, tally, "the first start"):
            return
        filler.fill(server.api, ctx.size(150, 400))
        if server.crashed:
            tally.broke("crashes", f"the server died writing ({server.exit_text()})")
            return
        tally.notes.append("refused writes answered " + ", ".join(
            f"{status} x{n}" for status, n in sorted(filler.refusals.items())))
        filler.verify(server.api, "the running server: ")
        if server.crashed:
            tally.broke("crashes", f"the server died answering on a full disk "
                                   f"({server.exit_text()})")
    finally:
        server.close()
    for number, label in enumerate(("a start on the full disk", "a start with 1 MiB freed"), 1):
        if number == 2:
            ballast.unlink()
        check_stores(data_dir, tally)
        server = Server(data_dir, packs, scratch / f"serve-{number}.log")
        try:
            if start(server, tally, label):
                filler.verify(server.api, f"{label}: ")
        finally:
            server.close()
