"""The guest side of the ``corral.fetch`` import: one pack call's fetches, through the policy.

The sandbox hands each ``corral.fetch`` request map here. It is sent by the
:class:`~corral._fetch.client.FetchClient` (policy, pinned addresses, credentials,
caps, the GET cache) for exactly one pack and one caller's credentials. Everything that
leaves for the guest (and, through a fetch error, for the caller) is redacted of every
injected secret first: the response (decoded as JSON when the guest asked for it) and
any error with its chained causes. While the fetch runs, the secrets it injects are
registered with :mod:`corral._fetch.redact_logs`, so no log record shows them either.
The shaping (JSON, redaction) runs inside the client, before the GET cache may keep the
response, so the cache holds only what the guest may see.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any, Sequence

from .._errors import CorralError, FetchNetworkError, FetchTooLarge
from .._metrics import Metrics
from .._pack.abi import MAX_DEPTH, exceeds_depth
from .._types import Credentials, FinishingCredentials, OutgoingRequest
from .redact import Redactor
from .redact_logs import SecretsInFlight

if TYPE_CHECKING:
    from .client import FetchClient


class GuestFetch:
    """Fetches of one pack call: the pack's declared domains, the caller's credentials."""

    def __init__(self, client: FetchClient, metrics: Metrics, *, pack: str, pack_hash: str,
                 domains: Sequence[str], credentials: Credentials | None,
                 principal: str = "", approved_domains: Sequence[str] = ()) -> None:
        self._client = client
        self._approved = tuple(approved_domains)
        self._metrics = metrics
        self._pack = pack
        self._pack_hash = pack_hash
        self._principal = principal
        self._domains = domains
        self._credentials = credentials

    def fetch(self, request: dict[str, Any], deadline: float) -> dict[str, Any]:
        started = time.perf_counter()
        in_flight = SecretsInFlight()
        try:
            with in_flight:
                response = self._fetch(request, deadline, in_flight)
        except Exception as exc:
            self._redactor(in_flight, None).error(exc)
            self._metrics.fetch_done(self._pack, getattr(exc, "kind", "error"),
                                     getattr(exc, "rule", None), time.perf_counter() - started)
            raise
        self._metrics.fetch_done(self._pack, "ok", None, time.perf_counter() - started)
        return response

    def _fetch(self, request: dict[str, Any], deadline: float,
               in_flight: SecretsInFlight) -> dict[str, Any]:
        want_json = bool(request.pop("json", False))
        _encode_json_body(request)
        credentials = (_Tracked(self._credentials, in_flight)
                       if self._credentials is not None else None)

        def shape(response: dict[str, Any]) -> dict[str, Any]:
            """What the guest (and the GET cache) gets: decoded, without a secret."""
            if want_json:
                response = _with_json(response)
            redactor = self._redactor(in_flight, deadline)
            return _redacted(response, redactor) if redactor else response

        fetched: dict[str, Any] = self._client.fetch(
            request, pack=self._pack, pack_hash=self._pack_hash, principal=self._principal,
            domains=self._domains, credentials=credentials, deadline=deadline, shape=shape,
            view="json" if want_json else "", approved_domains=self._approved)
        return fetched

    def _redactor(self, in_flight: SecretsInFlight, deadline: float | None) -> Redactor:
        """What was injected, or (nothing injected) what the connection would inject."""
        secrets = in_flight.redactor.secrets
        if not secrets and self._credentials is not None:
            try:
                secrets = self._credentials.secret_values()
            except CorralError:  # the connection cannot be opened: nothing was sent
                secrets = frozenset()
        return Redactor(secrets, deadline=deadline)


def _redacted(response: dict[str, Any], redactor: Redactor) -> dict[str, Any]:
    """The response with every secret cut out; header names, which the client lower-cased,
    matched in any case."""
    headers = response.get("headers")
    if isinstance(headers, dict):
        folded = Redactor(redactor.secrets, deadline=redactor.deadline, ignore_case=True)
        response = {**response, "headers": {folded.text(str(name)): redactor.value(value)
                                            for name, value in headers.items()}}
    return {name: value if name == "headers" else redactor.value(value)
            for name, value in response.items()}


class _Tracked:
    """The caller's credentials, telling ``in_flight`` each secret as it is injected
    (an OAuth2 refresh mid-fetch injects a new one)."""

    def __init__(self, inner: Credentials, in_flight: SecretsInFlight) -> None:
        self._inner = inner
        self._in_flight = in_flight

    @property
    def identity(self) -> str:
        return self._inner.identity

    @property
    def header_names(self) -> frozenset[str]:
        return self._inner.header_names

    @property
    def param_names(self) -> frozenset[str]:
        return self._inner.param_names

    def applies_to(self, host: str, port: int | None = None, scheme: str = "https") -> bool:
        return self._inner.applies_to(host, port, scheme)

    def apply(self, headers: dict[str, str], params: list[tuple[str, str]]) -> None:
        self._inner.apply(headers, params)
        sent = [value for name, value in headers.items()
                if name.lower() in self._inner.header_names]
        sent += [value for name, value in params if name in self._inner.param_names]
        self._in_flight.learn([*sent, *self._inner.secret_values()])

    def finish(self, request: OutgoingRequest) -> OutgoingRequest:
        if not isinstance(self._inner, FinishingCredentials):
            return request
        finished = self._inner.finish(request)
        self._in_flight.learn(self._inner.secret_values())  # minted while signing, maybe
        return finished

    def refresh(self) -> bool:
        return self._inner.refresh()

    def secret_values(self) -> frozenset[str]:
        return self._inner.secret_values()


def _encode_json_body(request: dict[str, Any]) -> None:
    json_body = request.pop("json_body", None)
    if json_body is None:
        return
    if exceeds_depth(json_body):
        raise FetchTooLarge(f"fetch refused (max_depth): the JSON body nests deeper than "
                            f"{MAX_DEPTH} levels", rule="max_depth")
    request["body"] = json.dumps(json_body, separators=(",", ":"))
    headers = dict(request.get("headers") or {})
    headers.setdefault("Content-Type", "application/json")
    request["headers"] = headers


#: The guest decodes the JSON two levels down, inside ``{ok: {..., json}}``: the whole
#: message stays within ``MAX_DEPTH``, which is what every guest SDK decodes.
JSON_DEPTH = MAX_DEPTH - 2


def _with_json(response: dict[str, Any]) -> dict[str, Any]:
    body = response.get("body", "")
    too_deep = FetchTooLarge(f"the response JSON nests deeper than {JSON_DEPTH} levels "
                             "(max_depth)", rule="max_depth")
    try:
        parsed = json.loads(body) if body else None
    except RecursionError:
        raise too_deep from None
    except (ValueError, TypeError) as exc:
        raise FetchNetworkError(f"the response body is not valid JSON: {exc}", rule="json") from exc
    if exceeds_depth(parsed, JSON_DEPTH):
        raise too_deep
    response["json"] = parsed
    response["body"] = ""
    return response
