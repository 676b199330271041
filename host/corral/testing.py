"""Test helpers for pack authors: run a formula or a sync against a local fixture server.

Nothing in the runtime imports this module. A test declares the API responses its pack
should see, runs the pack for real (wasmtime, the fetch policy, the connection store),
and an unexpected request fails the test, listing what was asked::

    from corral.testing import FixtureServer, run_formula

    def test_get_issue():
        with FixtureServer() as api:
            api.route("GET", "/repos/octo/hello/issues/1", json={"number": 1, ...})
            issue = run_formula("packs/github", "GetIssue", "octo/hello", 1,
                                server=api, secret={"token": "t0ken"})
        assert issue["number"] == 1

How requests reach the server: the pack keeps fetching its real URLs
(``https://api.github.test/...``); the host checks each one with the full fetch policy,
injects the connection's credentials, and only then does a test transport send it over
plain HTTP to the fixture server's port on 127.0.0.1 (through the host's own
address-pinning transport, with the declared name mapped to 127.0.0.1). Pagination links
and redirects may therefore use the public URLs, as a real API's do.
"""

from __future__ import annotations

import json as jsonlib
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence, TypeVar, Union
from urllib.parse import parse_qs, urlsplit

import httpx

if TYPE_CHECKING:
    from ._host import Host
    from ._runtime.pack import Pack
    from ._runtime.tables import RowUpdateResult

__all__ = [
    "FixtureRequest", "FixtureServer", "PackHarness", "Reply", "UnexpectedRequestError",
    "run_formula", "run_sync",
]


class UnexpectedRequestError(AssertionError):
    """A fixture server received requests no route matched; the message lists them."""


