"""What every route needs: the service state, the caller's key and role, shared helpers.

:class:`Service` (on ``app.state.corral``) holds the host, the API keys, the capacity gate
and the per-principal rate limiter; the dependencies here turn a request's bearer key
into a :class:`Principal` (or a 401/403) before a route runs.

Pack code never runs on the event loop. Each blocking host call goes through a
:class:`CallGate` that is fair per principal: at most ``global_concurrency`` run at once
(``principal_concurrency`` of them one caller's), at most ``max_queue`` wait for a turn
(``principal_queue`` of them one caller's), and anyone beyond that is told 429 with
``Retry-After`` instead of joining an unbounded queue. Result-cache hits and formula-memo
answers never wait behind the gate. Each principal also has a token bucket
(``rate_limit_per_s``, ``rate_limit_burst``); requests without a valid key have one per
client address (``public_rate_limit_per_s``, ``public_rate_limit_burst``), and every
request's key is checked, and its body capped, before the body is read (``guard.py``).

No ``from __future__ import annotations`` here: FastAPI reads these annotations at import.
"""

import asyncio
import math
import time
from concurrent.futures import Future
from typing import Annotated, Any, Awaitable, Callable, Mapping, Sequence, TypeVar

from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .._calls.result_cache import result_key
from .._calls.scheduler import ResolvedFormula
from .._errors import AccessDenied, CacheError, OutputTooLarge, Overloaded, PayloadTooLarge
from .._formula.memo import FormulaMemo
from .._host import Host
from .._pack.abi import MAX_DEPTH, exceeds_depth
from .._pack.coerce import coerce_args
from .._settings import Settings
from .._types import Invocation
from .admission import CallGate, Probe
from .redis_admission import rate_limiter, shared_slots
from .apikeys import ApiKeyStore, Principal
from .models import ProblemDocument
from .problems import PROBLEM_MEDIA_TYPE, Problem
from .automations import Automations
from .runs import open_execution_log
from .sessions import SessionStore


T = TypeVar("T")

#: The request header naming the caller's time zone, when the body gives none.
TIMEZONE_HEADER = "corral-timezone"
_TIMEZONE_RAW = TIMEZONE_HEADER.encode()
#: How many distinct call contexts and base URLs are remembered before starting afresh.
_REMEMBERED = 1024


def _header(scope: Mapping[str, Any], name: bytes) -> str | None:
    """A header as ``request.headers.get`` reads it (the first of that name)."""
    for key, value in scope.get("headers", ()):
        if key == name:  # ASGI servers give header names in lower case
            return str(value.decode("latin-1"))
    return None


