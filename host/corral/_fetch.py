"""Host-mediated fetch: the Python side of the ``corral.fetch`` import.

:class:`FetchClient` takes the guest's request map, checks it with the policy
(:mod:`corral._policy`), injects credentials only where they apply, follows redirects
itself (each hop checked again), and streams the response under size and time caps.

The network seam is an httpx transport. The default one, :class:`PinnedTransport`, sits
on an httpcore pool whose network backend (:class:`PinnedBackend`) resolves each name
once, checks every address, and connects to a checked address; TLS is still verified
against the name. No second lookup happens, so a name cannot rebind between the check
and the connection. An injected transport replaces the network, and the address check
with it: inject one only in tests or behind a guard of your own.
"""

from __future__ import annotations

import contextvars
import functools
import http.cookiejar
import ipaddress
import logging
import socket
import ssl
import threading
import time
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType, TracebackType
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence
from urllib.parse import urlencode, urljoin

import httpcore
import httpx

from ._errors import (ConfigError, FetchDenied, FetchError, FetchNetworkError, FetchTimeout,
                      FetchTooLarge)
from ._fetch_cache import CachedResponse, FetchCache
from ._policy import (CheckedURL, check_address, check_headers, check_params, check_url,
                      normalize_host)
from ._types import Credentials

log = logging.getLogger("corral.fetch")

Resolver = Callable[[str, int], list[str]]

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
REQUEST_KEYS = frozenset({"method", "url", "headers", "body", "cache_ttl_s", "binary"})
#: Guest headers that do not follow a redirect to another origin.
ORIGIN_BOUND_HEADERS = frozenset({"authorization", "cookie"})

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "corral_fetch_deadline", default=None)
"""The ``time.monotonic()`` instant the current thread's fetch must end by."""


@dataclass(frozen=True)
class FetchConfig:
    """The host's fetch settings (not the pack's: packs only declare domains)."""

    allow_http: bool = False
    host_map: Mapping[str, str] = field(default_factory=dict)
    """Exact name -> IP address. A mapped address is used without DNS, and may be private."""
    max_redirects: int = 5
    max_response_bytes: int = 8 * 1024 * 1024
    max_request_bytes: int = 8 * 1024 * 1024
    max_response_headers: int = 100
    max_request_headers: int = 64
    max_header_bytes: int = 64 * 1024
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 10.0
    total_timeout_s: float = 30.0
    resolver: Resolver | None = None
    """``(name, port) -> [ip, ...]``; None means the system resolver (getaddrinfo)."""
    ca_file: str | None = None
    """PEM bundle to verify servers against; None means the certifi bundle."""
    user_agent: str = "corral"
    max_connections: int = 100

    def __post_init__(self) -> None:
        object.__setattr__(self, "host_map", MappingProxyType(_normalized_host_map(self.host_map)))
        for name in ("max_redirects", "max_response_bytes", "max_request_bytes",
                     "max_response_headers", "max_request_headers", "max_header_bytes",
                     "max_connections"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"must be a non-negative integer, not {value!r}", setting=name)
        for name in ("connect_timeout_s", "read_timeout_s", "total_timeout_s"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"must be a positive number of seconds, not {value!r}",
                                  setting=name)


def _normalized_host_map(host_map: Mapping[str, str]) -> dict[str, str]:
    normalized: dict[str, str] = {}
    for name, ip in host_map.items():
        try:
            host = normalize_host(name.strip())
            address = ipaddress.ip_address(ip)
        except (FetchDenied, ValueError, AttributeError) as exc:
            raise ConfigError(f"{name!r} -> {ip!r} must map a host name to an IP address",
                              setting="host_map") from exc
        normalized[host] = str(address)
    return normalized


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``getaddrinfo`` gives for ``host``, in its order, without repeats."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


# -- the network seam: connect only to checked addresses ---------------------------------


