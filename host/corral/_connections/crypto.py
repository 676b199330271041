"""Sealing secrets at rest: AES-256-GCM under a ring of keys.

A sealed blob is ``version (1 byte) | key id (8 bytes) | nonce (12 bytes) | ciphertext+tag``.
The key id says which key of the ring opens the blob, so old keys keep opening old
records after a rotation while every new write uses the newest key. The caller's
associated data (``aad``) binds a blob to the record it belongs to: a blob copied into
another record fails to open.

Keys come from ``CORRAL_SECRET_KEY`` (base64url of 32 bytes; older keys, still accepted
for opening, in ``CORRAL_SECRET_KEY_OLD`` separated by commas) or from a key file made
on first start with mode 0600, one base64url key per line, the newest last. A key file
is never made over sealed records: the caller says how many exist, and a missing file
beside them is a refusal naming both.

A ring read from a file follows it while the process runs, so ``corral keys rotate``
needs no restart: before each seal it compares the file's stamp (one ``stat``) and, if
the file was replaced, re-reads it and seals with its newest key; a blob sealed under a
key the ring does not hold makes it re-read a changed file and try again. Keys it
already held keep opening (a read that raced a rotation may hold an old blob).
Every failure to open fails closed with :class:`SecretKeyError`; no message holds key
material.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import logging
import os
import secrets
import stat
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .._errors import SecretKeyError
from .._stores.files import write_file_atomically

log = logging.getLogger("corral.connections")

ENV_KEY = "CORRAL_SECRET_KEY"
ENV_OLD_KEYS = "CORRAL_SECRET_KEY_OLD"
KEY_BYTES = 32

_VERSION = b"\x01"
_KEY_ID_BYTES = 8
_NONCE_BYTES = 12
_HEADER_BYTES = len(_VERSION) + _KEY_ID_BYTES + _NONCE_BYTES
_TAG_BYTES = 16

#: What says a key file was replaced: a rename gives a new inode, an edit a new mtime/size,
#: a chmod a new ctime.
Stamp = tuple[int, int, int, int, int]


def key_id_for(key: bytes) -> str:
    """A short, non-secret name for a key (a domain-separated hash of it)."""
    return hashlib.sha256(b"corral key id\0" + key).digest()[:_KEY_ID_BYTES].hex()


def encode_key(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode().rstrip("=")


def decode_key(text: str, *, where: str) -> bytes:
    """Decode one base64url key; ``where`` names its origin in the error, never the value."""
    cleaned = text.strip()
    try:
        key = base64.urlsafe_b64decode(cleaned + "=" * (-len(cleaned) % 4))
    except (binascii.Error, ValueError) as exc:
        raise SecretKeyError(f"{where} is not base64url text") from exc
    if len(key) != KEY_BYTES:
        raise SecretKeyError(f"{where} must decode to {KEY_BYTES} bytes, got {len(key)}")
    return key


class _Keys:
    """One immutable view of a ring: its keys (newest last) and every cipher that opens."""

    def __init__(self, keys: Sequence[bytes], also_open: Mapping[str, AESGCM] | None = None):
        ordered = list(dict.fromkeys(reversed(keys)))[::-1]  # a repeated key counts once, last
        self.raw: tuple[bytes, ...] = tuple(ordered)
        self.ids: tuple[str, ...] = tuple(key_id_for(k) for k in ordered)
        self.ciphers: dict[str, AESGCM] = dict(also_open or {})
        self.ciphers.update((key_id, AESGCM(k)) for key_id, k in zip(self.ids, ordered))


class KeyRing:
    """Keys that open sealed secrets; the newest one seals.

    ``path`` is the key file the ring was read from (it follows the file, and rotation
    writes it back); a ring built from the environment has none and is rotated by
    changing the environment.
    """

    def __init__(self, keys: Sequence[bytes], *, path: Path | None = None,
                 stamp: Stamp | None = None) -> None:
        if not keys:
            raise SecretKeyError("a key ring needs at least one key")
        for key in keys:
            if len(key) != KEY_BYTES:
                raise SecretKeyError(f"every key must be {KEY_BYTES} bytes")
        self._state = _Keys(keys)
        self._path = path
        #: The stamp of the file version ``_state`` came from; None: read it at next use.
        self._stamp = stamp
        self._lock = threading.Lock()
        self._warned_unusable = False

    # -- construction ------------------------------------------------------------------

    @classmethod
    def generate(cls, path: Path | str | None = None) -> KeyRing:
        """A ring with one fresh random key, written to ``path`` (mode 0600) if given."""
        key = secrets.token_bytes(KEY_BYTES)
        if path is None:
            return cls([key])
        target = Path(path)
        _create_key_file(target, [key])
        return cls([key], path=target)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *,
                 env_key: str | None = None) -> KeyRing | None:
        """The ring named by ``CORRAL_SECRET_KEY`` (+ ``CORRAL_SECRET_KEY_OLD``), or None.

        ``env_key``, when given, is the configured current key (the host's settings read
        it from ``CORRAL_SECRET_KEY`` or the config file) and replaces the variable.
        """
        env = os.environ if environ is None else environ
        current = (env_key if env_key is not None else env.get(ENV_KEY, "")).strip()
        if not current:
            return None
        old = [part for part in env.get(ENV_OLD_KEYS, "").split(",") if part.strip()]
        keys = [decode_key(text, where=f"{ENV_OLD_KEYS} entry {i + 1}")
                for i, text in enumerate(old)]
        keys.append(decode_key(current, where=ENV_KEY))
        return cls(keys)

    @classmethod
    def from_file(cls, path: Path | str) -> KeyRing:
        target = Path(path)
        keys, stamp = _read_key_file(target)
        return cls(keys, path=target, stamp=stamp)

    @classmethod
    def from_env_or_file(cls, path: Path | str, environ: Mapping[str, str] | None = None, *,
                         env_key: str | None = None,
                         sealed_records: Callable[[], int] | None = None) -> KeyRing:
        """The configured / environment key if set; else the key file, made on first start.

        ``sealed_records`` counts what is already sealed; if the file is missing and the
        count is not 0, no key is made: SecretKeyError names the file and the count.
        """
        from_env = cls.from_env(environ, env_key=env_key)
        if from_env is not None:
            return from_env
        target = Path(path)
        if not target.exists():
            sealed = sealed_records() if sealed_records is not None else 0
            if sealed:
                raise SecretKeyError(
                    f"key file {target} is missing, but {sealed} sealed records exist that "
                    f"only its keys open; restore the file (or set {ENV_KEY}) - a new key "
                    "would open none of them", path=str(target), sealed_records=sealed)
            try:
                return cls.generate(target)
            except FileExistsError:
                pass  # another process created it first: read theirs
        return cls.from_file(target)

    # -- use ---------------------------------------------------------------------------

    @property
    def current_key_id(self) -> str:
        return self._state.ids[-1]

    @property
    def key_ids(self) -> tuple[str, ...]:
        return self._state.ids

    @property
    def path(self) -> Path | None:
        return self._path

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        """Encrypt under the newest key (of the key file as it is now), binding ``aad``."""
        self.refresh()
        state = self._state
        key_id = state.ids[-1]
        nonce = secrets.token_bytes(_NONCE_BYTES)
        body = state.ciphers[key_id].encrypt(nonce, plaintext, aad)
        return _VERSION + bytes.fromhex(key_id) + nonce + body

    def open(self, blob: bytes, aad: bytes) -> bytes:
        """Decrypt a blob sealed with any key of the ring and the same ``aad``."""
        key_id = self.key_id_of(blob)
        cipher = self._state.ciphers.get(key_id)
        if cipher is None and self.refresh():
            cipher = self._state.ciphers.get(key_id)  # sealed under a key rotated in meanwhile
        if cipher is None:
            raise SecretKeyError(
                f"secret was sealed with key {key_id}, which is not in the key ring "
                f"(holding {', '.join(self.key_ids)}); set {ENV_KEY} or restore the key file",
                key_id=key_id)
        nonce = blob[len(_VERSION) + _KEY_ID_BYTES:_HEADER_BYTES]
        try:
            return cipher.decrypt(nonce, blob[_HEADER_BYTES:], aad)
        except InvalidTag as exc:
            raise SecretKeyError("secret failed to open: it was tampered with or moved to "
                                 "another record", key_id=key_id) from exc

    def key_id_of(self, blob: bytes) -> str:
        if len(blob) < _HEADER_BYTES + _TAG_BYTES or blob[:1] != _VERSION:
            raise SecretKeyError("sealed secret is truncated or has an unknown format")
        return blob[1:1 + _KEY_ID_BYTES].hex()

    def needs_reseal(self, blob: bytes) -> bool:
        """Whether ``blob`` is sealed under anything but the key file's newest key."""
        self.refresh()
        return self.key_id_of(blob) != self.current_key_id

    def refresh(self) -> bool:
        """Re-read the key file if it changed since it was read; True if it was re-read.

        A missing or unreadable file keeps the keys held (logged once): never a new key.
        """
        if self._path is None:
            return False
        current = _stamp_or_none(self._path)
        if current is not None and current == self._stamp:
            return False
        with self._lock:
            if current is not None and current == self._stamp:
                return False  # another thread re-read it meanwhile
            try:
                keys, stamp = _read_key_file(self._path)
            except SecretKeyError as exc:
                self._warn_unusable(exc)
                return False
            self._state = _Keys(keys, also_open=self._state.ciphers)
            self._stamp = stamp
            self._warned_unusable = False
        log.debug("key file %s read: sealing with key %s", self._path, self.current_key_id)
        return True

    # -- rotation ----------------------------------------------------------------------

    def rotate_to_new_key(self) -> str:
        """Add a fresh key that seals from now on; old keys still open. Returns its id."""
        path = self._require_file()
        self.refresh()  # extend the file as it is now, not as it was
        key = secrets.token_bytes(KEY_BYTES)
        with self._lock:
            _replace_key_file(path, [*self._state.raw, key])
            self._state = _Keys([*self._state.raw, key], also_open=self._state.ciphers)
            self._stamp = None
        return self.current_key_id

    def retire_old_keys(self) -> int:
        """Drop every key but the newest (after a full re-seal). Returns how many went."""
        self.refresh()
        with self._lock:
            dropped = len(self._state.raw) - 1
            if dropped and self._path is not None:
                _replace_key_file(self._path, self._state.raw[-1:])
            self._state = _Keys(self._state.raw[-1:])
            self._stamp = None
        return dropped

    def _require_file(self) -> Path:
        if self._path is None:
            raise SecretKeyError(
                f"this key ring comes from {ENV_KEY}: rotate by moving the old key to "
                f"{ENV_OLD_KEYS} and setting a new {ENV_KEY}")
        return self._path

    def _warn_unusable(self, exc: SecretKeyError) -> None:
        if not self._warned_unusable:
            self._warned_unusable = True
            log.warning("%s; keeping the %d keys already read (sealing with %s)", exc,
                        len(self._state.raw), self.current_key_id)

    def __repr__(self) -> str:
        return f"KeyRing(key_ids={list(self.key_ids)!r}, current={self.current_key_id!r})"


