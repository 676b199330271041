"""Serving the temporary blobs packs store: ``GET /v1/blobs/{blob_id}``, without a key.

A blob's URL is a capability: its id is 256 random bits, so whoever holds the URL (the
caller the pack handed it to, and anyone they pass it on to) may read the blob until it
expires, and nobody else can find it; the route needs no API key (a browser or a
document renderer follows it as a plain link). Requests are rate limited per client
address like every keyless route (``guard.py``).

A blob is content a pack chose, so it is served so that it cannot act on this origin:
its stored content type with ``X-Content-Type-Options: nosniff``, ``Content-Disposition:
attachment`` unless it is a raster image a browser may show inline, and a
``Content-Security-Policy`` that sandboxes the document (no script, no same-origin
access, no plugins), so an HTML or SVG blob opened directly still cannot script the host.
An expired blob is 410, an unknown id 404.

No ``from __future__ import annotations``: FastAPI reads these annotations at import.
"""

import math

from fastapi import APIRouter
from fastapi.responses import Response

from .service import ServiceDep

blobs = APIRouter(prefix="/v1")

#: Types a browser renders inline without running anything (SVG is not one: it scripts).
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/avif",
                          "image/bmp"})
SANDBOX_POLICY = "sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'"


@blobs.get("/blobs/{blob_id}", summary="A temporary blob a pack stored (no key: the URL "
           "is the capability)", response_class=Response,
           responses={200: {"content": {"application/octet-stream": {}}},
                      404: {"description": "No such blob"},
                      410: {"description": "The blob expired"}})
def get_blob(blob_id: str, service: ServiceDep) -> Response:
    # A plain def: FastAPI runs it on its thread pool, so copying a blob of up to
    # blob_max_bytes out of LMDB never holds up the event loop.
    blob = service.host.blobs.get(blob_id)
    media_type = blob.content_type.split(";", 1)[0].strip()
    remaining = max(0, math.floor(blob.expires_at - service.host_clock()))
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": SANDBOX_POLICY,
        "Cross-Origin-Resource-Policy": "cross-origin",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": f"private, max-age={remaining}",
        "Content-Disposition": "inline" if media_type in INLINE_TYPES else "attachment",
    }
    return Response(blob.data, media_type=blob.content_type, headers=headers)
