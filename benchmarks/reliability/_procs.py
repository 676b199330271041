"""The processes the benchmark starts and kills: ``corral serve``, ``corral keys``, writers.

Every child runs this checkout's ``corral`` (the package this process imported) with a
clean ``CORRAL_*`` environment: a known admin key, no rate limit in the way, the packs it
is told to register. :class:`Server` starts ``corral serve`` on a free port and says
whether it came up; :meth:`Server.kill` is ``kill -9``, and :attr:`Server.crashed` tells a
process that died by a signal of its own from one we killed. :func:`run_cli` runs one
``corral`` command and kills it after a delay if it is still running.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import httpx

import corral

from ._api import Api

REPO = Path(__file__).resolve().parents[2]
ADMIN_KEY = "reliability-admin-key-0123456789abcdef"
STARTUP_TIMEOUT_S = 30.0
PORT_TRIES = 3
_KEEP = {"CORRAL_CALL_PATH", "CORRAL_CACHE_DIR"}
#: Children not yet reaped, each with the thread that started it (one per scenario).
_LIVE: dict[subprocess.Popen[bytes], str] = {}
_LIVE_LOCK = threading.Lock()


def child_env(**extra: str) -> dict[str, str]:
    """The environment of every child: this checkout's corral and benchmarks first."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_") or k in _KEEP}
    host_dir = str(Path(corral.__file__).resolve().parents[1])
    paths = [host_dir, str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.update(CORRAL_ADMIN_KEY=ADMIN_KEY, CORRAL_RATE_LIMIT_PER_S="1000000",
               CORRAL_RATE_LIMIT_BURST="1000000", CORRAL_PUBLIC_RATE_LIMIT_PER_S="1000000",
               CORRAL_PUBLIC_RATE_LIMIT_BURST="1000000", CORRAL_REFUSAL_DELAY_S="0",
               # The writers store far more connections than one caller's quota allows:
               # what is measured here is what survives a kill, not tenancy.
               CORRAL_MAX_CONNECTIONS_PER_PRINCIPAL="1000000",
               CORRAL_MAX_CONNECTION_BYTES_PER_PRINCIPAL=str(1 << 40),
               PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def corral_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "corral", *args]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def spawn(command: Sequence[str], *, log: Path, env: dict[str, str] | None = None,
          stdout: int | None = None, stderr: int | None = None) -> subprocess.Popen[bytes]:
    """Start a child (its output to ``log`` unless piped); tracked until reaped."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as sink:
        proc = subprocess.Popen(list(command), cwd=REPO, env=env or child_env(),
                                stdin=subprocess.DEVNULL,
                                stdout=stdout if stdout is not None else sink,
                                stderr=stderr if stderr is not None else sink)
    with _LIVE_LOCK:
        _LIVE[proc] = threading.current_thread().name
    return proc


def reap(proc: subprocess.Popen[bytes]) -> int:
    code = proc.wait()
    with _LIVE_LOCK:
        _LIVE.pop(proc, None)
    return code


def kill_all(owner: str | None = None) -> None:
    """Kill every child still running that thread ``owner`` started (every child when
    None): a scenario ended, or the benchmark is ending or was interrupted."""
    with _LIVE_LOCK:
        procs = [proc for proc, who in _LIVE.items() if owner is None or who == owner]
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        reap(proc)


def tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip()[:200] for line in text[-lines:])


class Server:
    """One ``corral serve`` on ``data_dir``, on a port of its own."""

    def __init__(self, data_dir: Path, packs: Sequence[Path], log: Path,
                 env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.name = "serve"
        self.packs = list(packs)
        self.log = log
        self.env = env
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.failure = ""
        self._killed = False
        self._lock = threading.Lock()
        self._api: Api | None = None

    def start(self, timeout_s: float = STARTUP_TIMEOUT_S) -> bool:
        """Start and wait until ``/readyz`` answers 200; False (and ``failure``) if not.
        A port somebody else took meanwhile is not the server's fault: another is tried."""
        for _ in range(PORT_TRIES):
            if self._start_once(timeout_s):
                return True
            if "address already in use" not in self.failure.lower():
                return False
        return False

    def _start_once(self, timeout_s: float) -> bool:
        self.port = free_port()
        env = child_env(CORRAL_PACKS=os.pathsep.join(str(p) for p in self.packs),
                        **(self.env or {}))
        command = corral_command("serve", "--data-dir", str(self.data_dir), "--port",
                                 str(self.port))
        self._killed = False
        self.proc = spawn(command, log=self.log, env=env)
        deadline = time.monotonic() + timeout_s
        with httpx.Client(timeout=2.0) as probe:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    self.failure = f"exited with {self.exit_text()}: {tail(self.log)}"
                    reap(self.proc)
                    return False
                try:
                    if probe.get(f"{self.base_url}/readyz").status_code == 200:
                        return True
                except httpx.TransportError:
                    pass
                time.sleep(0.02)
        self.failure = f"not ready after {timeout_s:.0f} s: {tail(self.log)}"
        self.kill()
        return False

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api(self) -> Api:
        if self._api is None or self._api.base_url != self.base_url:
            if self._api is not None:
                self._api.close()
            self._api = Api(self.base_url, ADMIN_KEY)
        return self._api

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> bool:
        """``kill -9``; True if the process was running when the signal went."""
        with self._lock:
            if self.proc is None or self.proc.poll() is not None:
                return False
            self._killed = True
            self.proc.send_signal(signal.SIGKILL)
        reap(self.proc)
        return True

    def settle(self, timeout_s: float = 2.0) -> bool:
        """Give a process that dropped a connection a moment to finish dying; alive?"""
        if self.proc is None:
            return False
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return True
        return False

    @property
    def kill_sent(self) -> bool:
        return self._killed

    @property
    def crashed(self) -> bool:
        """It died by a signal nobody here sent (SIGSEGV, SIGILL, SIGBUS, ...)."""
        if self.proc is None or self.proc.poll() is None or self._killed:
            return False
        return (self.proc.returncode or 0) < 0

    def exit_text(self) -> str:
        code = self.proc.returncode if self.proc is not None else None
        if code is not None and code < 0:
            return f"signal {signal.Signals(-code).name}"
        return f"status {code}"

    def close(self) -> None:
        self.kill()
        if self._api is not None:
            self._api.close()
            self._api = None


@dataclass(frozen=True)
class CliRun:
    """How one ``corral`` command ended."""

    returncode: int
    stdout: str
    stderr: str
    killed: bool
    seconds: float

    def failure(self, what: str) -> str:
        last = self.stderr.strip().splitlines()[-1:] or [""]
        return f"{what} exited {self.returncode}: {last[0][:200]}"


def run_cli(args: Sequence[str], *, log: Path, kill_after_s: float | None = None) -> CliRun:
    """Run ``corral <args>``; ``kill -9`` it after ``kill_after_s`` if still running."""
    started = time.monotonic()
    proc = spawn(corral_command(*args), log=log, stdout=subprocess.PIPE,
                 stderr=subprocess.PIPE)
    killed = False
    try:
        out, err = proc.communicate(timeout=kill_after_s)
    except subprocess.TimeoutExpired:
        killed = proc.poll() is None
        proc.kill()
        out, err = proc.communicate()
    code = reap(proc)
    seconds = time.monotonic() - started
    with open(log, "ab") as sink:
        sink.write(b"$ corral " + " ".join(args).encode() + b"\n" + (err or b""))
    return CliRun(code, (out or b"").decode(errors="replace"),
                  (err or b"").decode(errors="replace"), killed, seconds)


class TypicalRun:
    """How long a command takes on this machine lately: kill delays are drawn as a share
    of it, and every run that was not killed updates it (the machine's load changes)."""

    LOW, HIGH = 0.2, 1.1

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.first = seconds

    def delay(self, rng: random.Random) -> float:
        return rng.uniform(self.LOW * self.seconds, self.HIGH * self.seconds)

    def observe(self, run: CliRun) -> None:
        if not run.killed:
            self.seconds = 0.5 * self.seconds + 0.5 * run.seconds

    def note(self, what: str) -> str:
        return (f"kills land {self.LOW}-{self.HIGH} x the time {what} took lately (first run "
                f"{self.first:.2f} s, last estimate {self.seconds:.2f} s)")
