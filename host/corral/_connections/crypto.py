"""Sealing secrets at rest: AES-256-GCM under a ring of keys.

A sealed blob is ``version (1 byte) | key id (8 bytes) | nonce (12 bytes) | ciphertext+tag``.
The key id says which key of the ring opens the blob, so old keys keep opening old
records after a rotation while every new write uses the newest key. The caller's
associated data (``aad``) binds a blob to the record it belongs to: a blob copied into
another record fails to open.

Keys come from ``CORRAL_SECRET_KEY`` (base64url of 32 bytes; older keys, still accepted
for opening, in ``CORRAL_SECRET_KEY_OLD`` separated by commas) or from a key file made
on first start with mode 0600, one base64url key per line, the newest last.
Every failure to open fails closed with :class:`SecretKeyError`; no message holds key
material.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
import stat
from pathlib import Path
from typing import Mapping, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .._errors import SecretKeyError

ENV_KEY = "CORRAL_SECRET_KEY"
ENV_OLD_KEYS = "CORRAL_SECRET_KEY_OLD"
KEY_BYTES = 32

_VERSION = b"\x01"
_KEY_ID_BYTES = 8
_NONCE_BYTES = 12
_HEADER_BYTES = len(_VERSION) + _KEY_ID_BYTES + _NONCE_BYTES
_TAG_BYTES = 16


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


class KeyRing:
    """Keys that open sealed secrets; the newest one seals.

    ``path`` is the key file the ring was read from (rotation writes it back); a ring
    built from the environment has none and is rotated by changing the environment.
    """

    def __init__(self, keys: Sequence[bytes], *, path: Path | None = None) -> None:
        if not keys:
            raise SecretKeyError("a key ring needs at least one key")
        for key in keys:
            if len(key) != KEY_BYTES:
                raise SecretKeyError(f"every key must be {KEY_BYTES} bytes")
        self._keys: dict[str, AESGCM] = {}
        self._raw: list[bytes] = []
        for key in keys:
            self._add(key)
        self._path = path

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
        try:
            _check_private(target)
            lines = target.read_text(encoding="ascii").splitlines()
        except FileNotFoundError as exc:
            raise SecretKeyError(f"key file {target} does not exist") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise SecretKeyError(f"key file {target} cannot be read: {type(exc).__name__}") from exc
        keys = [decode_key(line, where=f"key file {target}, line {n}")
                for n, line in enumerate(lines, start=1) if line.strip()]
        if not keys:
            raise SecretKeyError(f"key file {target} holds no key")
        return cls(keys, path=target)

    @classmethod
    def from_env_or_file(cls, path: Path | str, environ: Mapping[str, str] | None = None, *,
                         env_key: str | None = None) -> KeyRing:
        """The configured / environment key if set; else the key file, made on first start."""
        from_env = cls.from_env(environ, env_key=env_key)
        if from_env is not None:
            return from_env
        target = Path(path)
        if not target.exists():
            try:
                return cls.generate(target)
            except FileExistsError:
                pass  # another process created it first: read theirs
        return cls.from_file(target)

    # -- use ---------------------------------------------------------------------------

    @property
    def current_key_id(self) -> str:
        return key_id_for(self._raw[-1])

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(key_id_for(k) for k in self._raw)

    @property
    def path(self) -> Path | None:
        return self._path

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        """Encrypt under the newest key, binding ``aad``."""
        key_id = bytes.fromhex(self.current_key_id)
        nonce = secrets.token_bytes(_NONCE_BYTES)
        body = self._keys[self.current_key_id].encrypt(nonce, plaintext, aad)
        return _VERSION + key_id + nonce + body

    def open(self, blob: bytes, aad: bytes) -> bytes:
        """Decrypt a blob sealed with any key of the ring and the same ``aad``."""
        key_id = self.key_id_of(blob)
        cipher = self._keys.get(key_id)
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
        return self.key_id_of(blob) != self.current_key_id

    # -- rotation ----------------------------------------------------------------------

    def rotate_to_new_key(self) -> str:
        """Add a fresh key that seals from now on; old keys still open. Returns its id."""
        if self._path is None:
            raise SecretKeyError(
                f"this key ring comes from {ENV_KEY}: rotate by moving the old key to "
                f"{ENV_OLD_KEYS} and setting a new {ENV_KEY}")
        key = secrets.token_bytes(KEY_BYTES)
        _replace_key_file(self._path, [*self._raw, key])
        self._add(key)
        return self.current_key_id

    def retire_old_keys(self) -> int:
        """Drop every key but the newest (after a full re-seal). Returns how many went."""
        dropped = len(self._raw) - 1
        if dropped and self._path is not None:
            _replace_key_file(self._path, self._raw[-1:])
        current = self._raw[-1]
        self._raw = []
        self._keys = {}
        self._add(current)
        return dropped

    def _add(self, key: bytes) -> None:
        key_id = key_id_for(key)
        if key_id in self._keys:
            self._raw.remove(key)
        self._raw.append(key)
        self._keys[key_id] = AESGCM(key)

    def __repr__(self) -> str:
        return f"KeyRing(key_ids={list(self.key_ids)!r}, current={self.current_key_id!r})"


def _key_file_text(keys: Sequence[bytes]) -> bytes:
    return "".join(encode_key(k) + "\n" for k in keys).encode("ascii")


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _temp_beside(path: Path) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")


def _create_key_file(path: Path, keys: Sequence[bytes]) -> None:
    """Write a new key file; FileExistsError if one appeared meanwhile (never overwrite)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temp = _temp_beside(path)
    _write_private(temp, _key_file_text(keys))
    try:
        os.link(temp, path)  # atomic and refuses to replace: a reader never sees half a file
    finally:
        temp.unlink()


def _replace_key_file(path: Path, keys: Sequence[bytes]) -> None:
    temp = _temp_beside(path)
    _write_private(temp, _key_file_text(keys))
    os.replace(temp, path)


def _check_private(path: Path) -> None:
    if os.name != "posix":
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise SecretKeyError(f"key file {path} is open to group or others (mode {mode:o}); "
                             "run chmod 600 on it")