def _clamp(timeout: float | None, on_expiry: type[Exception]) -> float | None:
    """``timeout`` shortened to what is left before this thread's fetch deadline."""
    stop = _deadline.get()
    if stop is None:
        return timeout
    remaining = stop - time.monotonic()
    if remaining <= 0:
        raise on_expiry("the fetch deadline passed")
    return remaining if timeout is None else min(timeout, remaining)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every wait ends by the fetch deadline (slow drips time out)."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _clamp(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _clamp(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        inner = self._inner.start_tls(ssl_context, server_hostname,
                                      _clamp(timeout, httpcore.ConnectTimeout))
        return _DeadlineStream(inner)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class PinnedBackend(httpcore.NetworkBackend):
    """Resolve once, check every address with the policy, connect to a checked address."""

    def __init__(self, config: FetchConfig, connector: httpcore.NetworkBackend | None = None
                 ) -> None:
        self._config = config
        self._resolver: Resolver = config.resolver or system_resolver
        self._connector = connector or httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        addresses = self.checked_addresses(host, port, timeout)
        failure: Exception | None = None
        for address in addresses:
            try:
                stream = self._connector.connect_tcp(
                    address, port, timeout=_clamp(timeout, httpcore.ConnectTimeout),
                    local_address=local_address, socket_options=socket_options)
            except httpcore.ConnectError as exc:
                failure = exc
                continue
            log.debug("connected to %s:%d for %s", address, port, host)
            return _DeadlineStream(stream)
        raise failure or httpcore.ConnectError(f"no address to connect to for {host}")

    def checked_addresses(self, host: str, port: int, timeout: float | None = None) -> list[str]:
        """The addresses of ``host``, each admitted by the policy; refuses if any is not."""
        mapped = self._config.host_map.get(host)
        addresses = [mapped] if mapped is not None else self._resolve(host, port, timeout)
        if not addresses:
            raise httpcore.ConnectError(f"{host} has no address")
        return [str(check_address(host, address, self._config)) for address in addresses]

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None
                            ) -> httpcore.NetworkStream:
        raise FetchDenied("fetch refused (unix_socket): unix sockets are never reachable",
                          rule="unix_socket")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def _resolve(self, host: str, port: int, timeout: float | None) -> list[str]:
        # getaddrinfo cannot be interrupted, so it runs in a thread we stop waiting for.
        limit = _clamp(timeout if timeout is not None else self._config.connect_timeout_s,
                       httpcore.ConnectTimeout)
        outcome: list[list[str] | BaseException] = []

        def lookup() -> None:
            try:
                outcome.append(list(self._resolver(host, port)))
            except BaseException as exc:  # handed to the waiting thread below
                outcome.append(exc)

        worker = threading.Thread(target=lookup, name=f"corral-resolve-{host}", daemon=True)
        worker.start()
        worker.join(limit)
        if not outcome:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out")
        result = outcome[0]
        if isinstance(result, BaseException):
            if isinstance(result, (httpcore.ConnectError, FetchError)):
                raise result
            raise httpcore.ConnectError(f"cannot resolve {host}: {result}") from result
        return result


_HTTPCORE_TO_HTTPX: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextmanager
def _as_httpx_errors() -> Iterator[None]:
    """httpcore errors as the httpx errors a transport is expected to raise."""
    try:
        yield
    except httpcore.TimeoutException as exc:
        raise _httpx_error(exc) from exc
    except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as exc:
        raise _httpx_error(exc) from exc


def _httpx_error(exc: Exception) -> httpx.TransportError:
    for source, target in _HTTPCORE_TO_HTTPX:
        if isinstance(exc, source):
            return target(str(exc))
    return httpx.TransportError(str(exc))


class _PinnedResponseStream(httpx.SyncByteStream):
    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        with _as_httpx_errors():
            yield from self._chunks

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            with _as_httpx_errors():
                close()


