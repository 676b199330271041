"""8. Tenancy: one caller under another caller's flood of slow calls, over uvicorn.

Corral's app serves two API keys. The attacker's load generator (``loadgen.py``, its own
process) keeps ``flood_connections`` connections busy with ``perfbench.Fetch`` calls to a
local upstream that answers each request after ``hold_s``: slow calls that hold their
slots, far more of them than the attacker's share of running slots and queue, so the
rest are refused (429) and sent again at once. Meanwhile the victim's load generator
calls ``perfvictim.Add`` (the same pack under another name, uncached, distinct
arguments) over one connection, and, in a second run, ``perfvictim.AddCached`` (a
result-cache hit each time). Each victim run is measured alone first, then under the
flood; the issue's goal: under the flood the victim keeps >= 99 % success and a p99
within 3x of its unloaded p99.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

from ._artifacts import REPO, perfbench_wasm
from ._context import Context
from ._results import BenchResult, Target
from .bench_http import _serving

TITLE = "8. Tenancy: a caller under another caller's flood of slow calls"
DOMAIN = "api.bench.test"
MIN_SUCCESS = 0.99
P99_RATIO_LIMIT = 3.0


def run(ctx: Context) -> BenchResult:
    result = BenchResult("tenancy", TITLE)
    duration = ctx.size(1.5, 8.0)
    hold_s = 0.2
    flood_connections = 64
    result.settings = {"duration_s": duration, "upstream_hold_s": hold_s,
                       "flood_connections": flood_connections, "victim_connections": 1}
    with _slow_upstream(hold_s) as upstream_port:
        host, app, keys = _corral_app(ctx, upstream_port)
        settings = host.settings
        result.settings.update({"principal_concurrency": settings.principal_concurrency,
                                "principal_queue": settings.principal_queue,
                                "global_concurrency": settings.global_concurrency,
                                "max_workers": settings.max_workers})
        try:
            with _serving(app) as port:
                rows = _measure(port, keys, upstream_port, duration, flood_connections)
        finally:
            host.close()
    for row in rows:
        result.rows.append(row)
    by_name = {row["name"]: row for row in rows}
    for victim in ("uncached", "cache hit"):
        alone, loaded = by_name[f"victim {victim}, alone"], by_name[f"victim {victim}, flood"]
        ratio = loaded["p99_ms"] / alone["p99_ms"]
        key = victim.replace(" ", "_")
        result.metrics.update({f"{key}_alone_p99_ms": alone["p99_ms"],
                               f"{key}_flood_p99_ms": loaded["p99_ms"],
                               f"{key}_flood_success": loaded["success"],
                               f"{key}_p99_ratio": ratio})
        result.targets.append(Target(f"tenancy_{key}_success", f"victim ({victim}) success "
                                     "under the flood", loaded["success"], ">=", MIN_SUCCESS,
                                     "fraction"))
        result.targets.append(Target(f"tenancy_{key}_p99_ratio", f"victim ({victim}) p99 "
                                     "under the flood / alone", ratio, "<=", P99_RATIO_LIMIT,
                                     "x"))
    flood = by_name["attacker flood"]
    result.metrics.update({"flood_ok_per_s": flood["ok_per_s"],
                           "flood_refused_fraction": flood["refused_fraction"]})
    result.notes.append("the victim calls another pack than the flood: the scheduler's "
                        "per-pack concurrency is shared by all callers of a pack")
    return result


def _measure(port: int, keys: dict[str, str], upstream_port: int, duration: float,
             flood_connections: int) -> list[dict[str, Any]]:
    victims = {"uncached": ("/v1/packs/perfvictim/formulas/Add", '{"args": [{n}, 0.5]}'),
               "cache hit": ("/v1/packs/perfvictim/formulas/AddCached", '{"args": [1, 2]}')}
    rows = []
    for name, (path, body) in victims.items():
        rows.append(_victim_row(f"victim {name}, alone",
                                _load(_job(port, path, body, keys["victim"], 1, duration))))
    flood_job = _job(port, "/v1/packs/perfbench/formulas/Fetch",
                     json.dumps({"args": [f"http://{DOMAIN}:{upstream_port}/slow/" + "{n}"]}),
                     keys["attacker"], flood_connections, 2 * duration * len(victims) + 4)
    flood_job["warmup_s"] = 1.0
    outcome: dict[str, Any] = {}
    attacker = threading.Thread(target=lambda: outcome.update(_load(flood_job)))
    attacker.start()
    time.sleep(flood_job["warmup_s"] + 0.5)  # the flood fills its share and queue first
    for name, (path, body) in victims.items():
        rows.append(_victim_row(f"victim {name}, flood",
                                _load(_job(port, path, body, keys["victim"], 1, duration))))
    attacker.join()
    statuses = outcome["statuses"]
    total = max(1, sum(statuses.values()))
    rows.append({"name": "attacker flood", "requests": total,
                 "ok_per_s": statuses.get("200", 0) / outcome["seconds"],
                 "refused_fraction": statuses.get("429", 0) / total,
                 "p50_ms": outcome["p50_ms"], "p99_ms": outcome["p99_ms"],
                 "statuses": statuses})
    return rows


def _victim_row(name: str, outcome: dict[str, Any]) -> dict[str, Any]:
    answered = outcome["requests"] + outcome["errors"]
    ok = outcome["statuses"].get("200", 0)
    return {"name": name, "requests": answered, "success": ok / max(1, answered),
            "p50_ms": outcome["p50_ms"], "p99_ms": outcome["p99_ms"],
            "requests_per_s": outcome["per_s"], "statuses": outcome["statuses"]}


# -- the service, the upstream and the load ----------------------------------------------


def _corral_app(ctx: Context, upstream_port: int) -> tuple[Any, Any, dict[str, str]]:
    from corral._pack.wasm import MANIFEST_SECTION, set_custom_section
    from corral._runtime.pack import read_manifest
    from corral._server.apikeys import CALLER, ApiKeyStore
    from corral._server.app import create_app

    host = ctx.host("tenancy-host", allow_http=True, host_map={DOMAIN: "127.0.0.1"},
                    rate_limit_per_s=1e9, rate_limit_burst=1_000_000_000)
    try:
        wasm = perfbench_wasm()
        for name in ("perfbench", "perfvictim"):
            manifest = read_manifest(wasm).to_dict()
            manifest["pack"].update(name=name, network_domains=[f"{DOMAIN}:{upstream_port}"])
            host.register_bytes(set_custom_section(wasm, MANIFEST_SECTION,
                                                   json.dumps(manifest).encode()), source=name)
        keys = ApiKeyStore(host.settings.data_dir / "api-keys.json")
        made = {who: keys.create(who, CALLER)[1] for who in ("attacker", "victim")}
        return host, create_app(host, host.settings, keys=keys), made
    except BaseException:
        host.close()
        raise


@contextmanager
def _slow_upstream(hold_s: float) -> Iterator[int]:
    class Slow(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            time.sleep(hold_s)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def _job(port: int, path: str, body: str, key: str, connections: int,
         duration: float) -> dict[str, Any]:
    return {"port": port, "path": path, "method": "POST",
            "headers": {"Authorization": f"Bearer {key}"}, "body": body,
            "connections": connections, "duration_s": duration, "warmup_s": 0.5,
            "max_requests": 1_000_000}


def _load(job: dict[str, Any]) -> dict[str, Any]:
    timeout = job["duration_s"] + job["warmup_s"] + 60
    done = subprocess.run([sys.executable, "-m", "benchmarks.perf.loadgen"], cwd=REPO,
                          input=json.dumps(job), capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"the load generator failed: {done.stderr.strip()[-2000:]}")
    outcome: dict[str, Any] = json.loads(done.stdout)
    return outcome
