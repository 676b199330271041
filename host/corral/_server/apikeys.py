"""API keys for the HTTP service: stored hashed, each with an owner and a role.

A key looks like ``corral_<id>_<43 url-safe characters>`` (32 random bytes). Only the
SHA-256 of the whole key is stored, beside the key id, the owner and the role, in an LMDB
environment in the data directory (``api-keys/``, files mode 0600), or in the
``api-keys`` space of PostgreSQL when ``store_url`` is set. The owner is the
*principal*: connections belong to it. Roles: ``admin`` (may also upload and delete packs
and make keys) and ``caller``.

Every process on a data dir (servers, ``corral keys``), and every node on one
``store_url``, opens the same store. Making or revoking a key is one write transaction, so
no process's change is lost to another's; checking a key is one read transaction, so a
key revoked anywhere is refused everywhere from the next request on (on PostgreSQL a
node remembers keys it found until word of any change to the store reaches it, well
within a second: ``key_cache.py``). A key is found by its hash (a key has 256 bits of entropy, so
where a lookup lands says nothing useful about other keys); the record found is then
compared in constant time. A key given from outside (``CORRAL_ADMIN_KEY``) may have any
shape of at least 16 characters.

An ``api-keys.json`` of an earlier release, beside the store, is imported once (the
import is recorded in the same transaction, so a key revoked since is never brought
back) and then renamed ``api-keys.json.migrated``.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import os
import secrets
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

from .._closing import Closeable
from .._errors import ArgumentError, ConfigError, NotFoundError, Unauthenticated
from .._settings import Settings
from .._stores.kv import KvStore, KvTxn
from .._stores.opening import open_kv, watched
from .key_cache import KeyCache

log = logging.getLogger("corral.server")

T = TypeVar("T")

ADMIN = "admin"
CALLER = "caller"
ROLES = (ADMIN, CALLER)
KEY_PREFIX = "corral_"
MIN_KEY_LENGTH = 16
ADMIN_OWNER = "admin"
#: The store's directory in the data dir; an earlier release's file was this plus ".json".
KEY_STORE = "api-keys"
MIGRATED_SUFFIX = ".migrated"

_DB_KEYS = b"keys"        # sha256(key) -> the key's record (JSON)
_DB_IDS = b"ids"          # key id -> sha256(key)
_DB_META = b"meta"
_MIGRATED = b"migrated_json"
_MAP_BYTES = 16 * 1024 * 1024
_MAX_MAP_BYTES = 1024 * 1024 * 1024


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's owner and role (never the key)."""

    name: str
    role: str
    key_id: str

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN


@dataclass(frozen=True)
class ApiKeyInfo:
    id: str
    owner: str
    role: str
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _StoredKey:
    id: str
    owner: str
    role: str
    created_at: float
    sha256: str

    @property
    def info(self) -> ApiKeyInfo:
        return ApiKeyInfo(self.id, self.owner, self.role, self.created_at)

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def from_bytes(cls, raw: bytes | memoryview) -> _StoredKey:
        return _decoded(bytes(raw))


