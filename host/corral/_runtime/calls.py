"""One pack call, one way down: resolve once, credentials, context, sandbox, metrics.

:class:`Calls` is what the scheduler runs calls through (its ``PackCatalog``) and what
sync tables open a :class:`CallSession` from. It resolves a name to the exact
:class:`~corral._runtime.pack.Pack` version once; that version travels with the call
(in :class:`~corral._calls.scheduler.ResolvedFormula`) down to the sandbox, so a version
activated mid-call never runs under the cache key of the one resolved. Nothing here
reaches back up into ``Host``.
"""

from __future__ import annotations

import functools
import itertools
import logging
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from .._calls.scheduler import ResolvedFormula
from .._errors import (ArgumentError, BlobError, CredentialError, DeadlineExceeded, InlineAbandoned,
                       NotFoundError)
from .._fetch.guest import GuestFetch
from .._metrics import Metrics
from .._pack.schema import check_result
from .._sandbox.sandbox import CallStats, HostCalls
from .._types import DEFAULT_INVOCATION, CallRequest, CallTally, Credentials, Invocation
from .blobs import GuestBlobs
from .pack import Pack
from .registry import Registry

if TYPE_CHECKING:
    from .._connections.store import ConnectionStore
    from .._fetch.client import FetchClient
    from .._stores.blobs import BlobStore

_INVOCATION_PREFIX = secrets.token_hex(8)
_invocation_counter = itertools.count(1)

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
           "error": logging.ERROR}


def _invocation_id() -> str:
    """Unique per call and process, without asking the OS for randomness on every call
    (it is an identifier, not a secret)."""
    return f"{_INVOCATION_PREFIX}{next(_invocation_counter):016x}"


@functools.lru_cache(maxsize=1024)
def _pack_logger(pack: str) -> logging.Logger:
    return logging.getLogger(f"corral.pack.{pack}")


class PackHostCalls:
    """The host functions of one pack call: fetch through the policy, logs to logging,
    blobs to the blob store."""

    def __init__(self, fetch: Callable[[], GuestFetch], pack: str,
                 blobs: GuestBlobs | None = None) -> None:
        self._fetch = fetch
        self._log = _pack_logger(pack)
        self._blobs = blobs

    def fetch(self, request: dict[str, Any], deadline: float) -> dict[str, Any]:
        return self._fetch().fetch(request, deadline)

    def blob(self, request: dict[str, Any], deadline: float) -> dict[str, Any]:
        if self._blobs is None:
            raise BlobError("this host has no blob store", rule="no_store")
        return self._blobs.store(request, deadline)

    def log(self, level: str, message: str) -> None:
        self._log.log(_LEVELS.get(level, logging.INFO), "%s", message)


class _InlineHostCalls:
    """The host functions of an inline attempt: no network (the first fetch abandons the
    attempt, before any I/O), and logs held back until the call completes, so an
    abandoned attempt leaves no trace."""

    def __init__(self, inner: PackHostCalls) -> None:
        self._inner = inner
        self._logs: list[tuple[str, str]] = []

    def fetch(self, request: dict[str, Any], deadline: float) -> dict[str, Any]:
        raise InlineAbandoned("the call fetches, so it runs on the pool")

    def blob(self, request: dict[str, Any], deadline: float) -> dict[str, Any]:
        raise InlineAbandoned("the call stores a blob, so it runs on the pool")

    def log(self, level: str, message: str) -> None:
        self._logs.append((level, message))

    def release_logs(self) -> None:
        for level, message in self._logs:
            self._inner.log(level, message)
        self._logs.clear()


@dataclass(frozen=True)
class CallSession:
    """Several ops of one pack under one caller's connection and one deadline (a sync and
    its pages, a two-way update, autocomplete)."""

    calls: Calls
    pack: Pack
    credentials: Credentials | None
    ctx: dict[str, Any]
    deadline: float
    principal: str | None = None
    invocation: Invocation = DEFAULT_INVOCATION

    def invoke(self, op: str, name: str, args: Sequence[Any],
               extra: Mapping[str, Any] | None = None) -> Any:
        stats = CallStats()
        started = time.perf_counter()
        outcome = "ok"
        try:
            return self.pack.invoke(op, name, list(args), ctx=self.ctx,
                                    host=self.calls.host_calls(self.pack, self.credentials,
                                                               self.principal, self.invocation),
                                    deadline=self.deadline, stats=stats, extra=extra)
        except Exception as exc:
            outcome = getattr(exc, "kind", "error")
            raise
        finally:
            self.calls.record(self.pack.name, name, outcome, started, stats,
                              tally=self.invocation.tally)


