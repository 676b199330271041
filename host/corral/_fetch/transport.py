"""The network seam of host-mediated fetch: the host's fetch settings and an httpx
transport that connects only to checked addresses.

:class:`PinnedTransport` sits on httpcore pools whose network backend
(:class:`PinnedBackend`) resolves each name once, checks every address with the policy,
and connects to a checked address; TLS is still verified against the name. No second
lookup happens, so a name cannot rebind between the check and the connection.

No response crosses calls: a pool serves one caller (its ``pool_key``), a connection
holding bytes after its response is closed instead of reused, and every byte read off a
socket counts against the exchange's :func:`wire_meter`.
"""

from __future__ import annotations

import contextvars
import functools
import ipaddress
import logging
import re
import socket
import ssl
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Hashable, Iterable, Iterator, Mapping

import httpcore
import httpx

from .._errors import ConfigError, FetchDenied, FetchError, FetchTooLarge
from .._fetch.policy import check_address, normalize_host
from .pool import CallerPools, CleanPool

log = logging.getLogger("corral.fetch")

Resolver = Callable[[str, int], list[str]]

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "corral_fetch_deadline", default=None)
"""The ``time.monotonic()`` instant the current thread's fetch must end by."""


_meter: contextvars.ContextVar[_WireMeter | None] = contextvars.ContextVar(
    "corral_fetch_wire_meter", default=None)
"""What the current thread's exchange has read off its socket so far."""


#: Connections a thread's pool keeps (a thread has one request in flight at a time; the
#: rest are kept alive for the next requests to other origins).
THREAD_POOL_CONNECTIONS = 4

#: The request extension that names the pool of a request sent through ``handle_request``.
POOL_KEY = "corral.pool_key"


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

    host_ports: Mapping[str, int] = field(default_factory=dict)
    """Derived from ``host_map`` entries written ``ip:port``: where a mapped name's
    connections go instead of the URL's port (a local stand-in of a real API)."""

    def __post_init__(self) -> None:
        addresses, ports = _split_ports(self.host_map)
        object.__setattr__(self, "host_map", MappingProxyType(_normalized_host_map(addresses)))
        # dataclasses.replace() passes host_ports already derived, from a host_map whose
        # ports are split off: keep them (the OAuth2 token client is such a copy).
        object.__setattr__(self, "host_ports", MappingProxyType(
            {**self.host_ports, **{normalize_host(k.strip()): v for k, v in ports.items()}}))
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


def _split_ports(host_map: Mapping[str, str]) -> tuple[dict[str, str], dict[str, int]]:
    """``name -> ip[:port]`` (IPv6 as ``[ip]:port``) into addresses and ports."""
    addresses: dict[str, str] = {}
    ports: dict[str, int] = {}
    for name, value in host_map.items():
        text = str(value).strip()
        match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d{1,5})|([0-9.]+):(\d{1,5})", text)
        if match is None:
            addresses[name] = text.strip("[]")
            continue
        ip, port = (match.group(1), match.group(2)) if match.group(1) else (match.group(3),
                                                                           match.group(4))
        if not 0 < int(port) < 65536:
            raise ConfigError(f"{name!r} -> {value!r}: the port must be 1-65535",
                              setting="host_map")
        addresses[name] = ip
        ports[name] = int(port)
    return addresses, ports


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


