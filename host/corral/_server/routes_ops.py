"""Operations: liveness, readiness and Prometheus metrics.

This module deliberately does not use ``from __future__ import annotations``: FastAPI
reads the annotations of the route functions at import time.
"""


from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse

from .models import Status
from .problems import problem
from .service import PROBLEM_RESPONSES, ServiceDep, problem_response


# -- operations ---------------------------------------------------------------------------

ops = APIRouter()


@ops.get("/healthz", response_model=Status, summary="Liveness")
async def healthz() -> Status:
    return Status(status="ok")


@ops.get("/readyz", response_model=Status, responses={503: PROBLEM_RESPONSES[400]},
         summary="Readiness: packs loaded and not shutting down")
async def readyz(service: ServiceDep) -> Status | JSONResponse:
    if not service.ready:
        return problem_response(problem(503, "unavailable", "the service is starting or "
                                          "shutting down"))
    return Status(status="ready", packs=len(service.host.registry.packs()))


@ops.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics")
async def metrics(service: ServiceDep) -> PlainTextResponse:
    return PlainTextResponse(service.host.metrics.render(),
                             media_type="text/plain; version=0.0.4; charset=utf-8")