class Calls:
    """Resolves and runs pack calls: the one path every formula, action and table op takes."""

    def __init__(self, registry: Registry, metrics: Metrics, *,
                 fetch_client: Callable[[], FetchClient],
                 connections: Callable[[], ConnectionStore],
                 default_deadline_s: float,
                 blobs: Callable[[], BlobStore] | None = None,
                 invocation: Callable[..., Invocation] | None = None) -> None:
        self.registry = registry
        self._blobs = blobs
        #: Fills in the host's defaults (time zone, base URL) of a call's invocation.
        self.invocation = invocation or (lambda **_: DEFAULT_INVOCATION)
        self.metrics = metrics
        self._fetch_client = fetch_client
        self._connections = connections
        self.default_deadline_s = default_deadline_s
        #: (pack, formula) as written -> the resolution, reused only while its Pack is
        #: still the registry's active one.
        self._resolved: dict[tuple[str, str], ResolvedFormula] = {}

    # -- resolving ------------------------------------------------------------------------

    def resolve(self, pack: str, formula: str) -> ResolvedFormula:
        """The active version of ``pack`` and its ``formula``; the Pack travels with it."""
        found = self.registry.get(pack)
        key = (pack, formula)
        cached = self._resolved.get(key)
        if cached is not None and cached.loaded is found:
            return cached
        resolved = ResolvedFormula(pack=found.name, pack_hash=found.sha256,
                                   formula=found.manifest.formula(formula), loaded=found)
        if len(self._resolved) > 4096:
            self._resolved.clear()
        self._resolved[key] = resolved
        return resolved

    # -- running (the scheduler's PackCatalog) ---------------------------------------------

    def invoke(self, call: CallRequest, resolved: ResolvedFormula, *,
               deadline: float | None) -> Any:
        """Run one pack call in a fresh sandbox instance (no cache, no retries)."""
        return self._invoke(call, resolved, deadline, inline_budget_s=None)

    def check_connection(self, principal: str | None, connection_id: str) -> None:
        """NotFoundError unless the connection exists and is ``principal``'s (read afresh
        from the store): asked before a cached or memoised answer is given."""
        self._connections().get(principal or "local", connection_id)

    def invoke_inline(self, call: CallRequest, resolved: ResolvedFormula, *,
                      deadline: float | None, budget_s: float) -> Any:
        """An inline attempt of :meth:`invoke`: at most ``budget_s`` and no network.
        Raises ``InlineAbandoned`` if the call needs more; nothing outside the sandbox
        happened by then, so the call can simply run again."""
        return self._invoke(call, resolved, deadline, inline_budget_s=budget_s)

    def _invoke(self, call: CallRequest, resolved: ResolvedFormula, deadline: float | None,
                inline_budget_s: float | None) -> Any:
        pack = _loaded_pack(resolved)
        definition = resolved.formula
        credentials = self.credentials(pack, definition.connection, call.connection_id,
                                       call.principal)
        ctx = _with_connection_facts(self.guest_ctx(call.connection_id, pack, call.invocation),
                                     credentials)
        op = "action" if definition.is_action else "formula"
        host_calls = self.host_calls(pack, credentials, call.principal, call.invocation)
        guest_host: HostCalls = host_calls
        limit = deadline
        if inline_budget_s is not None:
            guest_host = _InlineHostCalls(host_calls)
            budget_end = time.monotonic() + inline_budget_s
            limit = budget_end if deadline is None else min(deadline, budget_end)
        stats = CallStats()
        started = time.perf_counter()
        outcome: str | None = "ok"
        try:
            pack.check_parameters(definition, call.args, ctx=ctx, host=guest_host,
                                  deadline=limit)
            value = pack.invoke(op, definition.name, call.args, ctx=ctx, host=guest_host,
                                deadline=limit, stats=stats)
            value = check_result(definition.result, value, pack=pack.name,
                                 formula=definition.name)
        except InlineAbandoned:
            outcome = None
            raise
        except DeadlineExceeded as exc:
            if inline_budget_s is not None and (deadline is None or time.monotonic() < deadline):
                outcome = None  # the inline budget ran out, not the call's deadline
                raise InlineAbandoned("the call outran the inline budget",
                                      pack=pack.name, formula=definition.name) from exc
            outcome = exc.kind
            raise
        except Exception as exc:
            outcome = getattr(exc, "kind", "error")
            raise
        finally:
            if outcome is not None:  # the call completed (an abandoned attempt did not)
                self.record(pack.name, definition.name, outcome, started, stats,
                            tally=call.invocation.tally)
                if isinstance(guest_host, _InlineHostCalls):
                    guest_host.release_logs()
        return value

    def record(self, pack: str, name: str, outcome: str, started: float,
               stats: CallStats, *, tally: CallTally | None = None) -> None:
        """The one place call metrics are recorded (and added to the request's tally)."""
        self.metrics.call_done(pack, name, outcome, time.perf_counter() - started,
                               stats.fuel_used)
        if tally is not None:
            tally.add(pack, name, stats.fuel_used, stats.fetches, stats.logs)

    # -- what a call carries ----------------------------------------------------------------

    def guest_ctx(self, connection_id: str | None, pack: Pack,
                  invocation: Invocation = DEFAULT_INVOCATION) -> dict[str, Any]:
        """What every op's request carries in ``ctx`` (never a secret)."""
        ctx: dict[str, Any] = {"invocation_id": _invocation_id(),
                               "domains": pack.manifest.network_domains,
                               **invocation.ctx()}
        if connection_id:
            ctx["connection"] = {"id": connection_id}
        return ctx

    def credentials(self, pack: Pack, mode: str, connection_id: str | None,
                    principal: str | None) -> Credentials | None:
        """The connection's credentials for a call, checking the pack's connection mode."""
        manifest = pack.manifest
        if connection_id is None:
            if mode == "required" and manifest.auth.kind != "none":
                raise CredentialError(f"{manifest.name} needs a connection for this call; create "
                                      "one and pass its id", pack=manifest.name)
            return None
        if manifest.auth.kind == "none":
            raise ArgumentError(f"pack {manifest.name!r} takes no connection", pack=manifest.name)
        creds: Credentials = self._connections().credentials(principal or "local",
                                                             connection_id, manifest)
        return creds

    def host_calls(self, pack: Pack, credentials: Credentials | None,
                   principal: str | None,
                   invocation: Invocation = DEFAULT_INVOCATION) -> PackHostCalls:
        """The host functions of one call; the fetch client is made on the first fetch,
        the blob store on the first blob."""
        def fetch() -> GuestFetch:
            return GuestFetch(self._fetch_client(), self.metrics, pack=pack.name,
                              pack_hash=pack.sha256, principal=principal or "",
                              domains=pack.manifest.network_domains, credentials=credentials,
                              approved_domains=pack.approved_domains)

        blobs = (GuestBlobs(self._blobs, fetch, principal=principal or "local",
                            base_url=invocation.protocol_and_host)
                 if self._blobs is not None else None)
        return PackHostCalls(fetch, pack.name, blobs)

    def session(self, pack: Pack, mode: str, connection: str | None, principal: str | None,
                deadline_s: float | None,
                invocation: Invocation | None = None) -> CallSession:
        """A session for several ops of ``pack`` under one connection and deadline."""
        if deadline_s is not None and deadline_s <= 0:
            raise ArgumentError(f"deadline_s must be positive, got {deadline_s}")
        credentials = self.credentials(pack, mode, connection, principal)
        seconds = deadline_s if deadline_s is not None else self.default_deadline_s
        invocation = invocation or self.invocation()
        ctx = _with_connection_facts(self.guest_ctx(connection, pack, invocation), credentials)
        return CallSession(self, pack, credentials, ctx, time.monotonic() + seconds, principal,
                           invocation)

    def connection_name(self, principal: str, pack: Pack, connection_id: str) -> str | None:
        """Ask the pack (through its ``connection_name`` op) what to call a connection."""
        session = self.session(pack, "optional", connection_id, principal, None)
        try:
            value = session.invoke("connection_name", "", [])
        except NotFoundError:
            return None
        if not isinstance(value, str) or not value.strip():
            return None
        return value.strip()[:128]


def _with_connection_facts(ctx: dict[str, Any], credentials: Credentials | None
                           ) -> dict[str, Any]:
    """``ctx`` with what the guest may know of its connection beyond the id (its own
    endpoint, the custom-auth placeholder token): never a secret."""
    facts = getattr(credentials, "guest_facts", None)
    if callable(facts) and isinstance(ctx.get("connection"), dict):
        ctx["connection"].update(facts())
    return ctx


def _loaded_pack(resolved: ResolvedFormula) -> Pack:
    pack = resolved.loaded
    if not isinstance(pack, Pack):
        raise TypeError(f"{resolved.pack}.{resolved.formula.name} was not resolved by Calls")
    return pack