class PinnedTransport(httpx.BaseTransport):
    """An httpx transport over an httpcore pool that connects only to checked addresses."""

    def __init__(self, config: FetchConfig, *,
                 connector: httpcore.NetworkBackend | None = None) -> None:
        self.backend = PinnedBackend(config, connector)
        self._pool = httpcore.ConnectionPool(
            ssl_context=_ssl_context(config), max_connections=config.max_connections,
            max_keepalive_connections=min(20, config.max_connections), keepalive_expiry=5.0,
            http1=True, http2=False, network_backend=self.backend)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not isinstance(request.stream, httpx.SyncByteStream):
            raise FetchError("the request body must be a synchronous byte stream")
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=request.url.raw_scheme, host=request.url.raw_host,
                             port=request.url.port, target=request.url.raw_path),
            headers=request.headers.raw, content=request.stream, extensions=request.extensions)
        with _as_httpx_errors():
            core_response = self._pool.handle_request(core_request)
        if not isinstance(core_response.stream, Iterable):
            raise FetchError("the connection pool returned an asynchronous body")
        return httpx.Response(status_code=core_response.status, headers=core_response.headers,
                              stream=_PinnedResponseStream(core_response.stream),
                              extensions=core_response.extensions)

    def close(self) -> None:
        self._pool.close()


def _ssl_context(config: FetchConfig) -> ssl.SSLContext:
    if config.ca_file is not None:
        try:
            return ssl.create_default_context(cafile=config.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"cannot load {config.ca_file!r}: {exc}", setting="ca_file") from exc
    return _certifi_context()


@functools.lru_cache(maxsize=1)
def _certifi_context() -> ssl.SSLContext:
    # Loading the bundle takes a noticeable fraction of a second; a context is safe to share.
    return httpx.create_ssl_context(trust_env=False)


# -- the guest's request -----------------------------------------------------------------


@dataclass(frozen=True)
class _Request:
    method: str
    url: CheckedURL
    headers: tuple[tuple[str, str], ...]
    body: bytes | None
    cache_ttl_s: float
    binary: bool


def _parse_request(request: object, domains: Sequence[str], config: FetchConfig,
                   credentials: Credentials | None) -> _Request:
    if not isinstance(request, Mapping):
        raise _bad_request(f"the request must be a map, not {type(request).__name__}")
    unknown = sorted(str(key) for key in request if key not in REQUEST_KEYS)
    if unknown:
        raise _bad_request(f"unknown request field(s) {', '.join(unknown)}; expected "
                           f"{', '.join(sorted(REQUEST_KEYS))}")
    url = check_url(request.get("url"), domains, config)
    check_params(url, credentials.param_names if credentials else ())
    headers = check_headers(request.get("headers"),
                            forbidden=credentials.header_names if credentials else (),
                            max_count=config.max_request_headers,
                            max_bytes=config.max_header_bytes)
    return _Request(method=_parse_method(request.get("method", "GET")), url=url,
                    headers=tuple(headers), body=_parse_body(request.get("body"), config),
                    cache_ttl_s=_parse_ttl(request.get("cache_ttl_s")),
                    binary=_parse_flag(request.get("binary", False)))


def _parse_method(method: object) -> str:
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise FetchDenied(f"fetch refused (method): {method!r} is not one of "
                          f"{', '.join(sorted(METHODS))}", rule="method")
    return method.upper()


def _parse_body(body: object, config: FetchConfig) -> bytes | None:
    if body is None:
        return None
    if isinstance(body, str):
        body = body.encode("utf-8")
    if not isinstance(body, bytes):
        raise _bad_request(f"body must be a string or bytes, not {type(body).__name__}")
    if len(body) > config.max_request_bytes:
        raise FetchTooLarge(f"the request body has {len(body)} bytes; at most "
                            f"{config.max_request_bytes} are allowed", rule="request_body")
    return body


def _parse_ttl(ttl: object) -> float:
    if ttl is None:
        return 0.0
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not 0 <= ttl < 10**9:
        raise _bad_request(f"cache_ttl_s must be a non-negative number of seconds, not {ttl!r}")
    return float(ttl)


def _parse_flag(flag: object) -> bool:
    if not isinstance(flag, bool):
        raise _bad_request(f"binary must be true or false, not {flag!r}")
    return flag


def _bad_request(message: str) -> FetchDenied:
    return FetchDenied(f"fetch refused (request): {message}", rule="request")


# -- the response body: capped while streaming, and after decompression --------------------


