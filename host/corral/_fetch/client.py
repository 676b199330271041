"""Host-mediated fetch: the Python side of the ``corral.fetch`` import.

:class:`FetchClient` takes the guest's request map, checks it with the policy
(:mod:`corral._fetch.policy`), injects credentials only where they apply, follows redirects
itself (each hop checked again), and streams the response under size and time caps.

The network seam is an httpx transport: by default :class:`PinnedTransport`
(``_fetch_transport.py``), which connects only to addresses the policy checked. An injected
transport replaces the network, and the address check with it: inject one only in tests
or behind a guard of your own.
"""

from __future__ import annotations

import logging
import re
import time
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence
from urllib.parse import urlencode

import httpx

from .._closing import Closeable
from .._errors import FetchDenied, FetchError, FetchNetworkError, FetchTimeout, FetchTooLarge
from .._fetch.cache import CachedResponse, FetchCache
from .._fetch.transport import (FetchConfig, OpenResponse, PinnedBackend, PinnedTransport, Resolver,
                               _deadline, system_resolver)
from .._domains import DeclaredDomain
from .._fetch.policy import (DEFAULT_PORTS, CheckedURL, check_headers, check_params, check_reach,
                             check_url, credentials_may_travel)
from .._fetch.redirects import Reach, carried_to, check_redirect
from .._types import Credentials

log = logging.getLogger("corral.fetch")

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
REQUEST_KEYS = frozenset({"method", "url", "headers", "body", "cache_ttl_s", "binary"})
#: Guest headers that do not follow a redirect to another origin.
ORIGIN_BOUND_HEADERS = frozenset({"authorization", "cookie"})


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


