"""Temporary blobs that packs store (the ``corral.blob`` import), served for a while.

A blob is bytes and a content type, kept for ``ttl_s`` (15 minutes by default, as Coda
keeps its temporary blobs) under a fresh 256-bit random id. The id is the capability:
whoever holds the blob's URL may read it until it expires, and nobody can list the blobs
or guess an id. The store keys blobs by the id's sha256, so the ids themselves are not at
rest in the store.

Each principal's live (unexpired) blobs count against a quota of bytes; one blob is
capped at ``max_bytes``. Expired blobs are purged in expiry order, a batch at a time,
by every write, and on :meth:`BlobStore.purge`. The blobs live in LMDB in the data dir,
whose map grows like every Corral store's (``lmdb_env.py``; past its ceiling a write
raises StorageFull, 507), or in the ``blobs`` space of PostgreSQL when ``store_url`` is
set, so a blob stored through one node is served by every other.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack

from .._closing import Closeable
from .._errors import (
    BlobError,
    BlobExpired,
    BlobQuotaExceeded,
    BlobTooLarge,
    NotFoundError,
)
from .kv import KvStore, KvTxn
from .opening import open_kv

_FORMAT = 1
_DB_BLOBS = b"blobs"    # sha256(id) -> msgpack [format, principal, content_type, expires, data]
_DB_EXPIRY = b"expiry"  # be64(expires_at in ms) + sha256(id) -> be64(size) + principal
_DB_USAGE = b"usage"    # principal -> be64(live bytes)
#: Expired blobs one write purges at most, so a write stays short.
PURGE_BATCH = 256
#: A blob id: 32 random bytes, URL-safe base64 without padding.
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{43}$")

_TOKEN = r"[a-z0-9!#$&^_.+-]{1,127}"
_MEDIA_TYPE = re.compile(rf"^{_TOKEN}/{_TOKEN}(\s*;\s*{_TOKEN}=(?:{_TOKEN}|\"[^\"\\\x00-\x1f]*\"))*$")
#: The longest content type taken.
MAX_CONTENT_TYPE_CHARS = 200


def content_type_or_none(value: Any) -> str | None:
    """``value`` as a media type (``type/subtype`` and parameters, lower-cased type), or
    None if it is not one: no control characters, nothing a header could be split on."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_CONTENT_TYPE_CHARS:
        return None
    kind, sep, params = value.strip().partition(";")
    text = kind.strip().lower() + (sep + params if sep else "")
    return text if _MEDIA_TYPE.match(text) else None


@dataclass(frozen=True)
class StoredBlob:
    """What storing a blob gives back: its id (the capability) and when it expires."""

    id: str
    expires_at: float
    size: int


@dataclass(frozen=True)
class Blob:
    content_type: str
    data: bytes
    expires_at: float


