"""The Host: one object that ties packs, sandbox, fetch, connections, cache and scheduler.

``Host`` is what the CLI, the HTTP service and Python callers use::

    with Host.from_settings(data_dir=".corral") as host:
        host.register_dir("packs/hello")
        host.call("hello", "Greet", "Ada")
        host.evaluate('=hello.Greet("Ada") & "!"')
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

from ._closing import Closeable
from ._errors import CacheError, CorralError, NotFoundError
from ._metrics import Metrics
from ._pack.coerce import coerce_args
from ._runtime.calls import Calls
from ._runtime.pack import Pack
from ._runtime.registry import Registry
from ._sandbox.sandbox import Sandbox, SandboxConfig
from ._settings import Settings, load_settings
from ._types import CallRequest, Invocation, check_doc_id, check_timezone

log = logging.getLogger("corral.host")

if TYPE_CHECKING:
    from ._connections.store import ConnectionStore
    from ._formula.evaluator import Evaluator
    from ._fetch.client import FetchClient
    from ._fetch.cache import FetchCache
    from ._calls.result_cache import ResultCache
    from ._calls.scheduler import ResolvedFormula, Scheduler
    from ._stores.blobs import BlobStore


log = logging.getLogger("corral.host")
#: How long a host that could not open its result cache waits before it tries again.
_CACHE_RETRY_S = 30.0


class Host(Closeable):
    """Registry, sandbox, fetch, connections, caches and the scheduler, behind one API."""

    closeable_name = "host"

    def __init__(self, settings: Settings | None = None, *, fetch_transport: Any = None,
                 resolver: Any = None, clock: Any = None) -> None:
        self.settings = settings or Settings()
        check_timezone(self.settings.default_timezone, field="default_timezone")
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.sandbox = Sandbox(SandboxConfig(cache_dir=self.settings.module_cache_dir,
                                             call_path=self.settings.call_path))
        self.registry = Registry(self.settings.data_dir / "packs", self.sandbox,
                                 map_size=self.settings.registry_map_bytes,
                                 max_map_size=self.settings.registry_map_max_bytes,
                                 store_url=self.settings.store_url)
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
        self._cache_retry_at = 0.0
        self._blobs: BlobStore | None = None
        self.calls = Calls(self.registry, self.metrics, fetch_client=lambda: self.fetch_client,
                           connections=lambda: self.connections,
                           default_deadline_s=self.settings.evaluate_deadline_s,
                           blobs=lambda: self.blobs, invocation=self.invocation)
        for path in self.settings.packs:
            self.register_path(path)

    @classmethod
    def from_settings(cls, config_file: str | None = None, **overrides: Any) -> Host:
        return cls(load_settings(config_file, **overrides))

    # -- lifecycle ------------------------------------------------------------------------

    def _close(self) -> None:
        """Release the pools, caches and stores."""
        with self._lock:  # no part is being made while they are released
            parts = (self._scheduler, self._fetch_client, self._fetch_cache,
                     self._result_cache, self._connections, self._blobs)
        for part in parts:
            if part is not None:
                part.close()
        self.registry.close()
        self.sandbox.close()

    # -- parts, made on first use so `corral call` stays cheap -----------------------------

    @property
    def fetch_client(self) -> FetchClient:
        with self._lock:
            self._check_open()
            if self._fetch_client is None:
                from ._fetch.client import FetchClient, FetchConfig
                from ._fetch.cache import FetchCache

                config = FetchConfig(allow_http=self.settings.allow_http,
                                     host_map=dict(self.settings.host_map),
                                     ca_file=(str(self.settings.ca_file)
                                              if self.settings.ca_file else None),
                                     **({"resolver": self._resolver} if self._resolver else {}))
                self._fetch_cache = FetchCache(self.settings.data_dir / "fetch-cache",
                                               map_size=self.settings.fetch_cache_bytes)
                self._fetch_client = FetchClient(config, cache=self._fetch_cache,
                                                 transport=self._fetch_transport)
            return self._fetch_client

    @property
    def connections(self) -> ConnectionStore:
        with self._lock:
            self._check_open()
            if self._connections is None:
                from ._connections.ring_source import keyring_for
                from ._connections.store import ConnectionStore

                self._connections = ConnectionStore(
                    self.settings.data_dir / "connections", keyring_for(self.settings),
                    http=self._oauth_http_client(),
                    map_size=self.settings.connections_map_bytes,
                    quotas=self._connection_quotas(),
                    max_map_size=self.settings.connections_map_max_bytes,
                    minting=self._mint_settings(), store_url=self.settings.store_url)
            return self._connections

    def _mint_settings(self) -> Any:
        """What the store needs to mint AWS temporary credentials and Google tokens."""
        from ._connections.aws import AwsKeys, StsSettings
        from ._connections.minted import MintSettings

        s = self.settings
        base = (AwsKeys(s.aws_access_key_id, s.aws_secret_access_key)
                if s.aws_access_key_id and s.aws_secret_access_key else None)
        sts = StsSettings(endpoint=s.aws_sts_endpoint, region=s.aws_sts_region, base=base,
                          duration_s=s.aws_assume_role_duration_s)
        dev_hosts = frozenset(s.host_map) if s.allow_dev_token_uris else frozenset()
        return MintSettings(sts=sts, dev_token_hosts=dev_hosts)

    def _oauth_http_client(self) -> Any:
        """OAuth2 token requests go through a fetch client of their own under the guest
        fetch policy: declared domains, checked and pinned addresses, no redirects, a
        response cap and one total deadline; https unless the host maps that exact name."""
        from dataclasses import replace

        from ._connections.oauth import TokenClient
        from ._fetch.client import FetchClient

        config = replace(self.fetch_client.config, max_redirects=0,
                         max_response_bytes=self.settings.oauth_max_response_bytes,
                         total_timeout_s=self.settings.oauth_deadline_s)
        return TokenClient(FetchClient(config, transport=self._fetch_transport),
                           plain_http_hosts=frozenset(config.host_map),
                           deadline_s=self.settings.oauth_deadline_s)

    def _connection_quotas(self) -> Any:
        from ._connections.quota import Quotas

        return Quotas(max_connections=self.settings.max_connections_per_principal,
                      max_bytes=self.settings.max_connection_bytes_per_principal)

    @property
    def result_cache(self) -> ResultCache:
        with self._lock:
            self._check_open()
            if self._result_cache is None:
                from ._calls.result_cache import ResultCache

                self._result_cache = ResultCache(self.settings.data_dir / "result-cache",
                                                 map_size=self.settings.result_cache_bytes,
                                                 max_map_size=self.settings.result_cache_max_bytes,
                                                 clock=self._clock)
            return self._result_cache

    def _result_cache_if_it_opens(self) -> ResultCache | None:
        """The result cache, or None while it cannot open (a full disk, say): a cache
        that cannot open makes calls uncached, never failed. It is tried again at most
        every ``_CACHE_RETRY_S``."""
        now = time.monotonic()
        if self._result_cache is None and now < self._cache_retry_at:
            return None
        try:
            return self.result_cache
        except CacheError as exc:
            self._cache_retry_at = now + _CACHE_RETRY_S
            log.warning("calls run uncached: %s", exc)
            return None

    def clock(self) -> float:
        """The host's wall clock (injectable: ``Host(clock=...)``)."""
        return float(self._clock())

    @property
    def blobs(self) -> BlobStore:
        """The temporary blobs packs store (``corral.blob``), served at ``/v1/blobs/<id>``."""
        with self._lock:
            self._check_open()
            if self._blobs is None:
                from ._stores.blobs import BlobStore

                settings = self.settings
                self._blobs = BlobStore(settings.data_dir / "blobs", ttl_s=settings.blob_ttl_s,
                                        max_bytes=settings.blob_max_bytes,
                                        quota_bytes=settings.blob_quota_bytes_per_principal,
                                        map_size=settings.blob_map_bytes,
                                        max_map_size=settings.blob_map_max_bytes,
                                        clock=self._clock, store_url=settings.store_url)
            return self._blobs

    def invocation(self, *, timezone: str | None = None, doc_id: str | None = None,
                   base_url: str | None = None) -> Invocation:
        """A call's context with the host's defaults filled in: the time zone
        (``default_timezone``) and the base URL (``public_url``, else the URL the host
        listens on; the HTTP service passes the request's), each checked."""
        zone = check_timezone(timezone if timezone is not None
                              else self.settings.default_timezone)
        base = (self.settings.public_url or base_url
                or f"http://{self.settings.host}:{self.settings.port}")
        return Invocation(zone, base.rstrip("/"), check_doc_id(doc_id))

    @property
    def scheduler(self) -> Scheduler:
        cache = self._result_cache_if_it_opens()
        with self._lock:
            self._check_open()
            if self._scheduler is not None and self._scheduler.cache is None:
                self._scheduler.cache = cache  # it opened at last
            if self._scheduler is None:
                from ._calls.scheduler import Scheduler, SchedulerConfig

                config = SchedulerConfig(max_workers=self.settings.max_workers,
                                         global_concurrency=self.settings.global_concurrency,
                                         per_pack_concurrency=self.settings.per_pack_concurrency,
                                         default_deadline_s=self.settings.evaluate_deadline_s,
                                         inline_budget_s=self.settings.inline_budget_ms / 1000)
                self._scheduler = Scheduler(self.calls, cache, config,
                                            on_cache_lookup=self.metrics.cache_lookup)
            return self._scheduler

    @property
    def evaluator(self) -> Evaluator:
        scheduler = self.scheduler
        with self._lock:
            self._check_open()
            if self._evaluator is None:
                from ._formula.evaluator import Evaluator

                self._evaluator = Evaluator(self.calls, scheduler, clock=self._clock)
            return self._evaluator

    # -- packs ----------------------------------------------------------------------------

    def register_path(self, path: str | Path, *,
                      approved_domains: Sequence[str] | None = None) -> Pack:
        path = Path(path)
        if path.is_dir():
            return self.register_dir(path, approved_domains=approved_domains)
        return self.register_file(path, approved_domains=approved_domains)

    def register_dir(self, pack_dir: str | Path, *,
                     approved_domains: Sequence[str] | None = None) -> Pack:
        """Build (cached) and register the pack in ``pack_dir``."""
        from ._toolchain.build import build_pack

        result = build_pack(pack_dir)
        return self.register_file(result.path, approved_domains=approved_domains)

    def register_file(self, wasm_file: str | Path, *,
                      approved_domains: Sequence[str] | None = None) -> Pack:
        path = Path(wasm_file)
        try:
            wasm = path.read_bytes()
        except OSError as exc:
            raise NotFoundError(f"cannot read pack {path}: {exc.strerror}") from exc
        return self.register_bytes(wasm, source=str(path), approved_domains=approved_domains)

    def register_bytes(self, wasm: bytes, *, source: str | None = None,
                       approved_domains: Sequence[str] | None = None) -> Pack:
        """Register a pack. ``approved_domains``: the declared domains the operator approves
        for calls that hold a connection, beyond the pack's auth domains (None keeps what
        this version has recorded; see docs/security.md)."""
        self._check_open()
        return self.registry.register(wasm, source=source, approved_domains=approved_domains)

    def pack(self, name: str) -> Pack:
        return self.registry.get(name)

    def resolve(self, pack: str, formula: str) -> ResolvedFormula:
        """The active version of ``pack`` and its ``formula``, resolved once for a call."""
        self._check_open()
        return self.calls.resolve(pack, formula)

    # -- calling --------------------------------------------------------------------------

    def call(self, pack: str, formula: str, *args: Any, connection: str | None = None,
             principal: str | None = None, deadline_s: float | None = None,
             timezone: str | None = None, invocation: Invocation | None = None) -> Any:
        """Call a formula or action with coercion, caching and retries. ``timezone`` is
        the caller's (default: ``default_timezone``); ``invocation`` gives the whole
        context (see :meth:`invocation`)."""
        return self.submit_call(pack, formula, *args, connection=connection,
                                principal=principal, deadline_s=deadline_s,
                                timezone=timezone, invocation=invocation).result()

    def submit_call(self, pack: str, formula: str, *args: Any, connection: str | None = None,
                    principal: str | None = None, deadline_s: float | None = None,
                    timezone: str | None = None,
                    invocation: Invocation | None = None) -> Future[Any]:
        """Like :meth:`call`, but returns at once with a future of the result (arguments
        are checked before it returns); an event loop can await it without a thread."""
        return self.submit_resolved(self.resolve(pack, formula), *args, connection=connection,
                                    principal=principal, deadline_s=deadline_s,
                                    invocation=invocation or self.invocation(timezone=timezone))

    def submit_resolved(self, resolved: ResolvedFormula, *args: Any,
                        connection: str | None = None, principal: str | None = None,
                        deadline_s: float | None = None,
                        invocation: Invocation | None = None) -> Future[Any]:
        """:meth:`submit_call` for a call resolved already (by :meth:`resolve`): it runs
        exactly that version."""
        coerced = coerce_args(resolved.formula, args, pack=resolved.pack)
        request = CallRequest(resolved.pack, resolved.formula.name, coerced, connection,
                              principal, invocation or self.invocation())
        deadline = time.monotonic() + (deadline_s or self.settings.evaluate_deadline_s)
        return self.scheduler.submit(request, resolved, deadline)

    def evaluate(self, text: str, *, principal: str | None = None,
                 connections: Mapping[str, str] | None = None,
                 deadline_s: float | None = None, timezone: str | None = None,
                 invocation: Invocation | None = None,
                 variables: Mapping[str, Any] | None = None) -> Any:
        """Evaluate a formula such as ``=hello.Greet("Ada") & "!"``; ``variables`` binds its
        ``$$[variable:NAME]`` references, ``timezone`` (IANA) is its dates' zone."""
        return self.evaluator.evaluate(text, principal=principal, connections=connections,
                                       deadline_s=deadline_s, variables=variables,
                                       invocation=invocation or self.invocation(timezone=timezone))

    def sync(self, pack: str, table: str, *args: Any, connection: str | None = None,
             principal: str | None = None, deadline_s: float | None = None,
             max_pages: int | None = None, dynamic_url: str | None = None,
             timezone: str | None = None,
             invocation: Invocation | None = None) -> Iterator[list[dict[str, Any]]]:
        """Run a sync table, yielding validated pages of rows as they arrive."""
        from ._runtime.tables import run_sync

        return run_sync(self.calls, self.registry.get(pack), table, list(args), connection=connection,
                        principal=principal, deadline_s=deadline_s, max_pages=max_pages,
                        dynamic_url=dynamic_url,
                        invocation=invocation or self.invocation(timezone=timezone))

    def sync_update(self, pack: str, table: str, updates: Sequence[Mapping[str, Any]],
                    *args: Any, connection: str | None = None, principal: str | None = None,
                    dynamic_url: str | None = None,
                    invocation: Invocation | None = None) -> list[Any]:
        """Two-way sync: send edited rows back; one result per update, in order."""
        from ._runtime.tables import sync_update

        return sync_update(self.calls, self.registry.get(pack), table, updates, list(args),
                           connection=connection, principal=principal, dynamic_url=dynamic_url,
                           invocation=invocation)

    def dynamic_urls(self, pack: str, table: str, *, connection: str | None = None,
                     principal: str | None = None) -> list[dict[str, str]]:
        from ._runtime.tables import dynamic_urls

        return dynamic_urls(self.calls, self.registry.get(pack), table, connection=connection,
                            principal=principal)

    def dynamic_schema(self, pack: str, table: str, url: str, *,
                       connection: str | None = None, principal: str | None = None) -> Any:
        from ._runtime.tables import dynamic_schema

        return dynamic_schema(self.calls, self.registry.get(pack), table, url, connection=connection,
                              principal=principal)

    def autocomplete(self, pack: str, name: str, param: str, search: str, *args: Any,
                     connection: str | None = None,
                     principal: str | None = None) -> list[dict[str, Any]]:
        """Suggestions ``[{display, value}]`` for a parameter that declares autocomplete."""
        from ._runtime.tables import autocomplete

        return autocomplete(self.calls, self.registry.get(pack), name, param, search, list(args),
                            connection=connection, principal=principal)

    # -- connections ----------------------------------------------------------------------

    def create_connection(self, *, principal: str, pack: str, secret: Mapping[str, Any],
                          name: str | None = None) -> Any:
        """Store a connection; unnamed, the pack's ``connection_name`` op names it."""
        found = self.registry.get(pack)
        info = self.connections.create(principal=principal, pack=found.manifest,
                                       name=name or f"{found.name} connection", secret=secret)
        return self.name_connection(principal, info) if name is None else info

    def complete_authorization(self, state: str, code: str, *,
                               browser_binding: str | None = None) -> Any:
        """Finish an OAuth2 flow; a new connection started without a name is named by
        the pack's ``connection_name`` op."""
        return self.connections.complete_authorization(
            state, code, browser_binding=browser_binding,
            name_new=self.name_connection)

    def name_connection(self, principal: str, info: Any) -> Any:
        """``info`` renamed by its pack's ``connection_name`` op. The op failing (or the
        pack having none) leaves the default name: naming never fails a connection."""
        try:
            named = self.calls.connection_name(principal, self.registry.get(info.pack), info.id)
            return self.connections.rename(principal, info.id, named) if named else info
        except CorralError as exc:
            log.warning("connection_name of pack %s failed (%s); connection %s keeps the "
                        "name %r", info.pack, exc.kind, info.id, info.name)
            return info


def open_host(data_dir: str | Path | None = None, *, packs: Sequence[str | Path] = (),
              **settings: Any) -> Host:
    """A Host on ``data_dir`` with ``packs`` registered (built first when they are dirs)."""
    return Host(load_settings(data_dir=Path(data_dir) if data_dir else None,
                              packs=tuple(Path(p) for p in packs) or None, **settings))