class ApiKeyStore(Closeable):
    """Hashed API keys in LMDB (or PostgreSQL: ``store_url``); safe to share between
    threads, processes and nodes.

    ``path`` is the store's directory. A path ending in ``.json`` names an earlier
    release's key file: the store is then the same path without the suffix."""

    closeable_name = "API key store"

    def __init__(self, path: Path | str, *, map_size: int = _MAP_BYTES,
                 max_map_size: int = _MAX_MAP_BYTES, store_url: str | None = None) -> None:
        path = Path(path)
        self.path = path.with_suffix("") if path.suffix == ".json" else path
        self.legacy_file = self.path.with_name(self.path.name + ".json")
        self._store: KvStore = open_kv(
            store_url, KEY_STORE, lmdb_dir=self.path, map_size=map_size,
            max_map_size=max_map_size, max_dbs=4, name="API key store",
            setting="api_keys_map_max_bytes", mode=0o600)
        self._keys_db = self._store.open_db(_DB_KEYS)
        self._ids_db = self._store.open_db(_DB_IDS)
        self._meta_db = self._store.open_db(_DB_META)
        shared = watched(self._store)
        # A shared store says when any node changed it, so lookups may be remembered.
        self._cache = KeyCache(shared) if shared is not None else None
        self._migrate_legacy_file()

    @classmethod
    def for_settings(cls, settings: Settings) -> ApiKeyStore:
        """The key store of a data dir, sized by the settings."""
        return cls(settings.data_dir / KEY_STORE, map_size=settings.api_keys_map_bytes,
                   max_map_size=settings.api_keys_map_max_bytes, store_url=settings.store_url)

    def _close(self) -> None:
        self._store.close()

    # -- making keys ------------------------------------------------------------------

    def create(self, owner: str, role: str = CALLER) -> tuple[ApiKeyInfo, str]:
        """A new key for ``owner``. Returns its info and the key itself, shown only now."""
        _check_owner(owner)
        _check_role(role)
        key_id = secrets.token_hex(4)
        key = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        return self._add(self._new_record(key_id, owner, role, key)), key

    def import_key(self, key: str, owner: str, role: str) -> ApiKeyInfo:
        """Store a key made elsewhere (``CORRAL_ADMIN_KEY``); a no-op if it is known."""
        _check_owner(owner)
        _check_role(role)
        if len(key) < MIN_KEY_LENGTH or not key.isprintable() or key != key.strip():
            raise ConfigError(f"an API key must be at least {MIN_KEY_LENGTH} printable "
                              "characters without surrounding spaces", setting="admin_key")
        return self._add(self._new_record(secrets.token_hex(4), owner, role, key))

    def ensure_admin(self, configured_key: str | None = None) -> str | None:
        """Make sure an admin key exists. Returns a newly generated key (print it once),
        or None when the configured key or an existing admin key is used. Two processes
        starting together make one admin key between them."""
        if configured_key:
            self.import_key(configured_key, ADMIN_OWNER, ADMIN)
            return None
        key_id = secrets.token_hex(4)
        key = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        record = self._new_record(key_id, ADMIN_OWNER, ADMIN, key)

        def add_unless_an_admin_exists(txn: KvTxn) -> bool:
            if any(k.role == ADMIN for k in self._records_in(txn)):
                return False
            self._put_new(txn, record)
            return True

        return key if self._write(add_unless_an_admin_exists) else None

    def revoke(self, key_id: str) -> None:
        """Remove a key; every process refuses it from its next request on."""
        def remove(txn: KvTxn) -> bool:
            digest = txn.pop(key_id.encode(), db=self._ids_db)
            if digest is None:
                return False
            txn.delete(digest, db=self._keys_db)
            return True

        if not self._write(remove, frees=True):  # works on a full store too
            raise NotFoundError(f"no API key with id {key_id!r}")

    def list_keys(self) -> list[ApiKeyInfo]:
        records = self._read(lambda txn: list(self._records_in(txn)))
        return [k.info for k in sorted(records, key=lambda k: (k.created_at, k.id))]

    # -- checking keys ----------------------------------------------------------------

    def authenticate(self, key: str | None) -> Principal:
        """The principal a presented key belongs to; Unauthenticated if none."""
        if not key:
            raise Unauthenticated("this endpoint needs an API key: send "
                                  "'Authorization: Bearer <key>'")
        found = self._match(key)
        if found is None:
            raise Unauthenticated("the API key is not valid")
        return Principal(found.owner, found.role, found.id)

    def principal_for_id(self, key_id: str) -> Principal | None:
        """The principal of the key with this id, read afresh (None once it is revoked):
        a console session holds the key's id, never the key, and checks it each request."""
        def find(txn: KvTxn) -> bytes | memoryview | None:
            digest = txn.get(key_id.encode(), db=self._ids_db)
            return None if digest is None else txn.get(digest, db=self._keys_db)

        raw = self._read(find)
        if raw is None:
            return None
        stored = _StoredKey.from_bytes(raw)
        return Principal(stored.owner, stored.role, stored.id)

    def _match(self, key: str) -> _StoredKey | None:
        digest = _digest(key)

        def read() -> bytes | None:
            return self._read(lambda txn: bytes_or_none(txn.get(digest, db=self._keys_db)))

        raw = read() if self._cache is None else self._cache.lookup(digest, read)
        if raw is None:
            return None
        stored = _StoredKey.from_bytes(raw)
        return stored if hmac.compare_digest(stored.sha256, digest.hex()) else None

    # -- storage ----------------------------------------------------------------------

    def _new_record(self, key_id: str, owner: str, role: str, key: str) -> _StoredKey:
        return _StoredKey(key_id, owner, role, time.time(), _digest(key).hex())

    def _add(self, record: _StoredKey) -> ApiKeyInfo:
        """Store ``record``; the stored one if its key is already known."""
        def add(txn: KvTxn) -> _StoredKey:
            known = txn.get(bytes.fromhex(record.sha256), db=self._keys_db)
            if known is not None:
                return _StoredKey.from_bytes(known)
            return self._put_new(txn, record)

        return self._write(add).info

    def _put_new(self, txn: KvTxn, record: _StoredKey) -> _StoredKey:
        digest = bytes.fromhex(record.sha256)
        while not txn.put(record.id.encode(), digest, db=self._ids_db, overwrite=False):
            record = _StoredKey(secrets.token_hex(4), record.owner, record.role,
                                record.created_at, record.sha256)  # the id was taken
        txn.put(digest, record.to_bytes(), db=self._keys_db)
        return record

    def _records_in(self, txn: KvTxn) -> Iterable[_StoredKey]:
        for _, raw in txn.cursor(db=self._keys_db):
            yield _StoredKey.from_bytes(raw)

    def _read(self, fn: Callable[[KvTxn], T]) -> T:
        self._check_open()
        return self._store.read(fn)

    def _write(self, fn: Callable[[KvTxn], T], *, frees: bool = False) -> T:
        self._check_open()
        try:
            return self._store.write(fn, frees=frees)
        finally:
            if self._cache is not None:
                self._cache.forget()  # this node's own change: at once, not on word of it

    # -- the file of earlier releases -------------------------------------------------

    def _migrate_legacy_file(self) -> None:
        if not self.legacy_file.is_file():
            return
        keys = _read_legacy_file(self.legacy_file)

        def import_once(txn: KvTxn) -> int:
            if txn.get(_MIGRATED, db=self._meta_db) is not None:
                return -1  # imported before: what it held may have been revoked since
            added = 0
            for record in keys:
                if txn.get(bytes.fromhex(record.sha256), db=self._keys_db) is None:
                    self._put_new(txn, record)
                    added += 1
            txn.put(_MIGRATED, str(time.time()).encode(), db=self._meta_db)
            return added

        added = self._write(import_once)
        aside = self.legacy_file.with_name(self.legacy_file.name + MIGRATED_SUFFIX)
        try:
            os.replace(self.legacy_file, aside)
        except FileNotFoundError:  # another process moved it first
            pass
        if added >= 0:
            log.info("imported %d API keys from %s into %s; the file is now %s", added,
                     self.legacy_file, self.path, aside.name)
        else:
            log.warning("%s appeared after its keys were imported; it was not imported "
                        "again (revoked keys would come back) and is now %s",
                        self.legacy_file, aside.name)