class _WireMeter:
    """Counts the bytes one exchange reads off its socket: head, framing, informational
    responses and body alike, so no framing trick reads more than ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.read = 0

    def count(self, size: int) -> None:
        self.read += size
        if self.read > self.limit:
            raise FetchTooLarge(f"the response took more than {self.limit} bytes on the wire",
                                rule="response_wire")


def wire_limit(config: FetchConfig) -> int:
    """Bytes one exchange may read: the body and head caps, and a quarter more for framing
    (an honest chunked body spends well under 1 %)."""
    return (config.max_response_bytes + config.max_header_bytes
            + config.max_response_bytes // 4 + 64 * 1024)


@contextmanager
def wire_meter(limit: int) -> Iterator[_WireMeter]:
    """Count this thread's socket reads against ``limit`` until the block ends."""
    meter = _WireMeter(limit)
    token = _meter.set(meter)
    try:
        yield meter
    finally:
        _meter.reset(token)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every wait ends by the fetch deadline (slow drips time out)
    and whose every read is counted by the exchange's wire meter."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data = self._inner.read(max_bytes, _clamp(timeout, httpcore.ReadTimeout))
        meter = _meter.get()
        if meter is not None:
            meter.count(len(data))
        return data

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
        port = self._config.host_ports.get(host, port)
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
    def __init__(self, chunks: Iterable[bytes], after: Callable[[], None] | None) -> None:
        self._chunks = chunks
        self._after = after

    def __iter__(self) -> Iterator[bytes]:
        with _as_httpx_errors():
            yield from self._chunks

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        try:
            if close is not None:
                with _as_httpx_errors():
                    close()
        finally:
            after, self._after = self._after, None
            if after is not None:
                after()


@dataclass
class OpenResponse:
    """A response whose body is still to be read, from whichever transport sent it."""

    status: int
    headers: list[tuple[bytes, bytes]]
    chunks: Iterable[bytes]
    close: Callable[[], None]


class PinnedTransport(httpx.BaseTransport):
    """An httpx transport over httpcore pools that connect only to checked addresses.

    Pools are :class:`~corral._fetch.pool.CallerPools`: per thread and per ``pool_key``
    (the caller), so connections are never shared between callers; a request without a
    key gets a pool of its own, closed with its response.
    """

    def __init__(self, config: FetchConfig, *,
                 connector: httpcore.NetworkBackend | None = None) -> None:
        self.backend = PinnedBackend(config, connector)
        self._config = config
        self._pools = CallerPools(self._new_pool)

    def _new_pool(self) -> httpcore.ConnectionPool:
        limit = max(1, min(THREAD_POOL_CONNECTIONS, self._config.max_connections))
        return CleanPool(ssl_context=_ssl_context(self._config), max_connections=limit,
                         max_keepalive_connections=limit, keepalive_expiry=5.0, http1=True,
                         http2=False, network_backend=self.backend)

    def _send(self, request: httpcore.Request, key: Hashable | None
              ) -> tuple[httpcore.Response, _PinnedResponseStream]:
        pool, release = self._pools.get(key)
        try:
            with _as_httpx_errors():
                response = pool.handle_request(request)
            if not isinstance(response.stream, Iterable):
                raise FetchError("the connection pool returned an asynchronous body")
        except BaseException:
            if release is not None:
                release()
            raise
        return response, _PinnedResponseStream(response.stream, release)

    def open(self, method: str, scheme: str, host: str, port: int, target: bytes,
             headers: list[tuple[bytes, bytes]], body: bytes | None,
             timeouts: Mapping[str, float | None], *, pool_key: Hashable | None = None
             ) -> OpenResponse:
        """Send a request given in wire form (no URL to parse; the caller sets Host and
        Content-Length) on the pool of ``pool_key``, and return the open response. Errors
        are httpx's."""
        request = httpcore.Request(
            method=method, url=httpcore.URL(scheme=scheme, host=host, port=port, target=target),
            headers=headers, content=body or b"", extensions={"timeout": dict(timeouts)})
        response, stream = self._send(request, pool_key)
        return OpenResponse(response.status, response.headers, stream, stream.close)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not isinstance(request.stream, httpx.SyncByteStream):
            raise FetchError("the request body must be a synchronous byte stream")
        extensions = dict(request.extensions)
        key = extensions.pop(POOL_KEY, None)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=request.url.raw_scheme, host=request.url.raw_host,
                             port=request.url.port, target=request.url.raw_path),
            headers=request.headers.raw, content=request.stream, extensions=extensions)
        core_response, stream = self._send(core_request, key)
        return httpx.Response(status_code=core_response.status, headers=core_response.headers,
                              stream=stream, extensions=core_response.extensions)

    def close(self) -> None:
        self._pools.close()


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
