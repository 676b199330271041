"""9. ``corral serve --workers N``: one worker process beside two, on the same machine.

Each is a real ``corral serve`` process tree (uvloop, httptools) on its own fresh data dir,
serving the suite's pack; the load generator (its own process) drives ``POST
/v1/packs/perfbench/formulas/Add`` with distinct arguments over keep-alive connections.
Beside each rate stand the CPU seconds the server processes and the load generator spent
per second of the run: on a machine of two cores the load generator takes its share, so a
second worker can only gain what the generator leaves.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ._artifacts import REPO, perfbench_wasm
from ._context import Context
from ._measure import median
from ._results import BenchResult, Target

TITLE = "9. corral serve: 1 worker vs 2 workers"
SPEEDUP_LIMIT = 1.4
INVOKE_PATH = "/v1/packs/perfbench/formulas/Add"
ADMIN_KEY = "perf-workers-admin-key-0123456789abcdef"
STARTUP_TIMEOUT_S = 60.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def run(ctx: Context) -> BenchResult:
    result = BenchResult("workers", TITLE)
    duration, rounds, connections = ctx.size(1.5, 5.0), ctx.size(1, 3), 16
    result.settings = {"connections": connections, "duration_s": duration, "rounds": rounds,
                       "cpus": os.cpu_count(), "stack": "uvicorn loop=uvloop http=httptools"}
    wasm = ctx.fresh_dir("workers-pack") / "perfbench.wasm"
    wasm.write_bytes(perfbench_wasm())
    rows: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
    for _ in range(rounds):  # alternate, so drift in the machine hits both alike
        for workers in rows:
            with _serving(ctx, wasm, workers) as (port, pids):
                rows[workers].append(_measure(port, pids, connections, duration))
    summary = {n: _summarise(outcomes) for n, outcomes in rows.items()}
    for workers, row in summary.items():
        result.rows.append({"name": f"{workers} worker{'s' if workers > 1 else ''}", **row})
    speedup = summary[2]["requests_per_s"] / summary[1]["requests_per_s"]
    result.metrics.update({f"workers_{n}_{k}": v for n, row in summary.items()
                           for k, v in row.items()})
    result.metrics["speedup_2_vs_1"] = speedup
    result.series["requests_per_s"] = {f"{n} worker(s)": r["requests_per_s"]
                                       for n, r in summary.items()}
    result.targets.append(Target("workers_2_vs_1", "2 workers / 1 worker request rate",
                                 speedup, ">=", SPEEDUP_LIMIT, "x"))
    return result


def _summarise(outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    return {key: median([o[key] for o in outcomes])
            for key in ("requests_per_s", "p50_ms", "p99_ms", "server_cpu_per_s",
                        "loadgen_cpu_per_s")}


@contextmanager
def _serving(ctx: Context, wasm: Path, workers: int) -> Iterator[tuple[int, list[int]]]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    env.update(CORRAL_ADMIN_KEY=ADMIN_KEY, CORRAL_PACKS=str(wasm),
               CORRAL_RATE_LIMIT_PER_S="1e9", CORRAL_RATE_LIMIT_BURST="1000000000")
    server = subprocess.Popen(
        [sys.executable, "-m", "corral", "serve", "--workers", str(workers), "--data-dir",
         str(ctx.fresh_dir(f"workers-{workers}")), "--port", str(port)], cwd=REPO, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_until_answering(port, server)
        yield port, [server.pid, *_children(server.pid)]
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until_answering(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{INVOKE_PATH}", data=b'{"args": [1.5, 2.25]}',
        headers={"Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "application/json"})
    while True:
        try:
            with urllib.request.urlopen(request, timeout=5) as reply:
                if json.loads(reply.read()).get("result") == 3.75:
                    return
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"corral serve did not start answering on port {port}")
        time.sleep(0.1)


def _measure(port: int, pids: list[int], connections: int, duration: float) -> dict[str, Any]:
    job = {"port": port, "path": INVOKE_PATH, "method": "POST", "connections": connections,
           "headers": {"Authorization": f"Bearer {ADMIN_KEY}"}, "body": '{"args": [{n}, 0.5]}',
           "duration_s": duration, "warmup_s": 0.5, "max_requests": 2_000_000}
    pids = pids + [c for pid in pids[1:] for c in _children(pid)]
    before = _cpu_seconds(pids)
    done = subprocess.run([sys.executable, "-m", "benchmarks.perf.loadgen"], cwd=REPO,
                          input=json.dumps(job), capture_output=True, text=True, check=False,
                          timeout=duration + 120)
    if done.returncode != 0:
        raise RuntimeError(f"the load generator failed: {done.stderr.strip()[-2000:]}")
    outcome: dict[str, Any] = json.loads(done.stdout)
    spent = _cpu_seconds(pids) - before
    ok = outcome["statuses"].get("200", 0)
    if outcome["requests"] == 0 or ok < 0.99 * outcome["requests"]:
        raise AssertionError(f"only {ok} of {outcome['requests']} requests answered 200 "
                             f"({outcome['statuses']}, {outcome['first_error']})")
    wall = outcome["wall_s"]
    return {"requests_per_s": outcome["per_s"], "p50_ms": outcome["p50_ms"],
            "p99_ms": outcome["p99_ms"], "server_cpu_per_s": spent / wall,
            "loadgen_cpu_per_s": outcome["cpu_s"] / wall}


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def _cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / CLOCK_TICKS
