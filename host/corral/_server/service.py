"""What every route needs: the service state, the caller's key and role, shared helpers.

:class:`Service` (on ``app.state.corral``) holds the host, the API keys, the capacity gate
and the per-principal rate limiter; the dependencies here turn a request's bearer key
into a :class:`Principal` (or a 401/403) before a route runs.

No ``from __future__ import annotations`` here: FastAPI reads these annotations at import.
"""

import math
from concurrent.futures import Future
from typing import Annotated, Any, Callable, TypeVar

from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .._errors import AccessDenied, OutputTooLarge, Overloaded, PayloadTooLarge
from .._host import Host
from .._pack.abi import MAX_DEPTH, exceeds_depth
from .._settings import Settings
from .admission import CallGate, RateLimiter
from .apikeys import ApiKeyStore, Principal
from .models import ProblemDocument
from .problems import PROBLEM_MEDIA_TYPE, Problem


T = TypeVar("T")


class Service:
    """What the route functions need, kept on ``app.state.corral``."""

    def __init__(self, host: Host, settings: Settings, keys: ApiKeyStore) -> None:
        self.host = host
        self.settings = settings
        self.keys = keys
        self.gate = CallGate(settings.global_concurrency, settings.max_queue)
        self.rate = RateLimiter(settings.rate_limit_per_s, settings.rate_limit_burst)
        self.ready = False

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return await self.gate.run(fn, *args)
        except Overloaded:
            self.host.metrics.inc("corral_rejected_total", reason="capacity")
            raise

    async def await_future(self, submit: Callable[[], Future[T]]) -> T:
        try:
            return await self.gate.await_future(submit)
        except Overloaded:
            self.host.metrics.inc("corral_rejected_total", reason="capacity")
            raise


# -- dependencies -------------------------------------------------------------------------

_bearer = HTTPBearer(auto_error=False, description="An API key from `corral keys create`.")


async def service_dep(request: Request) -> Service:
    service: Service = request.app.state.corral
    return service


ServiceDep = Annotated[Service, Depends(service_dep)]


async def caller(service: ServiceDep,
                  credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
                  ) -> Principal:
    return admit(service, credentials.credentials if credentials else None)


def admit(service: Service, key: str | None) -> Principal:
    """The caller a key belongs to, if it is within its rate limit."""
    principal = service.keys.authenticate(key)
    try:
        service.rate.check(principal.name)
    except Overloaded:
        service.host.metrics.inc("corral_rejected_total", reason="rate_limit")
        raise
    return principal


def bearer_key(request: Request) -> str | None:
    """What ``HTTPBearer`` reads from the Authorization header, without a dependency."""
    scheme, _, key = (request.headers.get("authorization") or "").partition(" ")
    return key.strip() if scheme.lower() == "bearer" and key.strip() else None


CallerDep = Annotated[Principal, Depends(caller)]


async def admin(principal: CallerDep) -> Principal:
    if not principal.is_admin:
        raise AccessDenied("this endpoint needs an admin key")
    return principal


AdminDep = Annotated[Principal, Depends(admin)]

PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ProblemDocument, "description": description, "content": {
        PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemDocument"}}}}
    for status, description in ((400, "Bad input"), (401, "Missing or unknown API key"),
                                (403, "Not allowed for this key"), (404, "Not found"),
                                (429, "Over capacity or rate limit; see Retry-After"),
                                (502, "The pack or an upstream API failed"),
                                (504, "Timed out"))
}


async def read_capped(request: Request, cap: int) -> bytes:
    too_large = PayloadTooLarge(f"the upload is larger than the limit of {cap} bytes "
                                "(max_upload_bytes)", field="body")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def to_json(value: Any) -> Any:
    """A pack value as JSON: bytes become ``{"$binary": hex}``, non-finite floats strings.

    A value nested deeper than ``MAX_DEPTH`` (pack results and formula values are refused
    sooner; this is the last check before the encoder) is the pack's fault: 502."""
    if exceeds_depth(value):
        raise OutputTooLarge(f"the response nests lists and maps deeper than {MAX_DEPTH} "
                             "levels", limit="max_depth", value=MAX_DEPTH)
    return _to_json(value)


def _to_json(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$binary": bytes(value).hex()}
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    return value


def problem_response(found: Problem) -> JSONResponse:
    return JSONResponse(found.body, status_code=found.status, headers=found.headers,
                        media_type=PROBLEM_MEDIA_TYPE)
