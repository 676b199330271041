"""Host-mediated fetch: the Python side of the ``corral.fetch`` import.

:class:`FetchClient` takes the guest's request map, checks it with the policy
(:mod:`corral._fetch.policy`), injects credentials only where they apply, follows redirects
itself (each hop checked again), and streams the response under size and time caps,
decoding the one content coding it accepted (:mod:`corral._fetch.response`).

What a guest receives is shaped by the caller (JSON, redaction) before the GET cache may
keep it, so the cache holds only what a guest may see, and never a response it refused.

The network seam is an httpx transport: by default :class:`PinnedTransport`
(:mod:`corral._fetch.transport`), which connects only to addresses the policy checked and
keeps connections per caller. An injected transport replaces the network, and the address
check with it: inject one only in tests or behind a guard of your own.
"""

from __future__ import annotations

import logging
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Sequence
from urllib.parse import urlencode

import httpx

from .._closing import Closeable
from .._errors import FetchDenied, FetchError, FetchNetworkError, FetchTimeout, FetchTooLarge
from .._fetch.cache import FetchCache
from .._fetch.flights import LocalFlights
from .._fetch.transport import (POOL_KEY, FetchConfig, OpenResponse, PinnedBackend,
                               PinnedTransport, Resolver, _deadline, system_resolver, wire_limit,
                               wire_meter)
from .._domains import DeclaredDomain
from .._fetch.policy import (DEFAULT_PORTS, CheckedURL, check_headers, check_params, check_reach,
                             check_url, credentials_may_travel)
from .._fetch.redirects import Reach, carried_to, check_redirect
from .._types import Credentials, FinishingCredentials, OutgoingRequest
from .response import ACCEPT_ENCODING, BodyReader, Received, content_coding

log = logging.getLogger("corral.fetch")

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
REQUEST_KEYS = frozenset({"method", "url", "headers", "body", "cache_ttl_s", "binary"})
#: Guest headers that do not follow a redirect to another origin.
ORIGIN_BOUND_HEADERS = frozenset({"authorization", "cookie"})
#: Request headers only the host sets (besides the policy's framing headers): the host
#: decodes what it asked for, so a guest may not ask for a coding of its own.
HOST_HEADERS = frozenset({"accept-encoding"})

#: What a caller makes of a response before the guest (and the GET cache) gets it.
Shape = Callable[[dict[str, Any]], dict[str, Any]]


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
                            forbidden=HOST_HEADERS | (credentials.header_names
                                                      if credentials else frozenset()),
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


@dataclass(frozen=True)
class _Caller:
    """Whose fetch this is: it picks the connection pool and scopes the cache key."""

    pack: str
    pack_hash: str
    principal: str
    domains: Sequence[str]
    credentials: Credentials | None
    #: The declared domains the operator approved beyond the auth domains.
    approved: tuple[str | DeclaredDomain, ...] = ()

    @property
    def identity(self) -> str:
        return self.credentials.identity if self.credentials is not None else ""

    @property
    def pool_key(self) -> tuple[str, str, str]:
        return (self.principal, self.identity, self.pack_hash)


# -- the client ---------------------------------------------------------------------------


