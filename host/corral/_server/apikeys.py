"""API keys for the HTTP service: stored hashed, each with an owner and a role.

A key looks like ``corral_<id>_<43 url-safe characters>`` (32 random bytes). Only the
SHA-256 of the whole key is stored, in ``api-keys.json`` (mode 0600) in the data
directory, beside the key id, the owner and the role. The owner is the *principal*:
connections belong to it. Roles: ``admin`` (may also upload and delete packs and make
keys) and ``caller``.

Checking a key compares its hash with every stored hash in constant time, so the time
taken says nothing about how close a guess came. A key given from outside
(``CORRAL_ADMIN_KEY``) may have any shape of at least 16 characters.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from .._errors import ArgumentError, ConfigError, NotFoundError, Unauthenticated

ADMIN = "admin"
CALLER = "caller"
ROLES = (ADMIN, CALLER)
KEY_PREFIX = "corral_"
MIN_KEY_LENGTH = 16
#: How stale the key list may be for a key that matches (revoking with `corral keys` from
#: another process takes effect within this).
RECHECK_S = 0.5
ADMIN_OWNER = "admin"


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


class ApiKeyStore:
    """Hashed API keys in one small JSON file; safe to share between threads."""

    def __init__(self, path: Path | str, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.path = Path(path)
        self._clock = clock
        self._lock = threading.Lock()
        self._next_check = clock() + RECHECK_S
        self._stamp = self._file_stamp()
        self._keys = self._read()

    # -- making keys ------------------------------------------------------------------

    def create(self, owner: str, role: str = CALLER) -> tuple[ApiKeyInfo, str]:
        """A new key for ``owner``. Returns its info and the key itself, shown only now."""
        _check_owner(owner)
        _check_role(role)
        key_id = secrets.token_hex(4)
        key = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        return self._add(key_id, owner, role, key), key

    def import_key(self, key: str, owner: str, role: str) -> ApiKeyInfo:
        """Store a key made elsewhere (``CORRAL_ADMIN_KEY``); a no-op if it is known."""
        _check_owner(owner)
        _check_role(role)
        if len(key) < MIN_KEY_LENGTH or not key.isprintable() or key != key.strip():
            raise ConfigError(f"an API key must be at least {MIN_KEY_LENGTH} printable "
                              "characters without surrounding spaces", setting="admin_key")
        found = self._match(key)
        if found is not None:
            return found.info
        return self._add(secrets.token_hex(4), owner, role, key)

    def ensure_admin(self, configured_key: str | None = None) -> str | None:
        """Make sure an admin key exists. Returns a newly generated key (print it once),
        or None when the configured key or an existing admin key is used."""
        if configured_key:
            self.import_key(configured_key, ADMIN_OWNER, ADMIN)
            return None
        with self._lock:
            self._reload_if_changed()
            has_admin = any(k.role == ADMIN for k in self._keys)
        if has_admin:
            return None
        _, key = self.create(ADMIN_OWNER, ADMIN)
        return key

    def revoke(self, key_id: str) -> None:
        with self._lock:
            self._reload_if_changed()
            kept = [k for k in self._keys if k.id != key_id]
            if len(kept) == len(self._keys):
                raise NotFoundError(f"no API key with id {key_id!r}")
            self._write(kept)
            self._keys = kept

    def list_keys(self) -> list[ApiKeyInfo]:
        with self._lock:
            self._reload_if_changed()
            return [k.info for k in self._keys]

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

    def _match(self, key: str) -> _StoredKey | None:
        digest = _digest(key)
        with self._lock:
            if self._clock() >= self._next_check:
                self._reload_if_changed()
            found = self._find(digest)
            if found is None:  # perhaps made by `corral keys create` a moment ago
                self._reload_if_changed()
                found = self._find(digest)
        return found

    def _find(self, digest: str) -> _StoredKey | None:
        found = None
        for stored in self._keys:  # no early exit: every stored hash is compared
            if hmac.compare_digest(stored.sha256, digest):
                found = stored
        return found

    # -- storage ----------------------------------------------------------------------

    def _reload_if_changed(self) -> None:
        # `corral keys create` may add a key while the server runs; the file tells. A
        # key that matches is rechecked at most every RECHECK_S (a stat per request is
        # not free); one that does not match always looks at the file first.
        self._next_check = self._clock() + RECHECK_S
        stamp = self._file_stamp()
        if stamp != self._stamp:
            self._keys = self._read()
            self._stamp = stamp

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            info = self.path.stat()
        except OSError:
            return None
        return info.st_mtime_ns, info.st_size

    def _add(self, key_id: str, owner: str, role: str, key: str) -> ApiKeyInfo:
        stored = _StoredKey(key_id, owner, role, time.time(), _digest(key))
        with self._lock:
            self._reload_if_changed()
            keys = [*self._keys, stored]
            self._write(keys)
            self._keys = keys
        return stored.info

    def _read(self) -> list[_StoredKey]:
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise ConfigError(f"cannot read the API key file {self.path}: {exc.strerror}",
                              setting="data_dir") from exc
        try:
            return [_StoredKey(**entry) for entry in json.loads(raw)["keys"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"the API key file {self.path} is damaged: {exc}",
                              setting="data_dir") from exc

    def _write(self, keys: list[_StoredKey]) -> None:
        text = json.dumps({"keys": [asdict(k) for k in keys]}, indent=1)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(tmp, self.path)
            self._stamp = self._file_stamp()
        except OSError as exc:
            raise ConfigError(f"cannot write the API key file {self.path}: {exc.strerror}",
                              setting="data_dir") from exc


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _check_owner(owner: str) -> None:
    if not owner or len(owner) > 100 or not owner.isprintable() or owner != owner.strip():
        raise ArgumentError("a key owner's name must be 1 to 100 printable characters",
                            field="name")


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ArgumentError(f"unknown role {role!r}; roles are {', '.join(ROLES)}",
                            field="role")