class FetchClient(Closeable):
    """One pooled, thread-safe HTTP client shared by all of a host's pack calls.

    Requests go straight to an httpx transport (``PinnedTransport`` unless another is
    given), not through ``httpx.BaseTransport``: redirects are followed here, hop by hop, under
    the policy; there is no cookie jar, no proxy and no environment to honour; and the
    client's per-request machinery cost more host CPU than the exchange itself.
    """

    closeable_name = "fetch client"

    def __init__(self, config: FetchConfig, *, cache: FetchCache | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        self._config = config
        self._cache = cache
        self._client: httpx.BaseTransport = transport or PinnedTransport(config)
        self._default_headers = ((b"User-Agent", config.user_agent.encode("ascii")),
                                 (b"Accept", b"*/*"), (b"Accept-Encoding", b"gzip, deflate"))

    @property
    def config(self) -> FetchConfig:
        return self._config

    def fetch(self, request: Mapping[str, Any], *, pack: str, domains: Sequence[str],
              credentials: Credentials | None = None, deadline: float | None = None,
              approved_domains: Sequence[str | DeclaredDomain] = ()) -> dict[str, Any]:
        """Run one guest fetch; ``{"status", "headers", "body"}`` or a :class:`FetchError`.

        ``approved_domains`` are the declared domains the operator approved for the pack
        beyond its auth domains: with ``credentials``, every hop must stay on one or the
        other (rule ``unapproved_domain``).
        """
        client = self._open_client()
        parsed = _parse_request(request, domains, self._config, credentials)
        check_reach(parsed.url, credentials, approved_domains, parsed.url.url)
        stop = time.monotonic() + self._config.total_timeout_s
        if deadline is not None:
            stop = min(stop, deadline)
        token = _deadline.set(stop)
        try:
            response = self._fetch_maybe_cached(client, parsed, pack, domains, credentials, stop,
                                                tuple(approved_domains))
        finally:
            _deadline.reset(token)
        return _for_guest(response, parsed.binary)

    def _close(self) -> None:
        """Close the pooled connections."""
        self._client.close()

    def _open_client(self) -> httpx.BaseTransport:
        self._check_open()
        return self._client

    def _fetch_maybe_cached(self, client: httpx.BaseTransport, request: _Request, pack: str,
                            domains: Sequence[str], credentials: Credentials | None,
                            stop: float, approved: tuple[str | DeclaredDomain, ...] = ()
                            ) -> CachedResponse:
        def exchange() -> CachedResponse:
            return self._exchange(client, request, Reach(domains, credentials, approved), stop)

        if self._cache is None or request.method != "GET" or request.cache_ttl_s <= 0:
            return exchange()
        key = FetchCache.key(pack=pack, identity=credentials.identity if credentials else "",
                             method=request.method, url=request.url.url, headers=request.headers)
        return self._cache.fetch_once(key, request.cache_ttl_s, exchange, deadline=stop)

    def _exchange(self, client: httpx.BaseTransport, request: _Request, reach: Reach,
                  stop: float) -> CachedResponse:
        """Send the request and follow redirects, each hop checked by the full policy.

        Credentials go on the first hop and on hops that keep its scheme, host and port;
        after a hop that changes any of them they are gone for the rest of the chain.
        """
        url, method, body, headers = request.url, request.method, request.body, request.headers
        shown = url.url
        carried = reach.credentials
        refreshed = False
        for hop in range(self._config.max_redirects + 1):
            response, used_credentials = self._send(client, method, url, headers, body,
                                                    carried, shown, stop)
            if response.status == 401 and used_credentials and not refreshed:
                refreshed = True
                if carried is not None and carried.refresh():
                    response, _ = self._send(client, method, url, headers, body, carried,
                                             shown, stop)
            location = _location(response)
            if location is None:
                return response
            if hop == self._config.max_redirects:
                raise FetchDenied(f"fetch refused (redirect_limit): more than "
                                  f"{self._config.max_redirects} redirects", rule="redirect_limit",
                                  url=shown)
            next_url = check_redirect(url, location, reach, self._config)
            carried = carried_to(carried, url, next_url)
            method, body, headers = _redirected(response.status, method, body, headers,
                                                url, next_url)
            url, shown = next_url, next_url.url_without_query
        raise AssertionError("unreachable: the redirect loop returns or raises")

    def _send(self, client: httpx.BaseTransport, method: str, url: CheckedURL,
              headers: tuple[tuple[str, str], ...], body: bytes | None,
              credentials: Credentials | None, shown: str, stop: float
              ) -> tuple[CachedResponse, bool]:
        """One HTTP exchange to a checked URL; returns the response and whether auth was sent."""
        outgoing: list[tuple[str, str]] = list(headers)
        target = url.target
        applies = (credentials is not None and credentials_may_travel(url, self._config)
                   and credentials.applies_to(url.host, url.port, url.scheme))
        if credentials is not None and applies:
            injected: dict[str, str] = {}
            params: list[tuple[str, str]] = []
            credentials.apply(injected, params)
            outgoing.extend(injected.items())
            if params:
                target += ("&" if "?" in target else "?") + urlencode(params)
        timeout = _timeouts(self._config, stop, shown)
        with _translated_errors(method, shown):
            response = self._open(client, method, url, target, self._headers(outgoing), body,
                                  timeout)
            try:
                received = self._receive(response, shown, stop)
            finally:
                response.close()
        log.debug("%s %s -> %d", method, url.url_without_query, received.status)
        return received, applies

    def _headers(self, outgoing: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
        """The guest's headers (and injected credentials) after the defaults they leave."""
        chosen = {name.lower() for name, _ in outgoing}
        return [*(h for h in self._default_headers if h[0].decode().lower() not in chosen),
                *((name.encode("ascii"), value.encode("utf-8")) for name, value in outgoing)]

    @staticmethod
    def _open(client: httpx.BaseTransport, method: str, url: CheckedURL, target: str,
              headers: list[tuple[bytes, bytes]], body: bytes | None,
              timeout: httpx.Timeout) -> OpenResponse:
        """Send one request. Through the pinned transport a plain target goes out as it is
        (nothing to re-parse: host and port come from the policy); anything else goes
        through ``httpx.Request``, which encodes it."""
        wire = target.encode("ascii") if _PLAIN_TARGET.fullmatch(target) else None
        if isinstance(client, PinnedTransport) and wire is not None:
            host = url.host if url.port == DEFAULT_PORTS[url.scheme] else f"{url.host}:{url.port}"
            framing = [(b"Host", host.encode("ascii"))]
            if body is not None or method in ("POST", "PUT", "PATCH"):
                framing.append((b"Content-Length", str(len(body or b"")).encode("ascii")))
            return client.open(method, url.scheme, url.host, url.port, wire,
                               framing + headers, body, timeout.as_dict())
        response = client.handle_request(httpx.Request(
            method, _httpx_url(url, target), content=body, headers=headers,
            extensions={"timeout": timeout.as_dict()}))
        if not isinstance(response.stream, httpx.SyncByteStream):
            raise FetchError("the transport returned an asynchronous body")
        return OpenResponse(response.status_code, response.headers.raw, response.stream,
                            response.close)

    def _receive(self, response: OpenResponse, shown: str, stop: float) -> CachedResponse:
        _check_response_headers(response.headers, self._config, shown)
        headers = tuple((name.decode("latin-1").lower(), value.decode("latin-1"))
                        for name, value in response.headers)
        if response.status in REDIRECT_STATUSES and _header(headers, "location") is not None:
            return CachedResponse(status=response.status, headers=headers, body=b"")
        reader = _BodyReader(_header(headers, "content-encoding") or "",
                             self._config.max_response_bytes)
        _check_declared_length(_header(headers, "content-length") or "", reader, self._config,
                               shown)
        for chunk in response.chunks:
            reader.feed(chunk)
            if time.monotonic() > stop:
                raise FetchTimeout(f"{shown}: the response did not arrive in time",
                                   url=shown, rule="total_timeout")
        body = reader.finish()
        if reader.decodes:
            headers = tuple((n, v) for n, v in headers
                            if n not in ("content-encoding", "content-length"))
        return CachedResponse(status=response.status, headers=headers, body=body)


#: A request target that needs no encoding: RFC 3986 characters and valid %XX escapes.
_PLAIN_TARGET = re.compile(r"/(?:[A-Za-z0-9\-._~:/?@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*")


def _header(headers: tuple[tuple[str, str], ...], name: str) -> str | None:
    """The first value of a (lower-case) header, or None."""
    for key, value in headers:
        if key == name:
            return value
    return None


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


def _check_declared_length(declared: str, reader: _BodyReader, config: FetchConfig,
                           shown: str) -> None:
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


__all__ = ["FetchClient", "FetchConfig", "PinnedBackend", "PinnedTransport", "Resolver",
           "system_resolver"]