class BlobStore(Closeable):
    """Blobs by capability id, with a TTL, a size cap and per-principal quotas."""

    closeable_name = "blob store"

    def __init__(self, path: str | Path, *, ttl_s: float = 900.0,
                 max_bytes: int = 10 * 1024 * 1024,
                 quota_bytes: int = 100 * 1024 * 1024, map_size: int = 64 * 1024 * 1024,
                 max_map_size: int | None = None,
                 clock: Callable[[], float] = time.time, store_url: str | None = None) -> None:
        if ttl_s <= 0 or max_bytes <= 0 or quota_bytes <= 0:
            raise ValueError("blob ttl, size cap and quota must be positive")
        self._shared: KvStore = open_kv(
            store_url, "blobs", lmdb_dir=Path(path), map_size=map_size,
            max_map_size=max_map_size or 64 * map_size, max_dbs=4, name="blob store",
            setting="blob_map_max_bytes")
        self._blobs = self._shared.open_db(_DB_BLOBS)
        self._expiry = self._shared.open_db(_DB_EXPIRY)
        self._usage = self._shared.open_db(_DB_USAGE)
        self.ttl_s = ttl_s
        self.max_bytes = max_bytes
        self.quota_bytes = quota_bytes
        self._clock = clock
        self._lock = threading.Lock()

    # -- public ---------------------------------------------------------------------------

    def put(self, principal: str, data: bytes, content_type: str) -> StoredBlob:
        """Store ``data`` for ``principal``; BlobTooLarge over the cap, BlobQuotaExceeded
        when the principal's live blobs would pass the quota, StorageFull past the map's
        ceiling."""
        media_type = content_type_or_none(content_type)
        if media_type is None:
            raise BlobError("the blob's content type is not a media type such as "
                            "'image/png'", rule="content_type")
        size = len(data)
        if size > self.max_bytes:
            raise BlobTooLarge(f"the blob is {size} bytes, over the limit of {self.max_bytes} "
                               "(blob_max_bytes)", rule="blob_max_bytes")
        blob_id = secrets.token_urlsafe(32)
        digest = _digest(blob_id)
        now = self._clock()
        expires_at = now + self.ttl_s
        record = msgpack.packb([_FORMAT, principal, media_type, expires_at, bytes(data)],
                               use_bin_type=True)
        owner = principal.encode()

        def write(txn: KvTxn) -> None:
            self._purge_in(txn, now, PURGE_BATCH)
            used = _int(txn.get(owner, db=self._usage))
            if used + size > self.quota_bytes:
                raise BlobQuotaExceeded(
                    f"this caller's live blobs hold {used} bytes; {size} more would pass the "
                    f"quota of {self.quota_bytes} (blob_quota_bytes_per_principal)",
                    rule="blob_quota_bytes_per_principal")
            txn.put(digest, record, db=self._blobs)
            txn.put(_expiry_key(expires_at, digest), struct.pack(">Q", size) + owner,
                    db=self._expiry)
            txn.put(owner, struct.pack(">Q", used + size), db=self._usage)

        with self._lock:
            self._open_env().write(write)
        return StoredBlob(blob_id, expires_at, size)

    def get(self, blob_id: str) -> Blob:
        """The live blob ``blob_id`` names; NotFoundError for an id never stored (or
        purged), BlobExpired for one whose time is up."""
        env = self._open_env()
        missing = NotFoundError("no such blob: it never existed, or it expired and was "
                                "purged")
        if not isinstance(blob_id, str) or not ID_PATTERN.match(blob_id):
            raise missing
        raw = env.read(lambda txn: txn.get(_digest(blob_id), db=self._blobs))
        if raw is None:
            raise missing
        _, _, content_type, expires_at, data = msgpack.unpackb(raw, raw=False)
        if expires_at <= self._clock():
            self.purge()
            raise BlobExpired("this blob's time is up; it is no longer served")
        return Blob(content_type, data, float(expires_at))

    def purge(self) -> int:
        """Drop every expired blob; the number dropped."""
        env = self._open_env()
        now = self._clock()
        removed = 0
        with self._lock:
            while True:
                batch = env.write(lambda txn: self._purge_in(txn, now, PURGE_BATCH), frees=True)
                removed += batch
                if batch < PURGE_BATCH:
                    return removed

    def usage(self, principal: str) -> int:
        """Bytes of ``principal``'s blobs not yet purged."""
        return _int(self._open_env().read(lambda txn: txn.get(principal.encode(),
                                                              db=self._usage)))

    def count(self) -> int:
        """Blobs in the store, expired ones not yet purged included."""
        return int(self._open_env().read(lambda txn: txn.stat(self._blobs)["entries"]))

    def _close(self) -> None:
        self._shared.close()

    # -- internals ------------------------------------------------------------------------

    def _open_env(self) -> KvStore:
        self._check_open()
        return self._shared

    def _purge_in(self, txn: KvTxn, now: float, limit: int) -> int:
        doomed: list[tuple[bytes, bytes]] = []
        for key, value in txn.cursor(db=self._expiry):  # soonest to expire first
            if len(doomed) >= limit or struct.unpack(">Q", key[:8])[0] > now * 1000:
                break
            doomed.append((bytes(key), bytes(value)))
        for key, value in doomed:
            owner, size = value[8:], struct.unpack(">Q", value[:8])[0]
            txn.delete(key, db=self._expiry)
            txn.delete(key[8:], db=self._blobs)
            left = max(0, _int(txn.get(owner, db=self._usage)) - size)
            if left:
                txn.put(owner, struct.pack(">Q", left), db=self._usage)
            else:
                txn.delete(owner, db=self._usage)
        return len(doomed)


def _digest(blob_id: str) -> bytes:
    return hashlib.sha256(blob_id.encode()).digest()


def _expiry_key(expires_at: float, digest: bytes) -> bytes:
    return struct.pack(">Q", max(0, int(expires_at * 1000))) + digest


def _int(raw: bytes | memoryview | None) -> int:
    return int(struct.unpack(">Q", bytes(raw))[0]) if raw else 0
