"""Operations: liveness, readiness and Prometheus metrics.

This module deliberately does not use ``from __future__ import annotations``: FastAPI
reads the annotations of the route functions at import time.
"""

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse

from .models import Ready, Status
from .problems import problem
from .service import PROBLEM_RESPONSES, ServiceDep, problem_response


#: What an unready node tells a load balancer to wait before asking again.
READY_RETRY_AFTER_S = 1

# -- operations ---------------------------------------------------------------------------

ops = APIRouter()


@ops.get("/healthz", response_model=Status, summary="Liveness")
async def healthz() -> Status:
    return Status(status="ok")


@ops.get("/readyz", response_model=Ready, responses={503: PROBLEM_RESPONSES[400]},
         summary="Readiness: started, not shutting down, and its shared stores reachable")
async def readyz(service: ServiceDep) -> Ready | JSONResponse:
    if not service.ready:
        return problem_response(problem(503, "unavailable", "the service is starting or "
                                          "shutting down"))
    unreachable = await asyncio.to_thread(service.host.unreachable_stores)
    if unreachable:
        return problem_response(problem(
            503, "store_unavailable", f"this node cannot reach {' or '.join(unreachable)}",
            headers={"Retry-After": str(READY_RETRY_AFTER_S)}, stores=unreachable))
    return Ready(status="ready", packs=len(service.host.registry.packs()),
                 call_path=service.host.sandbox.call_path)


@ops.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics")
async def metrics(service: ServiceDep) -> PlainTextResponse:
    service.host.metrics.call_path(service.host.sandbox.call_path)
    return PlainTextResponse(service.host.metrics.render(),
                             media_type="text/plain; version=0.0.4; charset=utf-8")
