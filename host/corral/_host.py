"""The Host: one object that ties packs, sandbox, fetch, connections, cache and scheduler.

``Host`` is what the CLI, the HTTP service and Python callers use::

    with Host.from_settings(data_dir=".corral") as host:
        host.register_dir("packs/hello")
        host.call("hello", "Greet", "Ada")
        host.evaluate('=hello.Greet("Ada") & "!"')
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import secrets
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

from ._pack.coerce import coerce_args
from ._errors import (ArgumentError, CredentialError, DeadlineExceeded, FetchNetworkError,
                      InlineAbandoned, NotFoundError)
from ._pack.manifest import FormulaDef
from ._metrics import Metrics
from ._runtime.pack import Pack
from ._runtime.registry import Registry
from ._sandbox.sandbox import CallStats, HostCalls, Sandbox, SandboxConfig
from ._pack.schema import check_result
from ._settings import Settings, load_settings
from ._types import CallRequest, Credentials

if TYPE_CHECKING:
    from ._connections.store import ConnectionStore
    from ._formula.evaluator import Evaluator
    from ._fetch.client import FetchClient
    from ._fetch.cache import FetchCache
    from ._calls.result_cache import ResultCache
    from ._calls.scheduler import ResolvedFormula, Scheduler

log = logging.getLogger("corral.host")


_INVOCATION_PREFIX = secrets.token_hex(8)
_invocation_counter = itertools.count(1)


def _invocation_id() -> str:
    """Unique per call and process, without asking the OS for randomness on every call
    (it is an identifier, not a secret)."""
    return f"{_INVOCATION_PREFIX}{next(_invocation_counter):016x}"


@functools.lru_cache(maxsize=1024)
def _pack_logger(pack: str) -> logging.Logger:
    return logging.getLogger(f"corral.pack.{pack}")


class _PackHostCalls:
    """The host functions of one pack call: fetch through the policy, logs to logging."""

    def __init__(self, host: Host, pack: Pack, credentials: Credentials | None) -> None:
        self._host = host
        self._pack = pack
        self._credentials = credentials
        self._log = _pack_logger(pack.name)

    def fetch(self, request: dict[str, Any], deadline: float) -> dict[str, Any]:
        want_json = bool(request.pop("json", False))
        json_body = request.pop("json_body", None)
        if json_body is not None:
            request["body"] = json.dumps(json_body, separators=(",", ":"))
            headers = dict(request.get("headers") or {})
            headers.setdefault("Content-Type", "application/json")
            request["headers"] = headers
        started = time.perf_counter()
        try:
            response: dict[str, Any] = self._host.fetch_client.fetch(
                request, pack=self._pack.name, domains=self._pack.manifest.network_domains,
                credentials=self._credentials, deadline=deadline)
        except Exception as exc:
            self._host.metrics.fetch_done(self._pack.name, getattr(exc, "kind", "error"),
                                          getattr(exc, "rule", None), time.perf_counter() - started)
            raise
        self._host.metrics.fetch_done(self._pack.name, "ok", None, time.perf_counter() - started)
        if want_json:
            response = _with_json(response)
        if self._credentials is not None:
            response = _redact(response, _secret_forms(self._credentials.secret_values()))
        return response

    def log(self, level: str, message: str) -> None:
        self._log.log(_LEVELS.get(level, logging.INFO), "%s", message)


class _InlineHostCalls:
    """The host functions of an inline attempt: no network (the first fetch abandons the
    attempt, before any I/O), and logs held back until the call completes, so an
    abandoned attempt leaves no trace."""

    def __init__(self, inner: _PackHostCalls) -> None:
        self._inner = inner
        self._logs: list[tuple[str, str]] = []

    def fetch(self, request: dict[str, Any], deadline: float) -> dict[str, Any]:
        raise InlineAbandoned("the call fetches, so it runs on the pool")

    def log(self, level: str, message: str) -> None:
        self._logs.append((level, message))

    def release_logs(self) -> None:
        for level, message in self._logs:
            self._inner.log(level, message)
        self._logs.clear()


_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
           "error": logging.ERROR}


REDACTED = "[redacted by corral]"


def _secret_forms(secrets: frozenset[str]) -> list[str]:
    """Each secret as sent and as an API might echo it back (URL-encoded)."""
    from urllib.parse import quote, quote_plus

    forms = {form for s in secrets for form in (s, quote(s, safe=""), quote_plus(s))}
    return sorted(forms, key=len, reverse=True)


def _redact(value: Any, secrets: list[str]) -> Any:
    """The response with every injected secret replaced, wherever the API echoed it."""
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, (bytes, bytearray)):
        data = bytes(value)
        for secret in secrets:
            data = data.replace(secret.encode(), REDACTED.encode())
        return data
    if isinstance(value, dict):
        return {_redact(k, secrets): _redact(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v, secrets) for v in value]
    return value


def _with_json(response: dict[str, Any]) -> dict[str, Any]:
    body = response.get("body", "")
    try:
        response["json"] = json.loads(body) if body else None
        response["body"] = ""
    except (ValueError, TypeError) as exc:
        raise FetchNetworkError(f"the response body is not valid JSON: {exc}", rule="json") from exc
    return response


@dataclass(frozen=True)
class ResolvedCall:
    pack: Pack
    formula: FormulaDef


class Host:
    """Registry, sandbox, fetch, connections, caches and the scheduler, behind one API."""

    def __init__(self, settings: Settings | None = None, *, fetch_transport: Any = None,
                 resolver: Any = None, clock: Any = None) -> None:
        self.settings = settings or Settings()
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.sandbox = Sandbox(SandboxConfig(cache_dir=self.settings.module_cache_dir))
        self.registry = Registry(self.settings.data_dir / "packs", self.sandbox)
        self.metrics = Metrics()
        self._fetch_transport = fetch_transport
        self._resolver = resolver
        self._clock = clock or time.time
        self._lock = threading.RLock()
        self._fetch_client: FetchClient | None = None
        self._fetch_cache: FetchCache | None = None
        self._connections: ConnectionStore | None = None
        self._scheduler: Scheduler | None = None
        self._evaluator: Evaluator | None = None
        self._result_cache: ResultCache | None = None
        self._closed = False
        #: (pack, formula) as written -> (the Pack it resolved against, the resolution);
        #: reused only while that Pack is still the registry's active one.
        self._resolved: dict[tuple[str, str], tuple[Pack, ResolvedFormula]] = {}
        for path in self.settings.packs:
            self.register_path(path)

    @classmethod
    def from_settings(cls, config_file: str | None = None, **overrides: Any) -> Host:
        return cls(load_settings(config_file, **overrides))

    # -- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        """Release the pools, caches and stores. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for part in (self._scheduler, self._fetch_client, self._fetch_cache, self._result_cache,
                     self._connections):
            if part is not None:
                part.close()
        self.sandbox.close()

    def __enter__(self) -> Host:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- parts, made on first use so `corral call` stays cheap -----------------------------

    @property
    def fetch_client(self) -> FetchClient:
        with self._lock:
            if self._fetch_client is None:
                from ._fetch.client import FetchClient, FetchConfig
                from ._fetch.cache import FetchCache

                config = FetchConfig(allow_http=self.settings.allow_http,
                                     host_map=dict(self.settings.host_map),
                                     **({"resolver": self._resolver} if self._resolver else {}))
                self._fetch_cache = FetchCache(self.settings.data_dir / "fetch-cache",
                                               map_size=self.settings.fetch_cache_bytes)
                self._fetch_client = FetchClient(config, cache=self._fetch_cache,
                                                 transport=self._fetch_transport)
            return self._fetch_client

    @property
    def connections(self) -> ConnectionStore:
        with self._lock:
            if self._connections is None:
                from ._connections.store import ConnectionStore
                from ._connections.crypto import KeyRing

                keyring = KeyRing.from_env_or_file(self.settings.data_dir / "secret.key",
                                                   env_key=self.settings.secret_key)
                self._connections = ConnectionStore(
                    self.settings.data_dir / "connections", keyring,
                    http=self._oauth_http_client(), map_size=self.settings.connections_map_bytes)
            return self._connections

    def _oauth_http_client(self) -> Any:
        """OAuth2 token calls go through the same policy-enforcing transport as fetches."""
        import httpx

        from ._fetch.client import PinnedTransport

        transport = self._fetch_transport or PinnedTransport(self.fetch_client.config)
        return httpx.Client(transport=transport, trust_env=False, timeout=15.0)

    @property
    def result_cache(self) -> ResultCache:
        with self._lock:
            if self._result_cache is None:
                from ._calls.result_cache import ResultCache

                self._result_cache = ResultCache(self.settings.data_dir / "result-cache",
                                                 map_size=self.settings.result_cache_bytes,
                                                 clock=self._clock)
            return self._result_cache

    @property
    def scheduler(self) -> Scheduler:
        cache = self.result_cache
        with self._lock:
            if self._scheduler is None:
                from ._calls.scheduler import Scheduler, SchedulerConfig

                config = SchedulerConfig(max_workers=self.settings.max_workers,
                                         global_concurrency=self.settings.global_concurrency,
                                         per_pack_concurrency=self.settings.per_pack_concurrency,
                                         default_deadline_s=self.settings.evaluate_deadline_s,
                                         inline_budget_s=self.settings.inline_budget_ms / 1000)
                self._scheduler = Scheduler(self, cache, config,
                                            on_cache_lookup=self.metrics.cache_lookup)
            return self._scheduler

    @property
    def evaluator(self) -> Evaluator:
        scheduler = self.scheduler
        with self._lock:
            if self._evaluator is None:
                from ._formula.evaluator import Evaluator

                self._evaluator = Evaluator(self, scheduler, clock=self._clock)
            return self._evaluator

    # -- packs ----------------------------------------------------------------------------

    def register_path(self, path: str | Path) -> Pack:
        path = Path(path)
        if path.is_dir():
            return self.register_dir(path)
        return self.register_file(path)

    def register_dir(self, pack_dir: str | Path) -> Pack:
        """Build (cached) and register the pack in ``pack_dir``."""
        from ._toolchain.build import build_pack

        result = build_pack(pack_dir)
        return self.register_file(result.path)

    def register_file(self, wasm_file: str | Path) -> Pack:
        path = Path(wasm_file)
        try:
            wasm = path.read_bytes()
        except OSError as exc:
            raise NotFoundError(f"cannot read pack {path}: {exc.strerror}") from exc
        return self.registry.register(wasm, source=str(path))

    def register_bytes(self, wasm: bytes, *, source: str | None = None) -> Pack:
        return self.registry.register(wasm, source=source)

    def pack(self, name: str) -> Pack:
        return self.registry.get(name)

    # -- PackCatalog (what the scheduler calls) --------------------------------------------

    def resolve(self, pack: str, formula: str) -> ResolvedFormula:
        found = self.registry.get(pack)
        key = (pack, formula)
        cached = self._resolved.get(key)
        if cached is not None and cached[0] is found:
            return cached[1]
        from ._calls.scheduler import ResolvedFormula

        resolved = ResolvedFormula(pack=found.name, pack_hash=found.sha256,
                                   formula=found.manifest.formula(formula))
        if len(self._resolved) > 4096:
            self._resolved.clear()
        self._resolved[key] = (found, resolved)
        return resolved

    def invoke(self, call: CallRequest, *, deadline: float | None) -> Any:
        """Run one pack call in a fresh sandbox instance (no cache, no retries)."""
        return self._invoke(call, deadline, inline_budget_s=None)

    def invoke_inline(self, call: CallRequest, *, deadline: float | None,
                      budget_s: float) -> Any:
        """An inline attempt of :meth:`invoke`: at most ``budget_s`` and no network.
        Raises ``InlineAbandoned`` if the call needs more; nothing outside the sandbox
        happened by then, so the call can simply run again."""
        return self._invoke(call, deadline, inline_budget_s=budget_s)

    def _invoke(self, call: CallRequest, deadline: float | None,
                inline_budget_s: float | None) -> Any:
        pack = self.registry.get(call.pack)
        definition = pack.manifest.formula(call.formula)
        credentials = self.credentials(pack, definition.connection,
                                       call.connection_id, call.principal)
        ctx = self.guest_ctx(call.connection_id, pack)
        op = "action" if definition.is_action else "formula"
        host_calls = _PackHostCalls(self, pack, credentials)
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
            value = pack.invoke(op, definition.name, call.args, ctx=ctx, host=guest_host,
                                deadline=limit, stats=stats)
            check_result(definition.result, value, pack=pack.name, formula=definition.name)
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
                self.metrics.call_done(pack.name, definition.name, outcome,
                                       time.perf_counter() - started, stats.fuel_used)
                if isinstance(guest_host, _InlineHostCalls):
                    guest_host.release_logs()
        return value

    def guest_ctx(self, connection_id: str | None, pack: Pack) -> dict[str, Any]:
        """What every op's request carries in ``ctx`` (never a secret)."""
        ctx: dict[str, Any] = {"invocation_id": _invocation_id(),
                               "domains": pack.manifest.network_domains}
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
        creds: Credentials = self.connections.credentials(principal or "local", connection_id,
                                                          manifest)
        return creds

    # -- calling --------------------------------------------------------------------------

    def call(self, pack: str, formula: str, *args: Any, connection: str | None = None,
             principal: str | None = None, deadline_s: float | None = None) -> Any:
        """Call a formula or action with coercion, caching and retries."""
        return self.submit_call(pack, formula, *args, connection=connection,
                                principal=principal, deadline_s=deadline_s).result()

    def submit_call(self, pack: str, formula: str, *args: Any, connection: str | None = None,
                    principal: str | None = None,
                    deadline_s: float | None = None) -> Future[Any]:
        """Like :meth:`call`, but returns at once with a future of the result (arguments
        are checked before it returns); an event loop can await it without a thread."""
        resolved = self.resolve(pack, formula)
        coerced = coerce_args(resolved.formula, args, pack=resolved.pack)
        request = CallRequest(resolved.pack, resolved.formula.name, coerced, connection,
                              principal)
        deadline = time.monotonic() + (deadline_s or self.settings.evaluate_deadline_s)
        return self.scheduler.submit(request, resolved, deadline)

    def evaluate(self, text: str, *, principal: str | None = None,
                 connections: Mapping[str, str] | None = None,
                 deadline_s: float | None = None) -> Any:
        """Evaluate a formula such as ``=hello.Greet("Ada") & "!"``."""
        return self.evaluator.evaluate(text, principal=principal, connections=connections,
                                       deadline_s=deadline_s)

    def sync(self, pack: str, table: str, *args: Any, connection: str | None = None,
             principal: str | None = None, deadline_s: float | None = None,
             max_pages: int | None = None,
             dynamic_url: str | None = None) -> Iterator[list[dict[str, Any]]]:
        """Run a sync table, yielding validated pages of rows as they arrive."""
        from ._runtime.tables import run_sync

        return run_sync(self, self.registry.get(pack), table, list(args), connection=connection,
                        principal=principal, deadline_s=deadline_s, max_pages=max_pages,
                        dynamic_url=dynamic_url)

    def sync_update(self, pack: str, table: str, updates: Sequence[Mapping[str, Any]],
                    *args: Any, connection: str | None = None, principal: str | None = None,
                    dynamic_url: str | None = None) -> list[Any]:
        """Two-way sync: send edited rows back; one result per update, in order."""
        from ._runtime.tables import sync_update

        return sync_update(self, self.registry.get(pack), table, updates, list(args),
                           connection=connection, principal=principal, dynamic_url=dynamic_url)

    def dynamic_urls(self, pack: str, table: str, *, connection: str | None = None,
                     principal: str | None = None) -> list[dict[str, str]]:
        from ._runtime.tables import dynamic_urls

        return dynamic_urls(self, self.registry.get(pack), table, connection=connection,
                            principal=principal)

    def dynamic_schema(self, pack: str, table: str, url: str, *,
                       connection: str | None = None, principal: str | None = None) -> Any:
        from ._runtime.tables import dynamic_schema

        return dynamic_schema(self, self.registry.get(pack), table, url, connection=connection,
                              principal=principal)

    def autocomplete(self, pack: str, name: str, param: str, search: str, *args: Any,
                     connection: str | None = None,
                     principal: str | None = None) -> list[dict[str, Any]]:
        """Suggestions ``[{display, value}]`` for a parameter that declares autocomplete."""
        from ._runtime.tables import autocomplete

        return autocomplete(self, self.registry.get(pack), name, param, search, list(args),
                            connection=connection, principal=principal)

    def host_calls(self, pack: Pack, credentials: Credentials | None) -> _PackHostCalls:
        return _PackHostCalls(self, pack, credentials)

    # -- connections ----------------------------------------------------------------------

    def create_connection(self, *, principal: str, pack: str, secret: Mapping[str, Any],
                          name: str | None = None) -> Any:
        """Store a connection; unnamed, the pack's ``connection_name`` op names it."""
        found = self.registry.get(pack)
        info = self.connections.create(principal=principal, pack=found.manifest,
                                       name=name or f"{found.name} connection", secret=secret)
        if name is None:
            named = self.name_connection(principal, found, info.id)
            if named:
                info = self.connections.rename(principal, info.id, named)
        return info

    def name_connection(self, principal: str, pack: Pack, connection_id: str) -> str | None:
        """Ask the pack (through its ``connection_name`` op) what to call a connection."""
        credentials = self.credentials(pack, "optional", connection_id, principal)
        try:
            value = pack.invoke("connection_name", "", [],
                                ctx=self.guest_ctx(connection_id, pack),
                                host=_PackHostCalls(self, pack, credentials))
        except NotFoundError:
            return None
        if not isinstance(value, str) or not value.strip():
            return None
        return value.strip()[:128]


def open_host(data_dir: str | Path | None = None, *, packs: Sequence[str | Path] = (),
              **settings: Any) -> Host:
    """A Host on ``data_dir`` with ``packs`` registered (built first when they are dirs)."""
    return Host(load_settings(data_dir=Path(data_dir) if data_dir else None,
                              packs=tuple(Path(p) for p in packs) or None, **settings))
