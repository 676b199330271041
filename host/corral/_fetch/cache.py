"""The GET cache of host-mediated fetches, in LMDB, with single-flight for identical GETs
(:class:`~corral._fetch.flights.LocalFlights`; the Redis cache nodes share is
:mod:`corral._fetch.redis_cache`).

An entry is what a guest may see: the response after JSON decoding and redaction, never
the raw exchange (an echoed token would lie in clear in the file) and never a response
the guest's side refused (the caller's shaping raised before anything was stored).

Entries are keyed by :meth:`FetchCache.key`: a sha256 of the pack's name and wasm hash
(a new version never reads an old version's entries), the principal, the connection
identity (a non-secret id), the method, the normalised URL as the guest wrote it, the
guest's own request headers and the view (text or bytes, JSON or not). Credential values
never enter a key: the host injects them after the key is made, and the guest may not set
the headers or parameters that carry them.

The cache must never fail a fetch: a corrupt entry is dropped and read as a miss, a full
map skips the write (after purging expired entries once), a closed cache is bypassed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import lmdb
import msgpack

from .._errors import CacheError, Closed
from .._stores.lmdb_env import reserve_lock_file
from .flights import GuestResponse, LocalFlights, cacheable

log = logging.getLogger("corral.fetch.cache")

_FORMAT = 2  # 1 stored the raw exchange; its entries read as misses
_PURGE_MARK = b"corral:purged"  # not a sha256 digest, so never an entry's key

_MAX_READERS = 256


#: How many entries' last use a process remembers for eviction.
_MAX_TRACKED = 100_000
_FULL_WARNING_EVERY_S = 60.0


class FetchCache(LocalFlights):
    """LMDB-backed GET cache shared by all fetches of a host; thread-safe."""

    closeable_name = "fetch cache"

    def __init__(self, path: str | os.PathLike[str], *, map_size: int = 256 << 20,
                 max_entry_bytes: int = 1 << 20, clock: Callable[[], float] = time.time) -> None:
        self._max_entry_bytes = max_entry_bytes
        self._clock = clock
        self._lock = threading.Lock()
        self._flights = {}
        #: When this process last used each entry (monotonic); what eviction goes by.
        self._used: dict[bytes, float] = {}
        self._last_full_warning = -_FULL_WARNING_EVERY_S
        try:
            os.makedirs(path, exist_ok=True)
            reserve_lock_file(Path(path), _MAX_READERS)  # no SIGBUS on a full disk
            self._env = lmdb.open(os.fspath(path), map_size=map_size, subdir=True,
                                  sync=False, metasync=False, max_readers=_MAX_READERS)
        except (lmdb.Error, OSError) as exc:
            raise CacheError(f"cannot open the fetch cache at {os.fspath(path)!r}: {exc}") from exc

    @staticmethod
    def key(*, pack: str, pack_hash: str, principal: str, identity: str, method: str,
            url: str, headers: Iterable[tuple[str, str]], view: str) -> bytes:
        """The cache key of one request; ``headers`` are the guest's own (never credentials)."""
        relevant = sorted((name.lower(), value) for name, value in headers)
        material = json.dumps([_FORMAT, pack, pack_hash, principal, identity, method.upper(),
                               url, relevant, view], ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(material.encode("utf-8")).digest()

    def get(self, key: bytes) -> GuestResponse | None:
        """The live entry under ``key``, or None (missing, expired or unreadable)."""
        env = self._open_env()
        try:
            with env.begin() as txn:
                raw = txn.get(key)
        except lmdb.Error as exc:
            log.warning("fetch cache read failed: %s", exc)
            return None
        if raw is None:
            return None
        entry = decode_entry(raw)
        if entry is None:
            self._delete(key)
            return None
        expires, response = entry
        if expires <= self._clock():
            self._delete(key)
            return None
        self._touch(key)
        return response

    def put(self, key: bytes, response: Mapping[str, Any], ttl_s: float) -> bool:
        """Store a 2xx response for ``ttl_s`` seconds; True if it was stored. A response
        MessagePack cannot carry (an integer past 64 bits, nesting past its limit) or
        larger than ``max_entry_bytes`` is not stored."""
        if not cacheable(response) or ttl_s <= 0:
            return False
        value = encode_entry(self._clock() + ttl_s, response)
        if value is None or len(value) > self._max_entry_bytes:
            return False
        env = self._open_env()
        # A full map makes room: expired entries first, then the least recently used.
        ways_to_make_room = [self.purge_expired, self._evict_least_recently_used]
        while True:
            try:
                with env.begin(write=True) as txn:
                    txn.put(key, value)
                self._touch(key)
                return True
            except lmdb.MapFullError:
                if not self._make_room(env, ways_to_make_room):
                    self._warn_full()
                    return False
            except lmdb.Error as exc:
                log.warning("fetch cache write failed: %s", exc)
                return False

    def _make_room(self, env: lmdb.Environment, ways: list[Callable[[], int]]) -> bool:
        """Use up ways of making room until one frees something; False when none is left."""
        while ways:
            if ways.pop(0)() > 0:
                return self._advance_txn(env)
        return False

    def _touch(self, key: bytes) -> None:
        with self._lock:
            if len(self._used) >= _MAX_TRACKED:
                for old in sorted(self._used, key=self._used.__getitem__)[:_MAX_TRACKED // 2]:
                    del self._used[old]
            self._used[key] = time.monotonic()

    def _evict_least_recently_used(self) -> int:
        """Delete the quarter of the entries used longest ago (an entry this process never
        used counts as oldest); the number deleted."""
        deleted = 0
        keys: list[bytes] = []
        try:
            with self._open_env().begin(write=True) as txn:
                keys = [bytes(key) for key, _ in txn.cursor() if bytes(key) != _PURGE_MARK]
                with self._lock:
                    keys.sort(key=lambda k: self._used.get(k, 0.0))
                for key in keys[:max(1, len(keys) // 4)]:
                    deleted += int(txn.delete(key))
        except lmdb.Error as exc:
            log.warning("fetch cache eviction failed: %s", exc)
        with self._lock:
            for key in keys[:deleted]:
                self._used.pop(key, None)
        return deleted

    def _warn_full(self) -> None:
        """One line a minute at most, however many responses go uncached."""
        now = time.monotonic()
        if now - self._last_full_warning >= _FULL_WARNING_EVERY_S:
            self._last_full_warning = now
            log.warning("fetch cache is full even after evicting; responses are not cached "
                        "(raise fetch_cache_bytes)")

    def purge_expired(self) -> int:
        """Delete expired and unreadable entries; the number deleted."""
        env = self._open_env()
        now = self._clock()
        deleted = 0
        try:
            with env.begin(write=True) as txn:
                cursor = txn.cursor()
                stale = [key for key, raw in cursor if _is_stale(raw, now)]
                for key in stale:
                    deleted += int(txn.delete(key))
        except lmdb.Error as exc:
            log.warning("fetch cache purge failed: %s", exc)
        return deleted

    def _close(self) -> None:
        # A closed cache is bypassed by ``fetch_once``.
        self._env.close()

    def _open_env(self) -> lmdb.Environment:
        self._check_open()
        return self._env

    @staticmethod
    def _advance_txn(env: lmdb.Environment) -> bool:
        # LMDB reuses pages freed by a transaction only after one more has committed.
        try:
            with env.begin(write=True) as txn:
                txn.put(_PURGE_MARK, msgpack.packb(time.time()))
        except lmdb.Error:
            return False
        return True

    def _delete(self, key: bytes) -> None:
        try:
            with self._open_env().begin(write=True) as txn:
                txn.delete(key)
        except (lmdb.Error, CacheError, Closed) as exc:
            log.warning("fetch cache delete failed: %s", exc)


def encode_entry(expires: float, response: Mapping[str, Any]) -> bytes | None:
    try:
        packed: bytes = msgpack.packb({"v": _FORMAT, "expires": expires,
                                       "response": dict(response)}, use_bin_type=True)
    except (ValueError, TypeError, OverflowError):
        return None
    return packed


def decode_entry(raw: bytes) -> tuple[float, GuestResponse] | None:
    """An entry, or None for anything this version did not write."""
    try:
        data: Any = msgpack.unpackb(raw, raw=False)
        if not isinstance(data, dict) or data.get("v") != _FORMAT:
            return None
        expires, response = data["expires"], data["response"]
    except (ValueError, TypeError, KeyError, msgpack.UnpackException):
        return None
    if not isinstance(expires, (int, float)) or not isinstance(response, dict):
        return None
    if not isinstance(response.get("status"), int) or "body" not in response:
        return None
    return float(expires), response


def _is_stale(raw: bytes, now: float) -> bool:
    entry = decode_entry(raw)
    return entry is None or entry[0] <= now
