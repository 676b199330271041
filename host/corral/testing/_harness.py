"""Running a pack for real against local servers: the harness behind ``run_formula``."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence, TypeVar, Union

import httpx

from ._fixture import FixtureServer, UnexpectedRequestError
from ._server import LocalServer

if TYPE_CHECKING:
    from .._host import Host
    from .._runtime.pack import Pack
    from .._runtime.tables import RowUpdateResult

T = TypeVar("T")


# -- routing a pack's domains to local servers ----------------------------------------------


class LoopbackRouter(httpx.BaseTransport):
    """An httpx transport that sends requests for mapped names to ports on 127.0.0.1.

    The host's fetch policy has already admitted the request (name, scheme, port,
    headers) before a transport sees it; this only changes where it is delivered:
    ``https://api.example.test/x`` goes to ``http://api.example.test:<port>/x`` through
    the host's pinned transport, which maps the name to 127.0.0.1.
    """

    def __init__(self, ports: Mapping[str, int]) -> None:
        from .._fetch.client import FetchConfig, PinnedTransport

        self._ports = {name.lower(): port for name, port in ports.items()}
        config = FetchConfig(allow_http=True, host_map={n: "127.0.0.1" for n in self._ports})
        self._inner = PinnedTransport(config)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        port = self._ports.get(request.url.host)
        if port is None:
            raise httpx.ConnectError(f"corral.testing: no fixture server for {request.url.host}; "
                                     f"routed names: {', '.join(sorted(self._ports)) or 'none'}",
                                     request=request)
        local = request.url.copy_with(scheme="http", port=port)
        forwarded = httpx.Request(request.method, local, headers=request.headers,
                                  stream=request.stream, extensions=request.extensions)
        return self._inner.handle_request(forwarded)

    def close(self) -> None:
        self._inner.close()


Target = Union[LocalServer, int]


def _host_part(domain: str) -> str:
    return domain.split(":")[0].lower()


# -- running packs ------------------------------------------------------------------------


class PackHarness:
    """A throwaway host with one pack registered, its domains routed to fixture servers.

    ``pack`` is a pack directory (built first), a ``.wasm`` path, or the ``.wasm`` bytes.
    ``server`` receives every domain the pack declares; ``domains_map`` maps declared
    domains to servers (or ports) one by one. With ``secret``, a connection is created
    for the pack's auth kind (``{"token": ...}`` for bearer) and used for every call.
    ``settings`` overrides host settings (``blob_ttl_s``, ``default_timezone``...);
    ``clock`` is the host's wall clock (blob expiry, cache TTLs), for tests that move time.
    """

    def __init__(self, pack: str | Path | bytes, *, server: FixtureServer | None = None,
                 domains_map: Mapping[str, Target] | None = None,
                 secret: Mapping[str, Any] | None = None, principal: str = "test",
                 deadline_s: float = 30.0, settings: Mapping[str, Any] | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        from .._host import Host
        from .._settings import Settings

        wasm = _pack_bytes(pack)
        self._dir = Path(tempfile.mkdtemp(prefix="corral-test-"))
        self.principal = principal
        self.deadline_s = deadline_s
        manifest = _manifest_of(wasm)
        targets = dict(domains_map or {})
        if server is not None:
            for domain in manifest.network_domains:
                targets.setdefault(_host_part(domain), server)
        self.servers = [t for t in targets.values() if isinstance(t, FixtureServer)]
        ports = {_host_part(d): (t.port if isinstance(t, LocalServer) else int(t))
                 for d, t in targets.items()}
        self.host: Host = Host(Settings(data_dir=self._dir, **dict(settings or {})),
                               fetch_transport=LoopbackRouter(ports), clock=clock)
        try:
            self.pack: Pack = self.host.register_bytes(wasm, source="corral.testing")
            self.connection: str | None = None
            if secret is not None:
                info = self.host.connections.create(principal=principal, pack=self.pack.manifest,
                                                    name="test", secret=secret)
                self.connection = info.id
        except BaseException:
            self.close()
            raise

    def call(self, formula: str, *args: Any, timezone: str | None = None,
             doc_id: str | None = None) -> Any:
        """Call a formula or action and return its checked result; ``timezone`` and
        ``doc_id`` are the caller's (``ctx.timezone``, ``ctx.invocation_location``)."""
        invocation = self.host.invocation(timezone=timezone, doc_id=doc_id)
        return self._checked(lambda: self.host.call(
            self.pack.name, formula, *args, connection=self.connection,
            principal=self.principal, deadline_s=self.deadline_s, invocation=invocation))

    def sync(self, table: str, *args: Any, max_pages: int | None = None,
             dynamic_url: str | None = None) -> list[dict[str, Any]]:
        """Run a sync table to the end and return every row, in order."""
        from .._runtime.tables import run_sync as host_run_sync

        def run() -> list[dict[str, Any]]:
            pages = host_run_sync(self.host.calls, self.pack, table, list(args),
                                  connection=self.connection, principal=self.principal,
                                  deadline_s=self.deadline_s, max_pages=max_pages,
                                  dynamic_url=dynamic_url)
            return [row for page in pages for row in page]

        return self._checked(run)

    def sync_update(self, table: str, updates: Sequence[Mapping[str, Any]], *args: Any,
                    dynamic_url: str | None = None) -> list[RowUpdateResult]:
        from .._runtime.tables import sync_update

        return self._checked(lambda: sync_update(
            self.host.calls, self.pack, table, updates, list(args), connection=self.connection,
            principal=self.principal, deadline_s=self.deadline_s, dynamic_url=dynamic_url))

    def autocomplete(self, name: str, param: str, search: str = "",
                     *args: Any) -> list[dict[str, Any]]:
        from .._runtime.tables import autocomplete

        return self._checked(lambda: autocomplete(
            self.host.calls, self.pack, name, param, search, list(args), connection=self.connection,
            principal=self.principal, deadline_s=self.deadline_s))

    def dynamic_schema(self, table: str, url: str) -> Any:
        """The schema a dynamic table's ``url`` declares (the pack's ``dynamic_schema`` op)."""
        from .._runtime.tables import dynamic_schema

        return self._checked(lambda: dynamic_schema(
            self.host.calls, self.pack, table, url, connection=self.connection,
            principal=self.principal))

    def dynamic_urls(self, table: str) -> list[dict[str, str]]:
        from .._runtime.tables import dynamic_urls

        return self._checked(lambda: dynamic_urls(
            self.host.calls, self.pack, table, connection=self.connection, principal=self.principal,
            deadline_s=self.deadline_s))

    def _checked(self, run: Callable[[], T]) -> T:
        """Run, then fail loudly if any server saw a request nobody declared."""
        try:
            result = run()
        except Exception as exc:
            self._check_servers(cause=exc)
            raise
        self._check_servers()
        return result

    def _check_servers(self, cause: BaseException | None = None) -> None:
        for server in self.servers:
            try:
                server.check()
            except UnexpectedRequestError as unexpected:
                raise unexpected from cause

    def close(self) -> None:
        host = getattr(self, "host", None)
        if host is not None:
            host.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> PackHarness:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _pack_bytes(pack: str | Path | bytes) -> bytes:
    if isinstance(pack, (bytes, bytearray)):
        return bytes(pack)
    path = Path(pack)
    if path.is_dir():
        from .._toolchain.build import build_pack

        path = build_pack(path).path
    return path.read_bytes()


def _manifest_of(wasm: bytes) -> Any:
    from .._runtime.pack import read_manifest

    return read_manifest(wasm, source="corral.testing")


def run_formula(pack: str | Path | bytes, formula: str, *args: Any,
                server: FixtureServer | None = None,
                domains_map: Mapping[str, Target] | None = None,
                secret: Mapping[str, Any] | None = None) -> Any:
    """Run one formula or action of ``pack`` against fixture servers; return its result."""
    with PackHarness(pack, server=server, domains_map=domains_map, secret=secret) as harness:
        return harness.call(formula, *args)


def run_sync(pack: str | Path | bytes, table: str, *args: Any,
             server: FixtureServer | None = None,
             domains_map: Mapping[str, Target] | None = None,
             secret: Mapping[str, Any] | None = None, max_pages: int | None = None,
             dynamic_url: str | None = None) -> list[dict[str, Any]]:
    """Run a sync table of ``pack`` to the end against fixture servers; return all rows."""
    with PackHarness(pack, server=server, domains_map=domains_map, secret=secret) as harness:
        return harness.sync(table, *args, max_pages=max_pages, dynamic_url=dynamic_url)