class _BodyReader:
    """Collects a body, decoding gzip/deflate with bounded output; raises past ``limit``."""

    def __init__(self, content_encoding: str, limit: int) -> None:
        codings = [c.strip().lower() for c in content_encoding.split(",")]
        codings = [c for c in codings if c and c != "identity"]
        self.coding = codings[0] if len(codings) == 1 else ""
        self.decodes = self.coding in ("gzip", "x-gzip", "deflate")
        self._limit = limit
        self._parts: list[bytes] = []
        self._size = 0
        self._inflater: Any = None
        if self.coding in ("gzip", "x-gzip"):
            self._inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif self.coding == "deflate":
            self._inflater = zlib.decompressobj(zlib.MAX_WBITS)

    def feed(self, data: bytes) -> None:
        if not self.decodes:
            self._keep(data)
            return
        try:
            self._inflate(data)
        except zlib.error:
            if self.coding == "deflate" and self._size == 0:
                # Some servers send raw deflate without the zlib header.
                self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
                self._inflate(data)
            else:
                raise

    def finish(self) -> bytes:
        if self.decodes and not self._inflater.eof:
            self._keep(self._inflater.flush())
        return b"".join(self._parts)

    def _inflate(self, data: bytes) -> None:
        pending = data
        while pending and not self._inflater.eof:
            out = self._inflater.decompress(pending, self._limit - self._size + 1)
            self._keep(out)
            pending = self._inflater.unconsumed_tail
            if not out and pending:
                break

    def _keep(self, data: bytes) -> None:
        self._size += len(data)
        if self._size > self._limit:
            raise FetchTooLarge(f"the response body exceeds {self._limit} bytes"
                                + (" after decompression" if self.decodes else ""),
                                rule="response_body")
        if data:
            self._parts.append(data)


# -- the client ---------------------------------------------------------------------------