@functools.lru_cache(maxsize=4096)
def _decoded(raw: bytes) -> _StoredKey:
    # Every check reads the record from the store, or on a shared store from what was read
    # since its last change (key_cache.py), so a revocation shows; only the decoding of a
    # record seen before is saved here.
    return _StoredKey(**json.loads(raw))


def _read_legacy_file(path: Path) -> list[_StoredKey]:
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the API key file {path}: {exc.strerror}",
                          setting="data_dir") from exc
    try:
        keys = [_StoredKey(**entry) for entry in json.loads(raw)["keys"]]
        if any(len(bytes.fromhex(k.sha256)) != 32 for k in keys):
            raise ValueError("a key's sha256 is not 32 bytes of hex")
        return keys
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"the API key file {path} is damaged: {exc}",
                          setting="data_dir") from exc


def bytes_or_none(raw: bytes | memoryview | None) -> bytes | None:
    return None if raw is None else bytes(raw)


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def _check_owner(owner: str) -> None:
    if not owner or len(owner) > 100 or not owner.isprintable() or owner != owner.strip():
        raise ArgumentError("a key owner's name must be 1 to 100 printable characters",
                            field="name")


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ArgumentError(f"unknown role {role!r}; roles are {', '.join(ROLES)}",
                            field="role")