class FetchClient(Closeable):
    """One pooled, thread-safe HTTP client shared by all of a host's pack calls.

    Requests go straight to an httpx transport (``PinnedTransport`` unless another is
    given), not through ``httpx.BaseTransport``: redirects are followed here, hop by hop, under
    the policy; there is no cookie jar, no proxy and no environment to honour; and the
    client's per-request machinery cost more host CPU than the exchange itself.
    """

    closeable_name = "fetch client"

    def __init__(self, config: FetchConfig, *, cache: LocalFlights | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        self._config = config
        self._cache = cache
        self._client: httpx.BaseTransport = transport or PinnedTransport(config)
        self._default_headers = ((b"User-Agent", config.user_agent.encode("ascii")),
                                 (b"Accept", b"*/*"))
        self._wire_limit = wire_limit(config)

    @property
    def config(self) -> FetchConfig:
        return self._config

    def fetch(self, request: Mapping[str, Any], *, pack: str, pack_hash: str,
              domains: Sequence[str], principal: str = "",
              credentials: Credentials | None = None, deadline: float | None = None,
              shape: Shape | None = None, view: str = "",
              approved_domains: Sequence[str | DeclaredDomain] = ()) -> dict[str, Any]:
        """Run one guest fetch: ``{"status", "headers", "body"}`` after ``shape``, or a
        :class:`FetchError`.

        ``pack_hash`` (the wasm's sha256) and ``principal`` scope the GET cache and the
        connection pool; ``view`` names what ``shape`` makes of a response (two views of
        one response are two cache entries). A ``shape`` that raises refuses the response,
        and nothing is cached. ``approved_domains`` are the declared domains the operator
        approved beyond the pack's auth domains: with ``credentials``, every hop must stay on
        one or the other (rule ``unapproved_domain``)."""
        client = self._open_client()
        parsed = _parse_request(request, domains, self._config, credentials)
        check_reach(parsed.url, credentials, approved_domains, parsed.url.url)
        caller = _Caller(pack, pack_hash, principal, domains, credentials,
                         tuple(approved_domains))
        stop = time.monotonic() + self._config.total_timeout_s
        if deadline is not None:
            stop = min(stop, deadline)
        token = _deadline.set(stop)
        try:
            return self._fetch_maybe_cached(client, parsed, caller, stop, shape, view)
        finally:
            _deadline.reset(token)

    def _close(self) -> None:
        """Close the pooled connections."""
        self._client.close()

    def _open_client(self) -> httpx.BaseTransport:
        self._check_open()
        return self._client

    def _fetch_maybe_cached(self, client: httpx.BaseTransport, request: _Request,
                            caller: _Caller, stop: float, shape: Shape | None,
                            view: str) -> dict[str, Any]:
        def produce() -> dict[str, Any]:
            received = _for_guest(self._exchange(client, request, caller, stop), request.binary)
            return shape(received) if shape is not None else received

        if self._cache is None or request.method != "GET" or request.cache_ttl_s <= 0:
            return produce()
        key = FetchCache.key(pack=caller.pack, pack_hash=caller.pack_hash,
                             principal=caller.principal, identity=caller.identity,
                             method=request.method, url=request.url.url, headers=request.headers,
                             view=("bytes:" if request.binary else "text:") + view)
        return self._cache.fetch_once(key, request.cache_ttl_s, produce, deadline=stop)

    def _exchange(self, client: httpx.BaseTransport, request: _Request, caller: _Caller,
                  stop: float) -> Received:
        """Send the request and follow redirects, each hop checked by the full policy.

        Credentials go on the first hop and on hops that keep its scheme, host and port;
        after a hop that changes any of them they are gone for the rest of the chain.
        """
        url, method, body, headers = request.url, request.method, request.body, request.headers
        reach = Reach(caller.domains, caller.credentials, caller.approved)
        carried = caller.credentials
        shown = url.url
        refreshed = False
        for hop in range(self._config.max_redirects + 1):
            response, used_credentials = self._send(client, method, url, headers, body,
                                                    caller, carried, shown, stop)
            if response.status == 401 and used_credentials and not refreshed:
                refreshed = True
                if carried is not None and carried.refresh():
                    response, _ = self._send(client, method, url, headers, body, caller,
                                             carried, shown, stop)
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
              headers: tuple[tuple[str, str], ...], body: bytes | None, caller: _Caller,
              credentials: Credentials | None, shown: str, stop: float
              ) -> tuple[Received, bool]:
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
            if isinstance(credentials, FinishingCredentials):
                target, outgoing, body = _finished(credentials, method, url, target,
                                                   outgoing, body)
        timeout = _timeouts(self._config, stop, shown)
        with _translated_errors(method, shown), wire_meter(self._wire_limit):
            response = self._open(client, method, url, target, self._headers(outgoing), body,
                                  timeout, caller.pool_key)
            try:
                received = self._receive(response, method, shown, stop)
            finally:
                response.close()
        log.debug("%s %s -> %d", method, url.url_without_query, received.status)
        return received, applies

    def _headers(self, outgoing: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
        """The guest's headers (and injected credentials) after the defaults they leave,
        and the host's own ``Accept-Encoding``, always."""
        chosen = {name.lower() for name, _ in outgoing}
        return [*(h for h in self._default_headers if h[0].decode().lower() not in chosen),
                (b"Accept-Encoding", ACCEPT_ENCODING.encode("ascii")),
                *((name.encode("ascii"), value.encode("utf-8")) for name, value in outgoing)]

    @staticmethod
    def _open(client: httpx.BaseTransport, method: str, url: CheckedURL, target: str,
              headers: list[tuple[bytes, bytes]], body: bytes | None,
              timeout: httpx.Timeout, pool_key: tuple[str, str, str]) -> OpenResponse:
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
                               framing + headers, body, timeout.as_dict(), pool_key=pool_key)
        response = client.handle_request(httpx.Request(
            method, _httpx_url(url, target), content=body, headers=headers,
            extensions={"timeout": timeout.as_dict(), POOL_KEY: pool_key}))
        if not isinstance(response.stream, httpx.SyncByteStream):
            raise FetchError("the transport returned an asynchronous body")
        return OpenResponse(response.status_code, response.headers.raw, response.stream,
                            response.close)

    def _receive(self, response: OpenResponse, method: str, shown: str, stop: float
                 ) -> Received:
        _check_response_headers(response.headers, self._config, shown)
        headers = tuple((name.decode("latin-1").lower(), value.decode("latin-1"))
                        for name, value in response.headers)
        if response.status in REDIRECT_STATUSES and _header(headers, "location") is not None:
            # The body is left unread, so the connection is closed, not reused.
            return Received(status=response.status, headers=headers, body=b"")
        reader = BodyReader(content_coding(headers, shown), self._config.max_response_bytes,
                            shown)
        if method != "HEAD":
            _check_declared_length(_header(headers, "content-length") or "", self._config,
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
        return Received(status=response.status, headers=headers, body=body)


def _finished(credentials: FinishingCredentials, method: str, url: CheckedURL, target: str,
              outgoing: list[tuple[str, str]], body: bytes | None
              ) -> tuple[str, list[tuple[str, str]], bytes | None]:
    """The request after credentials that sign or fill it in (SigV4, custom auth)."""
    done = credentials.finish(OutgoingRequest(method, url.scheme, url.host, url.port, target,
                                              tuple(outgoing), body))
    return done.target, list(done.headers), done.body


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


def _check_declared_length(declared: str, config: FetchConfig, shown: str) -> None:
    """Refuse up front a body that says it is larger than the cap (on the wire, so
    whatever its coding)."""
    if declared.isdigit() and int(declared) > config.max_response_bytes:
        raise FetchTooLarge(f"{shown}: the response declares {declared} bytes; at most "
                            f"{config.max_response_bytes} are allowed", url=shown,
                            rule="response_body")


def _location(response: Received) -> str | None:
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


def _for_guest(response: Received, binary: bool) -> dict[str, Any]:
    headers: dict[str, str] = {}
    for name, value in response.headers:
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    body: str | bytes = response.body if binary else response.body.decode("utf-8", "replace")
    return {"status": response.status, "headers": headers, "body": body}


__all__ = ["FetchClient", "FetchConfig", "PinnedBackend", "PinnedTransport", "Resolver",
           "system_resolver"]