@contextmanager
def rotation_lock(key_file: Path) -> Iterator[None]:
    """Hold the key file's rotation lock (one rotation at a time; a killed holder's lock
    goes with it). Leftover temporary files of killed writers are removed under it."""
    lock_path = key_file.with_name(f".{key_file.name}.lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        for stale in key_file.parent.glob(f".{key_file.name}.*.tmp"):
            stale.unlink(missing_ok=True)  # key material a kill left behind
        yield
    finally:
        os.close(fd)  # releases the lock


def _read_key_file(path: Path) -> tuple[list[bytes], Stamp]:
    """The keys of a key file and the stamp of the very file they were read from."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError as exc:
        raise SecretKeyError(f"key file {path} does not exist") from exc
    except OSError as exc:
        raise SecretKeyError(f"key file {path} cannot be read: {type(exc).__name__}") from exc
    try:
        info = os.fstat(fd)
        _check_private(path, info)
        with os.fdopen(os.dup(fd), "rb") as handle:
            lines = handle.read().decode("ascii").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretKeyError(f"key file {path} cannot be read: {type(exc).__name__}") from exc
    finally:
        os.close(fd)
    keys = [decode_key(line, where=f"key file {path}, line {n}")
            for n, line in enumerate(lines, start=1) if line.strip()]
    if not keys:
        raise SecretKeyError(f"key file {path} holds no key")
    return keys, _stamp(info)


def _stamp(info: os.stat_result) -> Stamp:
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def _stamp_or_none(path: Path) -> Stamp | None:
    try:
        return _stamp(os.stat(path))
    except OSError:
        return None


def _key_file_text(keys: Sequence[bytes]) -> bytes:
    return "".join(encode_key(k) + "\n" for k in keys).encode("ascii")


def _create_key_file(path: Path, keys: Sequence[bytes]) -> None:
    """Write a new key file; FileExistsError if one appeared meanwhile (never overwrite)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_file_atomically(path, _key_file_text(keys), mode=0o600, replace=False)


def _replace_key_file(path: Path, keys: Sequence[bytes]) -> None:
    write_file_atomically(path, _key_file_text(keys), mode=0o600)


def _check_private(path: Path, info: os.stat_result) -> None:
    if os.name != "posix":
        return
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise SecretKeyError(f"key file {path} is open to group or others (mode {mode:o}); "
                             "run chmod 600 on it")
