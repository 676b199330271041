"""4. HTTP: invoke over uvicorn, beside a bare FastAPI endpoint, both on 127.0.0.1.

Corral's app (``corral._server.app.create_app``) and a FastAPI app with one route returning a
constant run, one at a time, under the same uvicorn settings in a thread of this process.
A separate load-generator process (``loadgen.py``) drives each for a bounded time over
keep-alive connections. Every Corral request is ``POST /v1/packs/perfbench/formulas/Add``
with an API key and distinct arguments, so each one runs the pack (no cache hit, no
single-flight join). The ratio of the two request rates is the cost Corral adds.

Beside the rates, each side's server CPU per request (this process's CPU time over the
run, both servers living here but only one loaded at a time, divided by the requests
sent) and the load generator's own CPU share: on a shared, noisy machine the CPU per
request moves far less than the rate does.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from typing import Any, Iterator
from contextlib import contextmanager

from ._artifacts import REPO, perfbench_wasm
from ._context import Context
from ._measure import median
from ._results import BenchResult, Target

TITLE = "4. HTTP invoke over uvicorn vs a bare FastAPI endpoint"
THROUGHPUT_RATIO_LIMIT = 0.9  # issue 18: the invoke path at 0.9x a bare endpoint
INVOKE_PATH = "/v1/packs/perfbench/formulas/Add"
BARE_PATH = "/bare"
STARTUP_TIMEOUT_S = 20.0
#: Why 0.9x is out of reach, from the per-stage figures in docs/performance.md.
GAP_NOTES = (
    "0.9x leaves Corral ~10 us per request over the bare endpoint's ~90 us of server CPU; "
    "a fresh wasm instance per call alone is ~13 us (Pack.invoke), the runtime around it "
    "~7 us, the scheduler ~15 us, key, rate token, body, resolve, context and reply ~10 us",
    "the wasm call on a pool thread (the second core) measured slower, not faster: "
    "a thread hop each way costs more than the call, and the load generator has that core",
)
MIN_OK_FRACTION = 0.99


def run(ctx: Context) -> BenchResult:
    result = BenchResult("http", TITLE)
    duration = ctx.size(2.0, 6.0)
    rounds = ctx.size(1, 3)
    connections = 8
    result.settings = {"connections": connections, "duration_s": duration, "rounds": rounds,
                       "uvicorn": "loop=uvloop http=httptools access_log=off workers=1"}
    host, app, key = _corral_app(ctx)
    try:
        runs: dict[str, list[dict[str, Any]]] = {"bare FastAPI constant": [], "corral invoke": []}
        with _serving(_bare_app()) as bare_port, _serving(app) as corral_port:
            _check_corral_answers(corral_port, key)
            jobs = {
                "bare FastAPI constant": _job(bare_port, BARE_PATH, {}, connections, duration),
                "corral invoke": _job(corral_port, INVOKE_PATH,
                                      {"Authorization": f"Bearer {key}"}, connections, duration),
            }
            for _ in range(rounds):  # alternate, so drift in the machine hits both alike
                for name, job in jobs.items():
                    runs[name].append(_load(job))
    finally:
        host.close()
    summary = {name: _summarise(name, outcomes) for name, outcomes in runs.items()}
    for name, row in summary.items():
        result.rows.append({"name": name, **row})
    bare, corral = summary["bare FastAPI constant"], summary["corral invoke"]
    ratio = corral["requests_per_s"] / bare["requests_per_s"]
    result.metrics.update({
        "bare_requests_per_s": bare["requests_per_s"], "bare_p50_ms": bare["p50_ms"],
        "bare_p99_ms": bare["p99_ms"], "corral_requests_per_s": corral["requests_per_s"],
        "corral_p50_ms": corral["p50_ms"], "corral_p99_ms": corral["p99_ms"],
        "throughput_ratio": ratio,
        "bare_server_cpu_us_per_request": bare["server_cpu_us_per_request"],
        "corral_server_cpu_us_per_request": corral["server_cpu_us_per_request"],
        # what the rate ratio would be with the server CPU-bound and the machine quiet
        "server_cpu_ratio": bare["server_cpu_us_per_request"]
        / corral["server_cpu_us_per_request"]})
    result.series["requests_per_s"] = {n: r["requests_per_s"] for n, r in summary.items()}
    result.targets.append(Target("http_throughput_ratio",
                                 "HTTP invoke throughput / bare FastAPI throughput", ratio, ">=",
                                 THROUGHPUT_RATIO_LIMIT, "x"))
    result.notes.append("both on corral serve's stack: uvicorn with uvloop and httptools")
    result.notes.extend(GAP_NOTES)
    return result


def _summarise(name: str, outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    for outcome in outcomes:
        ok = outcome["statuses"].get("200", 0)
        if outcome["requests"] == 0 or ok < MIN_OK_FRACTION * outcome["requests"]:
            raise AssertionError(f"{name}: only {ok} of {outcome['requests']} requests answered "
                                 f"200 (statuses {outcome['statuses']}, errors "
                                 f"{outcome['errors']}: {outcome['first_error']})")
    return {"requests_per_s": median([o["per_s"] for o in outcomes]),
            "p50_ms": median([o["p50_ms"] for o in outcomes]),
            "p99_ms": median([o["p99_ms"] for o in outcomes]),
            "requests": sum(o["requests"] for o in outcomes),
            "errors": sum(o["errors"] for o in outcomes),
            "server_cpu_us_per_request": median([o["server_cpu_us"] for o in outcomes]),
            "loadgen_cpu_share": median([o["cpu_s"] / o["wall_s"] for o in outcomes])}


# -- the two apps ---------------------------------------------------------------------------


def _corral_app(ctx: Context) -> tuple[Any, Any, str]:
    from corral._server.apikeys import CALLER, ApiKeyStore
    from corral import create_app

    host = ctx.host("http-host", rate_limit_per_s=1e9, rate_limit_burst=1_000_000_000)
    try:
        host.register_bytes(perfbench_wasm(), source="perfbench")
        keys = ApiKeyStore(host.settings.data_dir / "api-keys.json")
        _, key = keys.create("bench", CALLER)
        return host, create_app(host, host.settings, keys=keys), key
    except BaseException:
        host.close()
        raise


def _bare_app() -> Any:
    from fastapi import FastAPI

    app = FastAPI()

    @app.post(BARE_PATH)
    async def bare() -> dict[str, float]:
        return {"result": 3.0}

    return app


@contextmanager
def _serving(app: Any) -> Iterator[int]:
    """Serve ``app`` with uvicorn on 127.0.0.1 in a thread; yield the port."""
    import uvicorn

    # proto must say TCP: asyncio sets TCP_NODELAY on accepted sockets only when it does,
    # and without it every response waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, loop="uvloop",
                            http="httptools", lifespan="on", backlog=256)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                              name="perf-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def _check_corral_answers(port: int, key: str) -> None:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{INVOKE_PATH}",
                                     data=json.dumps({"args": [1.5, 2.25]}).encode(),
                                     headers={"Authorization": f"Bearer {key}",
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as reply:
        body = json.loads(reply.read())
    if body.get("result") != 3.75:
        raise AssertionError(f"POST {INVOKE_PATH} answered {body!r}, not a result of 3.75")


# -- the load generator ---------------------------------------------------------------------


def _job(port: int, path: str, headers: dict[str, str], connections: int,
         duration: float) -> dict[str, Any]:
    return {"port": port, "path": path, "method": "POST", "headers": headers,
            "body": '{"args": [{n}, 0.5]}', "connections": connections,
            "duration_s": duration, "warmup_s": 0.5, "max_requests": 500_000}


def _load(job: dict[str, Any]) -> dict[str, Any]:
    timeout = job["duration_s"] + job["warmup_s"] + 60
    cpu_before = time.process_time()
    done = subprocess.run([sys.executable, "-m", "benchmarks.perf.loadgen"], cwd=REPO,
                          input=json.dumps(job), capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"the load generator failed: {done.stderr.strip()[-2000:]}")
    outcome: dict[str, Any] = json.loads(done.stdout)
    outcome["server_cpu_us"] = (time.process_time() - cpu_before) / max(1, outcome["sent"]) * 1e6
    return outcome