class Service:
    """What the route functions need, kept on ``app.state.corral``."""

    def __init__(self, host: Host, settings: Settings, keys: ApiKeyStore, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.host = host
        self.settings = settings
        self.keys = keys
        link, strict = host.redis_link, settings.rate_limit_strict
        self.gate = CallGate(settings.global_concurrency, settings.max_queue,
                             share=settings.principal_concurrency,
                             share_queue=settings.principal_queue,
                             shared=shared_slots(link, settings.cluster_principal_concurrency,
                                                 lease_s=settings.evaluate_deadline_s + 5))
        self.rate = rate_limiter(link, settings.rate_limit_per_s, settings.rate_limit_burst,
                                 scope="key", strict=strict, clock=clock)
        self.public_rate = rate_limiter(link, settings.public_rate_limit_per_s,
                                        settings.public_rate_limit_burst, scope="address",
                                        strict=strict, clock=clock)
        self.sessions = SessionStore(settings.data_dir / "console-sessions",
                                     store_url=settings.store_url)
        self.runs = open_execution_log(settings, host.metrics, clock=host.clock)
        self.automations = Automations(host, settings, self.runs)
        self.ready = False
        self._invocations: dict[tuple[str | None, str | None, str | None], Invocation] = {}
        self._base_urls: dict[tuple[Any, ...], str] = {}
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    async def run(self, who: str, fn: Callable[..., T], *args: Any,
                  probe: Probe | None = None) -> T:
        """``fn(*args)`` on a worker thread, in ``who``'s share of the gate."""
        try:
            return await self.gate.run(who, fn, *args, probe=probe)
        except Overloaded as exc:
            await self.refused("capacity", exc)
            raise

    async def await_future(self, who: str, submit: Callable[[], Future[T]], *,
                           probe: Probe | None = None) -> T:
        try:
            return await self.gate.await_future(who, submit, probe=probe)
        except Overloaded as exc:
            await self.refused("capacity", exc)
            raise

    async def refused(self, reason: str, exc: Overloaded) -> None:
        """Count a 429 and hold it back a little (``refusal_delay_s``): a refused caller
        retrying at once then costs the service a request a second per connection, not
        a busy loop of refusals."""
        self.host.metrics.inc("corral_rejected_total", reason=reason)
        retry_after = getattr(exc, "retry_after_s", None) or self.settings.refusal_delay_s
        delay = min(float(retry_after), self.settings.refusal_delay_s)
        if delay > 0:
            await self.sleep(delay)

    def host_clock(self) -> float:
        """The host's wall clock (the one blob expiry is measured on)."""
        return self.host.clock()

    def invocation(self, request: Request, timezone: str | None,
                   doc_id: str | None) -> Invocation:
        """The call's context: the body's time zone, else the ``Corral-Timezone`` header,
        else the host's default; the base URL is ``public_url``, else the request's.

        Both are remembered (a few distinct ones per deployment): building a URL and
        checking a zone each request cost more than the rest of a small call's context."""
        scope = request.scope
        zone = timezone if timezone is not None else _header(scope, _TIMEZONE_RAW)
        base = None if self.settings.public_url else self._base_url(scope)
        key = (zone, base, doc_id)
        known = self._invocations.get(key)
        if known is None:
            known = self.host.invocation(timezone=zone, doc_id=doc_id, base_url=base)
            if len(self._invocations) >= _REMEMBERED:
                self._invocations.clear()
            self._invocations[key] = known
        return known

    def _base_url(self, scope: Mapping[str, Any]) -> str:
        """``str(request.base_url)``, from what Starlette builds it of."""
        server = scope.get("server")
        key = (scope.get("scheme"), tuple(server) if server else None, _header(scope, b"host"),
               scope.get("app_root_path", scope.get("root_path", "")))
        known = self._base_urls.get(key)
        if known is None:
            known = str(Request(dict(scope)).base_url)
            if len(self._base_urls) >= _REMEMBERED:
                self._base_urls.clear()
            self._base_urls[key] = known
        return known

    def cached_call(self, resolved: ResolvedFormula, args: Sequence[Any],
                    connection: str | None, principal: str,
                    invocation: Invocation) -> Probe:
        """A probe answering a pack call from the result cache (the key the scheduler
        would use), for a call that would otherwise wait for a slot."""
        def probe() -> tuple[bool, Any]:
            formula = resolved.formula
            if formula.is_action or not formula.cacheable:
                return False, None
            coerced = coerce_args(formula, list(args), pack=resolved.pack)
            key = result_key(resolved.pack, resolved.pack_hash, formula.name, coerced,
                             connection, principal, invocation.cache_scope())
            try:
                hit = self.host.result_cache.get(key)
            except CacheError:
                return False, None
            if hit is None or connection:  # the scheduler checks the connection first
                return False, None
            self.host.metrics.cache_lookup(True)
            return True, hit.value

        return probe

    async def shared_cache_answer(self, resolved: ResolvedFormula, args: Sequence[Any],
                                  connection: str | None, principal: str,
                                  invocation: Invocation) -> tuple[bool, Any] | None:
        """With a result cache the nodes share (Redis), the call's cached answer read on
        the event loop without blocking it: ``(found, value)``. None when the cache is the
        node's own (the scheduler looks it up, in microseconds) or the call is uncacheable."""
        formula = resolved.formula
        if self.host.redis_link is None or formula.is_action or not formula.cacheable:
            return None
        aget = getattr(self.host.result_cache, "aget", None)
        if aget is None:
            return None
        coerced = coerce_args(formula, list(args), pack=resolved.pack)
        hit = await aget(result_key(resolved.pack, resolved.pack_hash, formula.name, coerced,
                                    connection, principal, invocation.cache_scope()))
        self.host.metrics.cache_lookup(hit is not None)
        if hit is not None and connection:
            # A deleted connection (on any node) must stop answering, cached or not.
            await asyncio.to_thread(self.host.connections.get, principal, connection)
        return (True, hit.value) if hit is not None else (False, None)

    def memo_answer(self, text: str, principal: str,
                    connections: Mapping[str, str] | None, invocation: Invocation,
                    variables: Mapping[str, Any] | None = None) -> Probe:
        """A probe answering a formula from the evaluator's memo."""
        def probe() -> tuple[bool, Any]:
            memo = self.host.evaluator.memo
            return memo.get(FormulaMemo.key(text, principal, dict(connections or {}),
                                            variables, invocation.cache_scope()))

        return probe


# -- dependencies -------------------------------------------------------------------------

_bearer = HTTPBearer(auto_error=False, description="An API key from `corral keys create`.")


async def service_dep(request: Request) -> Service:
    service: Service = request.app.state.corral
    return service


ServiceDep = Annotated[Service, Depends(service_dep)]


PRINCIPAL_STATE = "corral_principal"
"""Where ``guard.py`` leaves the principal it admitted, in the request's state."""


async def caller(request: Request, service: ServiceDep,
                  credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
                  ) -> Principal:
    admitted: Principal | None = getattr(request.state, PRINCIPAL_STATE, None)
    if admitted is not None:
        return admitted
    return admit(service, credentials.credentials if credentials else None)


def principal_of(request: Request) -> Principal:
    """The caller the guard admitted (or, without the guard, the key's owner)."""
    admitted: Principal | None = getattr(request.state, PRINCIPAL_STATE, None)
    if admitted is not None:
        return admitted
    return admit(request.app.state.corral, bearer_key(request))


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