class FetchClient:
    """One pooled, thread-safe HTTP client shared by all of a host's pack calls."""

    def __init__(self, config: FetchConfig, *, cache: FetchCache | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        self._config = config
        self._cache = cache
        self._client: httpx.Client | None = httpx.Client(
            transport=transport or PinnedTransport(config), follow_redirects=False,
            trust_env=False, cookies=_no_cookie_jar(),
            headers={"User-Agent": config.user_agent, "Accept-Encoding": "gzip, deflate"})

    @property
    def config(self) -> FetchConfig:
        return self._config

    def fetch(self, request: Mapping[str, Any], *, pack: str, domains: Sequence[str],
              credentials: Credentials | None = None, deadline: float | None = None
              ) -> dict[str, Any]:
        """Run one guest fetch; ``{"status", "headers", "body"}`` or a :class:`FetchError`."""
        client = self._open_client()
        parsed = _parse_request(request, domains, self._config, credentials)
        stop = time.monotonic() + self._config.total_timeout_s
        if deadline is not None:
            stop = min(stop, deadline)
        token = _deadline.set(stop)
        try:
            response = self._fetch_maybe_cached(client, parsed, pack, domains, credentials, stop)
        finally:
            _deadline.reset(token)
        return _for_guest(response, parsed.binary)

    def close(self) -> None:
        """Close the pooled connections; idempotent."""
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def __enter__(self) -> FetchClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _open_client(self) -> httpx.Client:
        if self._client is None:
            raise FetchError("the fetch client is closed")
        return self._client

    def _fetch_maybe_cached(self, client: httpx.Client, request: _Request, pack: str,
                            domains: Sequence[str], credentials: Credentials | None,
                            stop: float) -> CachedResponse:
        def exchange() -> CachedResponse:
            return self._exchange(client, request, domains, credentials, stop)

        if self._cache is None or request.method != "GET" or request.cache_ttl_s <= 0:
            return exchange()
        key = FetchCache.key(pack=pack, identity=credentials.identity if credentials else "",
                             method=request.method, url=request.url.url, headers=request.headers)
        return self._cache.fetch_once(key, request.cache_ttl_s, exchange, deadline=stop)

    def _exchange(self, client: httpx.Client, request: _Request, domains: Sequence[str],
                  credentials: Credentials | None, stop: float) -> CachedResponse:
        """Send the request and follow redirects, each hop checked by the full policy."""
        url, method, body, headers = request.url, request.method, request.body, request.headers
        shown = url.url
        refreshed = False
        for hop in range(self._config.max_redirects + 1):
            response, used_credentials = self._send(client, method, url, headers, body,
                                                    credentials, shown, stop)
            if response.status == 401 and used_credentials and not refreshed:
                refreshed = True
                if credentials is not None and credentials.refresh():
                    response, _ = self._send(client, method, url, headers, body, credentials,
                                             shown, stop)
            location = _location(response)
            if location is None:
                return response
            if hop == self._config.max_redirects:
                raise FetchDenied(f"fetch refused (redirect_limit): more than "
                                  f"{self._config.max_redirects} redirects", rule="redirect_limit",
                                  url=shown)
            next_url = _check_redirect(url, location, domains, self._config)
            method, body, headers = _redirected(response.status, method, body, headers,
                                                url, next_url)
            url, shown = next_url, next_url.url_without_query
        raise AssertionError("unreachable: the redirect loop returns or raises")

    def _send(self, client: httpx.Client, method: str, url: CheckedURL,
              headers: tuple[tuple[str, str], ...], body: bytes | None,
              credentials: Credentials | None, shown: str, stop: float
              ) -> tuple[CachedResponse, bool]:
        """One HTTP exchange to a checked URL; returns the response and whether auth was sent."""
        outgoing: list[tuple[str, str]] = list(headers)
        target = url.target
        applies = credentials is not None and credentials.applies_to(url.host, url.port)
        if credentials is not None and applies:
            injected: dict[str, str] = {}
            params: list[tuple[str, str]] = []
            credentials.apply(injected, params)
            outgoing.extend(injected.items())
            if params:
                target += ("&" if "?" in target else "?") + urlencode(params)
        timeout = _timeouts(self._config, stop, shown)
        with _translated_errors(method, shown):
            request = client.build_request(
                method, _httpx_url(url, target), content=body, timeout=timeout,
                headers=[(name.encode("ascii"), value.encode("utf-8"))
                         for name, value in outgoing])
            response = client.send(request, stream=True)
            try:
                received = self._receive(response, shown, stop)
            finally:
                response.close()
        log.debug("%s %s -> %d", method, url.url_without_query, received.status)
        return received, applies

    def _receive(self, response: httpx.Response, shown: str, stop: float) -> CachedResponse:
        raw_headers = response.headers.raw
        _check_response_headers(raw_headers, self._config, shown)
        headers = tuple((name.decode("latin-1").lower(), value.decode("latin-1"))
                        for name, value in raw_headers)
        if response.status_code in REDIRECT_STATUSES and "location" in response.headers:
            return CachedResponse(status=response.status_code, headers=headers, body=b"")
        reader = _BodyReader(response.headers.get("content-encoding", ""),
                             self._config.max_response_bytes)
        _check_declared_length(response, reader, self._config, shown)
        for chunk in response.iter_raw():
            reader.feed(chunk)
            if time.monotonic() > stop:
                raise FetchTimeout(f"{shown}: the response did not arrive in time",
                                   url=shown, rule="total_timeout")
        body = reader.finish()
        if reader.decodes:
            headers = tuple((n, v) for n, v in headers
                            if n not in ("content-encoding", "content-length"))
        return CachedResponse(status=response.status_code, headers=headers, body=body)


def _no_cookie_jar() -> http.cookiejar.CookieJar:
    """A jar that keeps nothing: cookies must never pass between packs or callers."""
    return http.cookiejar.CookieJar(policy=http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))


def _httpx_url(url: CheckedURL, target: str) -> httpx.URL:
    built = httpx.URL(url.origin + target)
    # The policy parsed the URL; make sure httpx reads the same host and port out of it.
    if built.host != url.host or (built.port or {"https": 443, "http": 80}[url.scheme]) != url.port:
        raise FetchDenied(f"fetch refused (malformed): {url.url_without_query} is read "
                          "differently by the HTTP client", rule="malformed")
    return built


