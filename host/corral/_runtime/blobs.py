"""The guest side of the ``corral.blob`` import: one pack call's temporary blobs.

A guest hands the host bytes and their content type (``{bytes, content_type}``), or a
URL (``{url}``) that the host fetches through the call's own fetch path: the pack's
declared domains, the fetch policy, the same credential rules and caps as
``corral.fetch``. The host keeps the bytes in its blob store for the caller's principal
and answers with the URL it serves them at (``/v1/blobs/<id>`` under the host's public
base URL) and when that URL expires.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._errors import BlobError
from .._stores.blobs import content_type_or_none

if TYPE_CHECKING:
    from .._fetch.guest import GuestFetch
    from .._stores.blobs import BlobStore

#: The content type of fetched bytes whose response named none usable.
DEFAULT_CONTENT_TYPE = "application/octet-stream"
BLOB_PATH = "/v1/blobs/"


def blob_url(base_url: str, blob_id: str) -> str:
    return f"{base_url.rstrip('/')}{BLOB_PATH}{blob_id}"


class GuestBlobs:
    """The blobs of one pack call, stored for one principal."""

    def __init__(self, store: Callable[[], BlobStore], fetch: Callable[[], GuestFetch], *,
                 principal: str, base_url: str) -> None:
        self._store = store
        self._fetch = fetch
        self._principal = principal
        self._base_url = base_url

    def store(self, request: dict[str, Any], deadline: float) -> dict[str, Any]:
        keys = set(request) - {"content_type"}
        if keys == {"url"}:
            data, content_type = self._fetched(request["url"], request.get("content_type"),
                                               deadline)
        elif keys == {"bytes"}:
            data, content_type = _given(request)
        else:
            raise _bad_request("a blob request is {bytes: bin, content_type: str} or "
                               "{url: str}")
        stored = self._store().put(self._principal, data, content_type)
        return {"url": blob_url(self._base_url, stored.id),
                "expires_at": _iso(stored.expires_at)}

    def _fetched(self, url: Any, content_type: Any, deadline: float) -> tuple[bytes, str]:
        if not isinstance(url, str) or not url:
            raise _bad_request("the blob request's 'url' must be a non-empty string")
        response = self._fetch().fetch({"method": "GET", "url": url, "binary": True}, deadline)
        status = int(response.get("status", 0))
        if not 200 <= status <= 299:
            raise BlobError(f"the blob's URL answered HTTP {status}", rule="status",
                            status=status)
        body = response.get("body", b"")
        data = body if isinstance(body, bytes) else str(body).encode()
        headers = response.get("headers") or {}
        named = content_type if content_type is not None else headers.get("content-type")
        return data, content_type_or_none(named) or DEFAULT_CONTENT_TYPE


def _given(request: dict[str, Any]) -> tuple[bytes, str]:
    data = request["bytes"]
    if isinstance(data, str):
        data = data.encode()
    if not isinstance(data, bytes):
        raise _bad_request("the blob request's 'bytes' must be bin (or str)")
    content_type = content_type_or_none(request.get("content_type"))
    if content_type is None:
        raise _bad_request("the blob request's 'content_type' must be a media type such "
                           "as 'image/png'")
    return data, content_type


def _bad_request(message: str) -> BlobError:
    return BlobError(message, rule="bad_request")


def _iso(timestamp: float) -> str:
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
