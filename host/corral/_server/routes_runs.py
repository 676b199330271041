"""``GET /v1/runs``: the caller's execution log, newest first, paged and filtered.

This module deliberately does not use ``from __future__ import annotations``: FastAPI
reads the annotations of the route functions at import time.
"""

import re
from functools import partial
from typing import Any, Literal

import anyio.to_thread
from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from .._errors import AccessDenied, ArgumentError
from .runs_store import MAX_PAGE, RunFilter
from .service import PROBLEM_RESPONSES, CallerDep, Service, ServiceDep

runs = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES)

_CURSOR = re.compile(r"r[0-9a-f]{25}")


class RunError(BaseModel):
    kind: str
    message: str


class LogLine(BaseModel):
    level: str
    message: str


class Run(BaseModel):
    id: str
    at: float = Field(description="When the run started (Unix seconds).")
    pack: str | None
    formula: str | None = Field(description="The formula, action or sync table run.")
    kind: Literal["formula", "action", "sync", "automation"]
    args: Any = Field(description="The call's arguments and connection id (never a secret).")
    outcome: Literal["ok", "error"]
    error: RunError | None
    duration_ms: float
    fuel: int
    fetches: int
    cache_hit: bool = Field(description="Answered from the result cache or formula memo.")
    logs: list[LogLine] = Field(description="The pack's log lines (at most 50).")
    automation: str | None = Field(description="The automation that made the run, if one did.")


class RunPage(BaseModel):
    runs: list[Run]
    next: str | None = Field(description="Pass as cursor for the next (older) page.")


@runs.get("/runs", response_model=RunPage, summary="The caller's recent runs, newest first")
async def list_runs(service: ServiceDep, principal: CallerDep,
                    limit: int = Query(50, ge=1, le=MAX_PAGE),
                    cursor: str | None = Query(None, description="`next` of the last page."),
                    pack: str | None = None, formula: str | None = None,
                    outcome: Literal["ok", "error"] | None = None,
                    automation: str | None = Query(None, description="Runs of one automation."),
                    of: str | None = Query(None, alias="principal",
                                           description="Whose runs (admins only).")
                    ) -> RunPage:
    if cursor is not None and not _CURSOR.fullmatch(cursor):
        raise ArgumentError("cursor is not a cursor this endpoint returned", field="cursor")
    whose = principal.name
    if of is not None and of != principal.name:
        if not principal.is_admin:
            raise AccessDenied("only an admin key may read another principal's runs")
        whose = of
    where = RunFilter(pack=pack, formula=formula, outcome=outcome, automation=automation)
    found, after = await anyio.to_thread.run_sync(partial(
        _settled_page, service, whose, limit=limit, cursor=cursor, where=where))
    return RunPage(runs=[Run.model_validate(run) for run in found], next=after)



def _settled_page(service: Service, whose: str, **query: Any
                  ) -> tuple[list[dict[str, Any]], str | None]:
    """A page that includes the runs this process queued before the request (this
    node's own calls are read back at once; another node's are as soon as it wrote them)."""
    service.runs.settle()
    return service.runs.store.page(whose, **query)