def _timeouts(config: FetchConfig, stop: float, shown: str) -> httpx.Timeout:
    remaining = stop - time.monotonic()
    if remaining <= 0:
        raise FetchTimeout(f"{shown}: no time left for the request", url=shown,
                           rule="total_timeout")
    return httpx.Timeout(connect=min(config.connect_timeout_s, remaining),
                         read=min(config.read_timeout_s, remaining),
                         write=min(config.read_timeout_s, remaining), pool=remaining)


def _check_response_headers(raw: list[tuple[bytes, bytes]], config: FetchConfig,
                            shown: str) -> None:
    size = sum(len(name) + len(value) + 4 for name, value in raw)
    if len(raw) > config.max_response_headers or size > config.max_header_bytes:
        raise FetchTooLarge(f"{shown}: the response has {len(raw)} headers of {size} bytes; "
                            f"at most {config.max_response_headers} headers and "
                            f"{config.max_header_bytes} bytes are allowed",
                            url=shown, rule="response_headers")


def _check_declared_length(response: httpx.Response, reader: _BodyReader, config: FetchConfig,
                           shown: str) -> None:
    declared = response.headers.get("content-length", "")
    if not reader.decodes and declared.isdigit() and int(declared) > config.max_response_bytes:
        raise FetchTooLarge(f"{shown}: the response declares {declared} bytes; at most "
                            f"{config.max_response_bytes} are allowed", url=shown,
                            rule="response_body")


def _location(response: CachedResponse) -> str | None:
    if response.status not in REDIRECT_STATUSES:
        return None
    for name, value in response.headers:
        if name == "location":
            return value
    return None


def _check_redirect(current: CheckedURL, location: str, domains: Sequence[str],
                    config: FetchConfig) -> CheckedURL:
    try:
        joined = urljoin(current.url, location.strip(" "))
    except ValueError as exc:
        raise FetchDenied(f"fetch refused (redirect): {current.url_without_query} redirected to "
                          "an unreadable location", rule="redirect",
                          url=current.url_without_query) from exc
    return check_url(joined, domains, config, redact_query=True)


def _redirected(status: int, method: str, body: bytes | None,
                headers: tuple[tuple[str, str], ...], current: CheckedURL, target: CheckedURL
                ) -> tuple[str, bytes | None, tuple[tuple[str, str], ...]]:
    """Method, body and guest headers for the next hop (303, and 301/302 after POST, -> GET)."""
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        method, body = "GET", None
        headers = tuple((n, v) for n, v in headers if n.lower() != "content-type")
    if current.origin != target.origin:
        headers = tuple((n, v) for n, v in headers if n.lower() not in ORIGIN_BOUND_HEADERS)
    return method, body, headers


@contextmanager
def _translated_errors(method: str, shown: str) -> Iterator[None]:
    """httpx errors as Corral fetch errors (messages name the URL, never a credential)."""
    try:
        yield
    except FetchError as exc:
        # Raised below httpx (the address check at connect time): say which URL it was.
        if exc.url is None:
            exc.url = exc.details["url"] = shown
        raise
    except httpx.TimeoutException as exc:
        raise FetchTimeout(f"{method} {shown} timed out ({type(exc).__name__})",
                           url=shown) from exc
    except httpx.RemoteProtocolError as exc:
        if "Receive buffer too long" in str(exc):
            raise FetchTooLarge(f"{shown}: the response head is too large", url=shown,
                                rule="response_headers") from exc
        raise FetchNetworkError(f"{method} {shown} failed: {exc}", url=shown) from exc
    except httpx.HTTPError as exc:
        raise FetchNetworkError(f"{method} {shown} failed ({type(exc).__name__}: {exc})",
                                url=shown) from exc
    except zlib.error as exc:
        raise FetchNetworkError(f"{shown}: the compressed body is corrupt ({exc})",
                                url=shown) from exc


def _for_guest(response: CachedResponse, binary: bool) -> dict[str, Any]:
    headers: dict[str, str] = {}
    for name, value in response.headers:
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    body: str | bytes = response.body if binary else response.body.decode("utf-8", "replace")
    return {"status": response.status, "headers": headers, "body": body}
