"""A bounded, persistent cache of pack call results in LMDB.

Keys are sha256 digests (:func:`result_key`) of the pack, its wasm hash, the formula,
the canonical MessagePack of the arguments, the connection id and the call's context
(time zone, invocation location), so raw arguments
never sit in the key and two connections never share an entry. Values are MessagePack
``[version, expires_at, stored_at, value]`` with wall-clock times (they outlive a
restart). The cache never fails a call: a corrupt entry, a value MessagePack cannot
hold or a full store is logged once on ``corral.cache`` and the call simply computes.
Eviction keeps the entries within ``map_size``; when it cannot make room (LMDB cannot
reuse pages a reader still sees) the map grows, up to ``max_map_size``.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import lmdb
import msgpack

from .._closing import Closeable
from .._errors import ArgumentError, CacheError, StorageFull
from .._pack.abi import encode
from .._stores.lmdb_env import SharedEnv, open_shared

log = logging.getLogger("corral.cache")

_FORMAT = 1
_KEY_DOMAIN = "corral.result.v1"
_EVICT_ABOVE = 0.7   # fraction of the map in use that starts an eviction
_EVICT_TO = 0.5      # fraction an eviction brings it down to


def canonical_msgpack(value: Any) -> bytes:
    """MessagePack with map keys sorted, so equal values always give equal bytes."""
    return _encode_arguments(_canonical(value))


def _encode_arguments(value: Any) -> bytes:
    try:
        return encode(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ArgumentError(f"the arguments cannot be encoded as MessagePack: {exc}") from exc


_SCALARS = (str, int, float, bool, bytes, type(None))
_PLAIN_TYPES = frozenset(_SCALARS)


def _canonical(value: Any) -> Any:
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, dict):
        items = [(msgpack.packb(_canonical(k), use_bin_type=True), k, v) for k, v in value.items()]
        return {k: _canonical(v) for _, k, v in sorted(items, key=lambda item: item[0])}
    if isinstance(value, (list, tuple)):
        return [item if isinstance(item, _SCALARS) else _canonical(item) for item in value]
    return value


def result_key(pack: str, pack_hash: str, formula: str, args: Sequence[Any],
               connection_id: str | None, principal: str | None = None,
               context: Sequence[str] = ()) -> bytes:
    """The cache and single-flight key of one call.

    With a connection, the principal is part of the key too: a caller naming somebody
    else's connection id must reach the runtime's access check, not a cached answer.
    ``context`` is what else the guest's ``ctx`` tells it that may change its answer
    (the caller's time zone, the invocation location: ``Invocation.cache_scope``).
    """
    scope = (principal or "") if connection_id else ""
    items = [_KEY_DOMAIN, pack, pack_hash, formula, list(args), connection_id or "", scope,
             *context]
    plain = all(type(arg) in _PLAIN_TYPES for arg in args)  # then already canonical
    material = _encode_arguments(items) if plain else canonical_msgpack(items)
    return hashlib.sha256(material).digest()


def encode_entry(now: float, ttl_s: float, value: Any) -> bytes:
    """An entry's bytes (wall-clock times); TypeError/ValueError/OverflowError if
    MessagePack cannot hold ``value``."""
    blob: bytes = msgpack.packb([_FORMAT, now + ttl_s, now, value], use_bin_type=True)
    return blob


def decode_entry(raw: bytes | memoryview) -> tuple[float, float, Any] | None:
    """``(expires_at, stored_at, value)``, or None for bytes this version did not write."""
    try:
        entry = msgpack.unpackb(raw, raw=False, strict_map_key=False)
    except (ValueError, TypeError, msgpack.UnpackException):
        return None
    valid = (isinstance(entry, list) and len(entry) == 4 and entry[0] == _FORMAT
             and all(isinstance(t, (int, float)) for t in entry[1:3]))
    return (float(entry[1]), float(entry[2]), entry[3]) if valid else None


@dataclass(frozen=True)
class CachedValue:
    value: Any
    expires_at: float


@dataclass(frozen=True)
class CacheStats:
    hits: int
    misses: int
    evictions: int
    entries: int


class ResultCache(Closeable):
    """LMDB-backed results with a TTL each; ``close()`` is idempotent; usable with ``with``."""

    closeable_name = "result cache"

    def __init__(self, path: str | Path, *, map_size: int = 256 << 20,
                 max_map_size: int | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        try:
            self._env = open_shared(
                Path(path), map_size=map_size, max_map_size=max_map_size or 2 * map_size,
                max_dbs=0, name="result cache", setting="result_cache_max_bytes",
                sync=False, metasync=False, readahead=False, max_readers=512)
        except (OSError, lmdb.Error, StorageFull) as exc:
            raise CacheError(f"cannot open the result cache at {path}: {exc}") from exc
        self._map_size = map_size
        self._clock = clock
        self._lock = threading.Lock()
        self._evicting = threading.Lock()
        self._hits = self._misses = self._evictions = 0
        self._warned: set[str] = set()

    # -- public ---------------------------------------------------------------------------

    def get(self, key: bytes) -> CachedValue | None:
        """The live entry under ``key``, or None (a miss) if absent, expired or unreadable."""
        env = self._open_env()
        try:
            raw = env.read(lambda txn: txn.get(key))
        except lmdb.Error as exc:
            self._warn_once("read", "result cache read failed; computing instead: %s", exc)
            self._count_miss()
            return None
        if raw is None:
            self._count_miss()
            return None
        entry = self._decode(raw)
        if entry is None:
            self._warn_once("corrupt", "dropping a corrupt result cache entry")
            self._delete(key)
            self._count_miss()
            return None
        expires_at, _stored_at, value = entry
        if expires_at <= self._clock():
            self._count_miss()
            return None
        with self._lock:
            self._hits += 1
        return CachedValue(value=value, expires_at=expires_at)

    def put(self, key: bytes, value: Any, ttl_s: float) -> bool:
        """Store ``value`` for ``ttl_s`` seconds; False (never an error) if it was not stored."""
        env = self._open_env()
        if ttl_s <= 0:
            return False
        try:
            blob = encode_entry(self._clock(), ttl_s, value)
        except (TypeError, ValueError, OverflowError) as exc:
            self._warn_once("encode", "a result MessagePack cannot hold was not cached: %s", exc)
            return False
        if len(blob) > self._map_size // 8:
            self._warn_once("large", "a result too large for the cache was not cached")
            return False
        if self._used_fraction(env) > _EVICT_ABOVE:
            self.evict()
        return self._write(env, key, blob)

    def evict(self) -> int:
        """Drop expired entries, then the oldest, until the map is half empty."""
        env = self._open_env()
        if not self._evicting.acquire(blocking=False):
            return 0
        try:
            removed = self._drop_expired(env)
            removed += self._drop_oldest(env)
        except (lmdb.Error, StorageFull) as exc:
            self._warn_once("evict", "result cache eviction failed: %s", exc)
            removed = 0
        finally:
            self._evicting.release()
        with self._lock:
            self._evictions += removed
        return removed

    def run_once(self, key: bytes, produce: Callable[[], Any], *,
                 deadline: float | None) -> Any:
        """``produce()``: one node's own flights are the scheduler's (see RedisResultCache)."""
        return produce()

    def stats(self) -> CacheStats:
        env = self._open_env()
        entries = int(env.stat()["entries"])
        with self._lock:
            return CacheStats(hits=self._hits, misses=self._misses, evictions=self._evictions,
                              entries=entries)

    def _close(self) -> None:
        try:
            self._env.sync()
        finally:
            self._env.close()

    # -- internals ------------------------------------------------------------------------

    def _open_env(self) -> SharedEnv:
        self._check_open()
        return self._env

    def _count_miss(self) -> None:
        with self._lock:
            self._misses += 1

    def _warn_once(self, what: str, message: str, *args: Any) -> None:
        if what not in self._warned:
            self._warned.add(what)
            log.warning(message, *args)

    _decode = staticmethod(decode_entry)

    def _used_fraction(self, env: SharedEnv) -> float:
        stat = env.stat()
        pages = stat["branch_pages"] + stat["leaf_pages"] + stat["overflow_pages"]
        return float(pages * stat["psize"]) / self._map_size

    def _write(self, env: SharedEnv, key: bytes, blob: bytes) -> bool:
        for attempt in range(2):
            try:
                env.write(lambda txn: txn.put(key, blob))
                return True
            except StorageFull:  # past max_map_size, or the disk is full
                if attempt == 0 and self.evict():
                    continue
                self._warn_once("full", "the result cache is full; results are not cached")
                return False
            except lmdb.Error as exc:
                self._warn_once("write", "result cache write failed: %s", exc)
                return False
        return False

    def _delete(self, key: bytes) -> None:
        env = self._open_env()
        try:
            env.write(lambda txn: txn.delete(key), frees=True)
        except (lmdb.Error, StorageFull) as exc:
            self._warn_once("delete", "result cache delete failed: %s", exc)

    def _drop_expired(self, env: SharedEnv) -> int:
        now = self._clock()
        doomed = [key for key, entry in self._scan(env) if entry is None or entry[0] <= now]
        return self._delete_keys(env, doomed)

    def _drop_oldest(self, env: SharedEnv) -> int:
        if self._used_fraction(env) <= _EVICT_TO:
            return 0
        entries = sorted((entry[1], key) for key, entry in self._scan(env) if entry is not None)
        removed = 0
        batch = max(1, len(entries) // 10)
        while entries and self._used_fraction(env) > _EVICT_TO:
            chunk, entries = entries[:batch], entries[batch:]
            removed += self._delete_keys(env, [key for _, key in chunk])
        return removed

    def _scan(self, env: SharedEnv) -> list[tuple[bytes, tuple[float, float, Any] | None]]:
        return env.read(lambda txn: [(bytes(key), self._decode(raw))
                                     for key, raw in txn.cursor()])

    @staticmethod
    def _delete_keys(env: SharedEnv, keys: list[bytes]) -> int:
        if not keys:
            return 0
        return env.write(lambda txn: sum(1 for key in keys if txn.delete(key)), frees=True)