@dataclass(frozen=True)
class FixtureRequest:
    """One request the fixture server received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return jsonlib.loads(self.body) if self.body else None

    def __str__(self) -> str:
        query = "&".join(f"{k}={v}" for k, values in self.query.items() for v in values)
        return f"{self.method} {self.path}" + (f"?{query}" if query else "")


@dataclass(frozen=True)
class Reply:
    """A response a route gives: a status, a JSON or raw body, and headers."""

    status: int = 200
    json: Any = None
    body: bytes | str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def encoded(self) -> tuple[bytes, dict[str, str]]:
        headers = dict(self.headers)
        if self.body is not None:
            data = self.body.encode() if isinstance(self.body, str) else self.body
        else:
            data = jsonlib.dumps(self.json).encode()
            headers.setdefault("Content-Type", "application/json")
        return data, headers


Responder = Union[Reply, Callable[[FixtureRequest], Reply]]
T = TypeVar("T")


@dataclass
class _Route:
    method: str
    pattern: re.Pattern[str]
    responder: Responder
    hits: int = 0


def _path_pattern(path: str) -> re.Pattern[str]:
    """``/repos/{owner}/{repo}`` matches one path segment per ``{name}``."""
    parts = re.split(r"(\{[A-Za-z_][A-Za-z0-9_]*\})", path)
    regex = "".join(f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") else re.escape(p)
                    for p in parts)
    return re.compile(regex)


class FixtureServer:
    """A real HTTP server on 127.0.0.1 that answers only the routes a test declares.

    Any other request gets a 501 (JSON ``{"message"}``) naming it, is kept in :attr:`unexpected`, and makes
    :meth:`check` (called on leaving the ``with`` block and after each harness call)
    raise :class:`UnexpectedRequestError` listing every one.
    """

    def __init__(self) -> None:
        self.requests: list[FixtureRequest] = []
        self.unexpected: list[FixtureRequest] = []
        self._routes: list[_Route] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="corral-fixture-server", daemon=True)
        self._thread.start()
        self._closed = False

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def route(self, method: str, path: str, reply: Responder | None = None, *,
              json: Any = None, status: int = 200, headers: Mapping[str, str] | None = None,
              body: bytes | str | None = None) -> None:
        """Answer ``method path`` (query ignored; ``{name}`` matches one segment).

        Give a :class:`Reply`, a function of the :class:`FixtureRequest` returning one,
        or the parts of a reply as keywords. Later routes win over earlier ones.
        """
        responder = reply if reply is not None else Reply(status=status, json=json, body=body,
                                                         headers=dict(headers or {}))
        with self._lock:
            self._routes.insert(0, _Route(method.upper(), _path_pattern(path), responder))

    def hits(self, method: str, path: str) -> int:
        """How many requests matched exactly this ``method path`` (query ignored)."""
        return sum(1 for r in self.requests if r.method == method.upper() and r.path == path)

    def check(self) -> None:
        """Raise :class:`UnexpectedRequestError` if any request matched no route."""
        with self._lock:
            unexpected = list(self.unexpected)
        if unexpected:
            listed = "\n".join(f"  {r}" for r in unexpected)
            raise UnexpectedRequestError(
                f"the fixture server on port {self.port} got {len(unexpected)} request(s) no "
                f"route matches:\n{listed}\ndeclare them with server.route(...)")

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()

    def __enter__(self) -> FixtureServer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
        if exc is None:
            self.check()

    def _answer(self, request: FixtureRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            route = next((r for r in self._routes
                          if r.method == request.method and r.pattern.fullmatch(request.path)),
                         None)
            if route is None:
                self.unexpected.append(request)
            else:
                route.hits += 1
        if route is None:
            # JSON, so a pack that parses its responses reports the 501 and does not retry.
            return Reply(status=501, json={"message": f"corral.testing: no route for {request}"})
        responder = route.responder
        return responder(request) if callable(responder) else responder


def _handler_for(server: FixtureServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass  # requests are recorded on the server, not printed

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            request = FixtureRequest(
                method=self.command, path=parts.path, query=parse_qs(parts.query),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self.rfile.read(length) if length else b"")
            try:
                reply = server._answer(request)
                data, headers = reply.encoded()
            except Exception as exc:  # a broken responder is the test's bug: show it
                reply, headers = Reply(status=500), {}
                data = f"corral.testing: the route for {request} raised {exc!r}".encode()
            self.send_response(reply.status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    return Handler


# -- routing a pack's domains to local servers ----------------------------------------------


class LoopbackRouter(httpx.BaseTransport):
    """An httpx transport that sends requests for mapped names to ports on 127.0.0.1.

    The host's fetch policy has already admitted the request (name, scheme, port,
    headers) before a transport sees it; this only changes where it is delivered:
    ``https://api.example.test/x`` goes to ``http://api.example.test:<port>/x`` through
    the host's pinned transport, which maps the name to 127.0.0.1.
    """

    def __init__(self, ports: Mapping[str, int]) -> None:
        from ._fetch.client import FetchConfig, PinnedTransport

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


Target = Union[FixtureServer, int]


def _host_part(domain: str) -> str:
    return domain.split(":")[0].lower()


# -- running packs ------------------------------------------------------------------------


class PackHarness:
    """A throwaway host with one pack registered, its domains routed to fixture servers.

    ``pack`` is a pack directory (built first), a ``.wasm`` path, or the ``.wasm`` bytes.
    ``server`` receives every domain the pack declares; ``domains_map`` maps declared
    domains to servers (or ports) one by one. With ``secret``, a connection is created
    for the pack's auth kind (``{"token": ...}`` for bearer) and used for every call.
    """

    def __init__(self, pack: str | Path | bytes, *, server: FixtureServer | None = None,
                 domains_map: Mapping[str, Target] | None = None,
                 secret: Mapping[str, Any] | None = None, principal: str = "test",
                 deadline_s: float = 30.0) -> None:
        from ._host import Host
        from ._settings import Settings

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
        ports = {_host_part(d): (t.port if isinstance(t, FixtureServer) else int(t))
                 for d, t in targets.items()}
        self.host: Host = Host(Settings(data_dir=self._dir), fetch_transport=LoopbackRouter(ports))
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

    def call(self, formula: str, *args: Any) -> Any:
        """Call a formula or action and return its checked result."""
        return self._checked(lambda: self.host.call(
            self.pack.name, formula, *args, connection=self.connection,
            principal=self.principal, deadline_s=self.deadline_s))

    def sync(self, table: str, *args: Any, max_pages: int | None = None,
             dynamic_url: str | None = None) -> list[dict[str, Any]]:
        """Run a sync table to the end and return every row, in order."""
        from ._runtime.tables import run_sync as host_run_sync

        def run() -> list[dict[str, Any]]:
            pages = host_run_sync(self.host.calls, self.pack, table, list(args),
                                  connection=self.connection, principal=self.principal,
                                  deadline_s=self.deadline_s, max_pages=max_pages,
                                  dynamic_url=dynamic_url)
            return [row for page in pages for row in page]

        return self._checked(run)

    def sync_update(self, table: str, updates: Sequence[Mapping[str, Any]], *args: Any,
                    dynamic_url: str | None = None) -> list[RowUpdateResult]:
        from ._runtime.tables import sync_update

        return self._checked(lambda: sync_update(
            self.host.calls, self.pack, table, updates, list(args), connection=self.connection,
            principal=self.principal, deadline_s=self.deadline_s, dynamic_url=dynamic_url))

    def autocomplete(self, name: str, param: str, search: str = "",
                     *args: Any) -> list[dict[str, Any]]:
        from ._runtime.tables import autocomplete

        return self._checked(lambda: autocomplete(
            self.host.calls, self.pack, name, param, search, list(args), connection=self.connection,
            principal=self.principal, deadline_s=self.deadline_s))

    def dynamic_schema(self, table: str, url: str) -> Any:
        """The schema a dynamic table's ``url`` declares (the pack's ``dynamic_schema`` op)."""
        from ._runtime.tables import dynamic_schema

        return self._checked(lambda: dynamic_schema(
            self.host.calls, self.pack, table, url, connection=self.connection,
            principal=self.principal))

    def dynamic_urls(self, table: str) -> list[dict[str, str]]:
        from ._runtime.tables import dynamic_urls

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
        from ._toolchain.build import build_pack

        path = build_pack(path).path
    return path.read_bytes()


def _manifest_of(wasm: bytes) -> Any:
    from ._runtime.pack import read_manifest

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
