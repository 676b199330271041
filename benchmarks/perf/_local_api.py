"""A stand-in external API on 127.0.0.1, run in its own process.

Its threads and memory stay out of the measured process, which matters for the scheduler
(its sleeps do not contend for our GIL) and for the resident-memory benchmark.

    GET  /delay/<ms>           answers 200 after ``ms`` milliseconds
    GET  /hold/<round>/<i>     answers 200 once ``round`` is released (at most HOLD_MAX_S)
    GET  /pending/<round>      how many requests of ``round`` are being held, as text
    POST /release/<round>      releases every held request of ``round``

Run as ``python -m benchmarks.perf._local_api``: it prints its port on the first line of
stdout and exits when its stdin closes, so it never outlives the suite.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import urllib.request
from types import TracebackType

from corral.testing import Exchange, LocalServer, Reply

HOLD_MAX_S = 20.0
MAX_DELAY_MS = 5000
STARTUP_TIMEOUT_S = 15.0


class _Rounds:
    """Held requests, grouped by round."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._released: dict[str, threading.Event] = {}
        self._pending: dict[str, int] = {}

    def event(self, round_id: str) -> threading.Event:
        with self._lock:
            return self._released.setdefault(round_id, threading.Event())

    def hold(self, round_id: str) -> bool:
        event = self.event(round_id)
        with self._lock:
            self._pending[round_id] = self._pending.get(round_id, 0) + 1
        try:
            return event.wait(HOLD_MAX_S)
        finally:
            with self._lock:
                self._pending[round_id] -= 1

    def pending(self, round_id: str) -> int:
        with self._lock:
            return self._pending.get(round_id, 0)

    def release(self, round_id: str) -> None:
        self.event(round_id).set()


def _routes(server: LocalServer, rounds: _Rounds) -> None:
    def delay(exchange: Exchange) -> Reply:
        milliseconds = exchange.params["ms"]
        if not milliseconds.isdigit():
            return Reply(404, body=b"no such path")
        time.sleep(min(int(milliseconds), MAX_DELAY_MS) / 1000)
        return Reply(body=b"ok")

    def hold(exchange: Exchange) -> Reply:
        released = rounds.hold(exchange.params["round"])
        return Reply(200 if released else 504, body=b"ok" if released else b"never released")

    def pending(exchange: Exchange) -> Reply:
        return Reply(body=str(rounds.pending(exchange.params["round"])).encode())

    def release(exchange: Exchange) -> Reply:
        rounds.release(exchange.params["round"])
        return Reply(body=b"released")

    server.handle("GET", "/delay/{ms}", delay)
    server.handle("GET", "/hold/{round}/{i}", hold)
    server.handle("GET", "/pending/{round}", pending)
    server.handle("POST", "/release/{round}", release)


def serve() -> None:
    # No request log: a load run would otherwise keep every request it ever made.
    with LocalServer(record=False, name="bench-local-api") as server:
        _routes(server, _Rounds())
        print(server.port, flush=True)
        sys.stdin.read()  # until the parent closes our stdin (or dies)


class LocalApi:
    """The server process, seen from the suite."""

    def __init__(self) -> None:
        self._process = subprocess.Popen([sys.executable, "-m", "benchmarks.perf._local_api"],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         text=True)
        assert self._process.stdout is not None
        line = _read_line(self._process.stdout, STARTUP_TIMEOUT_S)
        if not line.strip().isdigit():
            self.close()
            raise RuntimeError(f"the local API did not start (said {line!r})")
        self.port = int(line)

    def url(self, path: str, *, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def pending(self, round_id: str) -> int:
        with urllib.request.urlopen(self.url(f"/pending/{round_id}"), timeout=5) as reply:
            return int(reply.read())

    def release(self, round_id: str) -> None:
        request = urllib.request.Request(self.url(f"/release/{round_id}"), data=b"",
                                         method="POST")
        with urllib.request.urlopen(request, timeout=5) as reply:
            reply.read()

    def wait_pending(self, round_id: str, count: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.pending(round_id) >= count:
                return True
            time.sleep(0.005)
        return False

    def close(self) -> None:
        if self._process.stdin is not None and not self._process.stdin.closed:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def __enter__(self) -> LocalApi:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _read_line(stream: object, timeout_s: float) -> str:
    result: list[str] = []
    read_line = stream.readline  # type: ignore[attr-defined]
    reader = threading.Thread(target=lambda: result.append(read_line()), daemon=True)
    reader.start()
    reader.join(timeout_s)
    return result[0] if result else ""


if __name__ == "__main__":
    serve()
