"""The guest side of the ``corral.fetch`` import: one pack call's fetches, through the policy.

The sandbox hands each ``corral.fetch`` request map here. It is sent by the
:class:`~corral._fetch.client.FetchClient` (policy, pinned addresses, credentials,
caps, the GET cache) for exactly one pack and one caller's credentials; what comes back
is decoded as JSON when the guest asked for it and redacted of every injected secret.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any, Sequence

from .._errors import FetchNetworkError
from .._metrics import Metrics
from .._types import Credentials
from .redact import redact, secret_forms

if TYPE_CHECKING:
    from .client import FetchClient


class GuestFetch:
    """Fetches of one pack call: the pack's declared domains, the caller's credentials."""

    def __init__(self, client: FetchClient, metrics: Metrics, *, pack: str,
                 domains: Sequence[str], credentials: Credentials | None,
                 approved_domains: Sequence[str] = ()) -> None:
        self._client = client
        self._approved = tuple(approved_domains)
        self._metrics = metrics
        self._pack = pack
        self._domains = domains
        self._credentials = credentials

    def fetch(self, request: dict[str, Any], deadline: float) -> dict[str, Any]:
        want_json = bool(request.pop("json", False))
        _encode_json_body(request)
        started = time.perf_counter()
        try:
            response: dict[str, Any] = self._client.fetch(
                request, pack=self._pack, domains=self._domains,
                credentials=self._credentials, deadline=deadline,
                approved_domains=self._approved)
        except Exception as exc:
            self._metrics.fetch_done(self._pack, getattr(exc, "kind", "error"),
                                     getattr(exc, "rule", None), time.perf_counter() - started)
            raise
        self._metrics.fetch_done(self._pack, "ok", None, time.perf_counter() - started)
        if want_json:
            response = _with_json(response)
        if self._credentials is not None:
            response = redact(response, secret_forms(self._credentials.secret_values()))
        return response


def _encode_json_body(request: dict[str, Any]) -> None:
    json_body = request.pop("json_body", None)
    if json_body is None:
        return
    request["body"] = json.dumps(json_body, separators=(",", ":"))
    headers = dict(request.get("headers") or {})
    headers.setdefault("Content-Type", "application/json")
    request["headers"] = headers


def _with_json(response: dict[str, Any]) -> dict[str, Any]:
    body = response.get("body", "")
    try:
        response["json"] = json.loads(body) if body else None
        response["body"] = ""
    except (ValueError, TypeError) as exc:
        raise FetchNetworkError(f"the response body is not valid JSON: {exc}", rule="json") from exc
    return response
