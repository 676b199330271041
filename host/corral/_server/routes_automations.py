"""Automations over HTTP: CRUD at ``/v1/automations`` (each caller sees only its own),
and ``POST /v1/hooks/{secret}``, the webhook trigger (no API key: the secret in the URL
is the capability, and only its hash is stored).

This module deliberately does not use ``from __future__ import annotations``: FastAPI
reads the annotations of the route functions at import time.
"""

import json
from functools import partial
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import Response

from .._errors import ArgumentError, Conflict, NotFoundError, Overloaded
from .automations import shown
from .automations_model import (
    AutomationCreated,
    AutomationIn,
    AutomationList,
    AutomationOut,
    AutomationRun,
    HookAccepted,
    check_definition,
)
from .service import PROBLEM_RESPONSES, CallerDep, Service, ServiceDep

automations = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES)
HOOK_PREFIX = "/v1/hooks/"
_CONFLICT: dict[int | str, dict[str, Any]] = {409: PROBLEM_RESPONSES[400] | {"description": "Over the automation quota, or "
                                                           "the automation is disabled"}}


@automations.get("/automations", response_model=AutomationList,
                 summary="Your automations")
async def list_automations(service: ServiceDep, principal: CallerDep) -> AutomationList:
    found = await _blocking(service.automations.store.owned_by, principal.name)
    return AutomationList(automations=[AutomationOut.model_validate(shown(r)) for r in found])


@automations.post("/automations", status_code=201, response_model=AutomationCreated,
                  responses=_CONFLICT, summary="Create an automation (when → if → then)")
async def create_automation(body: AutomationIn, request: Request, service: ServiceDep,
                            principal: CallerDep) -> AutomationCreated:
    await _blocking(check_definition, service.host, principal.name, body)
    record, secret = await _blocking(service.automations.store.create, principal.name,
                                     body.model_dump())
    return _created(service, request, record, secret)


@automations.get("/automations/{automation_id}", response_model=AutomationOut,
                 summary="One of your automations")
async def get_automation(automation_id: str, service: ServiceDep,
                         principal: CallerDep) -> AutomationOut:
    record = await _blocking(service.automations.store.get, principal.name, automation_id)
    return AutomationOut.model_validate(shown(record))


@automations.put("/automations/{automation_id}", response_model=AutomationCreated,
                 summary="Replace an automation's definition (its state starts over)")
async def replace_automation(automation_id: str, body: AutomationIn, request: Request,
                             service: ServiceDep, principal: CallerDep) -> AutomationCreated:
    await _blocking(check_definition, service.host, principal.name, body)
    record, secret = await _blocking(service.automations.store.replace, principal.name,
                                     automation_id, body.model_dump())
    return _created(service, request, record, secret)


@automations.delete("/automations/{automation_id}", status_code=204,
                    response_class=Response, summary="Delete an automation")
async def delete_automation(automation_id: str, service: ServiceDep,
                            principal: CallerDep) -> Response:
    await _blocking(service.automations.store.delete, principal.name, automation_id)
    return Response(status_code=204)


@automations.post("/automations/{automation_id}/run", response_model=AutomationRun,
                  responses=_CONFLICT, summary="Run a scheduled or rows automation now")
async def run_automation(automation_id: str, service: ServiceDep,
                         principal: CallerDep) -> AutomationRun:
    store = service.automations.store
    record = await _blocking(store.get, principal.name, automation_id)
    if record["definition"]["trigger"]["type"] == "webhook":
        raise ArgumentError("a webhook automation runs when its URL is called",
                            field="trigger.type")
    now = store.clock()
    claimed = await _blocking(store.claim, automation_id, now, at_once=True)
    if claimed is None:
        if record["status"] == "disabled":
            _refuse(record, now)
        raise Conflict("a run of this automation is under way", field="automation")
    fired = await service.run(principal.name, service.automations.runner.run_due, claimed,
                              now)
    return AutomationRun(runs=[HookAccepted.model_validate(
        {"run": f.run, "outcome": f.outcome}) for f in fired])


@automations.post("/hooks/{secret}", response_model=HookAccepted, responses=_CONFLICT,
                  summary="Trigger a webhook automation (the URL is its secret; no key)")
async def webhook(secret: str, request: Request, service: ServiceDep) -> HookAccepted:
    store = service.automations.store
    record = await _blocking(store.by_hook, secret) if secret.startswith("wh_") else None
    if record is None:
        raise NotFoundError("no automation has this webhook URL")
    claimed = await _blocking(store.claim, record["id"], store.clock(), webhook=True)
    if claimed is None:
        _refuse(record, store.clock())
    payload = _payload(await request.body(), request.headers.get("content-type", ""))
    fired = await service.run(_owner(claimed), service.automations.runner.run_hook,
                              claimed, payload)
    return HookAccepted.model_validate({"run": fired.run, "outcome": fired.outcome})


def shown_path(path: str) -> str:
    """``path`` fit for a log line: a webhook URL's secret left out."""
    return HOOK_PREFIX + "…" if path.startswith(HOOK_PREFIX) else path


def _refuse(record: dict[str, Any], now: float) -> None:
    if record["status"] == "disabled":
        raise Conflict("this automation is disabled; its owner may enable it again",
                       field="enabled")
    wait = max((record["next_run_at"] or now) - now, 1.0)
    raise Overloaded(f"this automation is failing and backs off for {wait:.0f} s",
                     retry_after_s=round(wait))


def _payload(raw: bytes, content_type: str) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        if "json" in content_type:
            raise ArgumentError("the webhook body is not valid JSON", field="body") from None
        return raw.decode("utf-8", "replace")


def _owner(record: dict[str, Any]) -> str:
    return str(record["owner"])


def _created(service: Service, request: Request, record: dict[str, Any],
             secret: str | None) -> AutomationCreated:
    url = None
    if secret is not None:
        base = service.invocation(request, None, None).protocol_and_host
        url = f"{base}{HOOK_PREFIX}{secret}"
    return AutomationCreated.model_validate({**shown(record), "webhook_url": url})


async def _blocking(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs))

