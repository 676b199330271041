"""A small HTTP/1.1 load generator, run as its own process: ``python -m benchmarks.perf.loadgen``.

It reads one JSON job from stdin (so headers such as an API key never appear in a process
listing) and writes one JSON result to stdout. Each of ``connections`` keep-alive
connections sends requests back to back; requests finished during the first
``warmup_s`` are not counted; the run stops at ``duration_s`` or ``max_requests``,
whichever comes first. Only 127.0.0.1 is accepted as a target.

Job::

    {"port": 8000, "path": "/v1/...", "method": "POST", "headers": {...},
     "body": "{\\"args\\": [{n}, 2]}", "connections": 8, "duration_s": 3.0,
     "warmup_s": 0.5, "max_requests": 200000}

``{n}`` in the body is replaced by a per-request counter, so no two requests are identical.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any

HOST = "127.0.0.1"
REQUEST_TIMEOUT_S = 30.0


@dataclass
class _Tally:
    measure_from: float
    stop_at: float
    max_requests: int
    sent: int = 0
    latencies: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    first_error: str = ""

    def more(self) -> bool:
        return time.perf_counter() < self.stop_at and self.sent < self.max_requests


def _request_bytes(job: dict[str, Any], n: int) -> bytes:
    body = str(job.get("body", "")).replace("{n}", str(n)).encode()
    lines = [f"{job.get('method', 'GET')} {job['path']} HTTP/1.1", f"Host: {HOST}:{job['port']}",
             f"Content-Length: {len(body)}", "Content-Type: application/json"]
    lines += [f"{name}: {value}" for name, value in dict(job.get("headers", {})).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split(" ", 2)[1])
    length = None
    for line in header_lines:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    if length is None:
        raise ValueError("the response has no Content-Length (chunked replies are not supported)")
    await reader.readexactly(length)
    return status


async def _connection(job: dict[str, Any], tally: _Tally) -> None:
    reader, writer = await asyncio.open_connection(HOST, int(job["port"]))
    try:
        while tally.more():
            tally.sent += 1
            request = _request_bytes(job, tally.sent)
            started = time.perf_counter()
            try:
                writer.write(request)
                await writer.drain()
                status = await asyncio.wait_for(_read_response(reader), REQUEST_TIMEOUT_S)
            except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.TimeoutError,
                    asyncio.LimitOverrunError) as exc:
                tally.errors += 1
                tally.first_error = tally.first_error or f"{exc.__class__.__name__}: {exc}"
                writer.close()
                reader, writer = await asyncio.open_connection(HOST, int(job["port"]))
                continue
            finished = time.perf_counter()
            if finished >= tally.measure_from:
                tally.latencies.append(finished - started)
                tally.statuses[str(status)] = tally.statuses.get(str(status), 0) + 1
    finally:
        writer.close()


async def run(job: dict[str, Any]) -> dict[str, Any]:
    started, cpu_started = time.perf_counter(), time.process_time()
    warmup = float(job.get("warmup_s", 0.5))
    duration = float(job["duration_s"])
    tally = _Tally(measure_from=started + warmup, stop_at=started + warmup + duration,
                   max_requests=int(job.get("max_requests", 1_000_000)))
    await asyncio.gather(*(_connection(job, tally) for _ in range(int(job["connections"]))))
    measured = max(time.perf_counter() - tally.measure_from, 1e-9)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    ordered = sorted(tally.latencies)
    return {"requests": len(ordered), "seconds": measured, "sent": tally.sent,
            "per_s": len(ordered) / measured, "statuses": tally.statuses,
            "errors": tally.errors, "first_error": tally.first_error,
            "p50_ms": _nearest_rank(ordered, 0.5) * 1e3,
            "p99_ms": _nearest_rank(ordered, 0.99) * 1e3, "wall_s": wall, "cpu_s": cpu}


def _nearest_rank(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return math.nan
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def _event_loop_run(main: Any) -> Any:
    """uvloop when it is installed: the cheaper the generator, the more CPU the server gets."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def main() -> int:
    job = json.loads(sys.stdin.read())
    if job.get("host", HOST) != HOST:
        print(json.dumps({"error": "the load generator only targets 127.0.0.1"}))
        return 2
    print(json.dumps(_event_loop_run(run(job))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
