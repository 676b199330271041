"""Precompiled-module artifacts on disk, deserialized only once verified.

Deserializing a precompiled module runs no checks: wasmtime maps the bytes in as machine
code, so flipped bytes or another module's artifact crash the process (or worse). A file
here is therefore trusted only through the record it carries, never through its name::

    corral-artifact 1\\n
    {"wasm_sha256": ..., "engine": ..., "bytes": ..., "mac": ...}\\n
    <the bytes wasmtime serialized>

``mac`` is HMAC-SHA256, under a host key kept beside the artifacts (``module.key``, 32
random bytes, mode 0600), of the wasm's sha256, the engine fingerprint (wasmtime version
and engine settings) and the artifact bytes. A file is used only if its record names the
wasm being loaded and this engine, the length matches and the MAC verifies; the bytes
that were verified are the bytes deserialized (never re-read from disk). Anything else
is refused, logged once per file, recompiled and replaced atomically. A missing,
unreadable or loosely permitted key is replaced by a new one, which refuses every file
sealed under the old one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import stat
import threading
from pathlib import Path

from .._errors import StorageFull
from .._stores.files import write_file_atomically

log = logging.getLogger("corral.sandbox")

KEY_FILE = "module.key"
_KEY_BYTES = 32
_MAGIC = b"corral-artifact 1\n"
_MAX_HEADER_BYTES = 4096
_MAC_DOMAIN = b"corral precompiled module\0"

#: Files this process already warned about (one warning per file, not per load).
_warned: set[Path] = set()
_warned_lock = threading.Lock()


class ArtifactStore:
    """Verified precompiled modules in one directory, for one engine fingerprint."""

    def __init__(self, directory: Path, fingerprint: str) -> None:
        self._dir = directory
        self._fingerprint = fingerprint
        self._key: bytes | None = None
        self._key_lock = threading.Lock()

    def path_for(self, wasm_sha256: str) -> Path:
        return self._dir / f"{wasm_sha256}-{self._fingerprint[:16]}.cwasm"

    def load(self, wasm_sha256: str) -> bytes | None:
        """The verified artifact for this wasm and engine, or None (refusals are logged)."""
        path = self.path_for(wasm_sha256)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            refuse(path, f"it cannot be read ({type(exc).__name__})")
            return None
        key = self._host_key()
        if key is None:
            return None
        artifact, problem = self._verify(data, wasm_sha256, key)
        if problem is not None:
            refuse(path, problem)
        return artifact

    def save(self, wasm_sha256: str, artifact: bytes) -> None:
        """Write the artifact and its record whole, or leave the old file; never raises."""
        key = self._host_key()
        if key is None:
            return
        record = {"wasm_sha256": wasm_sha256, "engine": self._fingerprint,
                  "bytes": len(artifact), "mac": self._mac(key, wasm_sha256, artifact)}
        data = _MAGIC + json.dumps(record, sort_keys=True).encode() + b"\n" + artifact
        path = self.path_for(wasm_sha256)
        try:
            write_file_atomically(path, data)
        except (OSError, StorageFull) as exc:  # a full disk: the next start compiles again
            _warn_once(path, "cannot write precompiled module %s (%s); it will be compiled "
                       "again next time", path.name, type(exc).__name__)

    # -- verification ---------------------------------------------------------------------

    def _verify(self, data: bytes, wasm_sha256: str,
                key: bytes) -> tuple[bytes | None, str | None]:
        if not data.startswith(_MAGIC):
            return None, "it carries no record"
        end = data.find(b"\n", len(_MAGIC), len(_MAGIC) + _MAX_HEADER_BYTES)
        if end < 0:
            return None, "its record is damaged"
        try:
            record = json.loads(data[len(_MAGIC):end])
        except (UnicodeDecodeError, ValueError):
            return None, "its record is damaged"
        if not isinstance(record, dict):
            return None, "its record is damaged"
        artifact = data[end + 1:]
        if record.get("wasm_sha256") != wasm_sha256:
            return None, "its record names another module"
        if record.get("engine") != self._fingerprint:
            return None, "its record names another engine"
        if record.get("bytes") != len(artifact):
            return None, "it is truncated or extended"
        mac = record.get("mac")
        if not isinstance(mac, str) or not hmac.compare_digest(
                mac, self._mac(key, wasm_sha256, artifact)):
            return None, "its MAC does not verify"
        return artifact, None

    def _mac(self, key: bytes, wasm_sha256: str, artifact: bytes) -> str:
        signer = hmac.new(key, _MAC_DOMAIN, hashlib.sha256)
        for part in (wasm_sha256.encode(), self._fingerprint.encode()):
            signer.update(len(part).to_bytes(4, "big") + part)
        signer.update(artifact)
        return signer.hexdigest()

    # -- the host key ---------------------------------------------------------------------

    def _host_key(self) -> bytes | None:
        """This directory's key, made (or remade) if needed; None if none can be had."""
        with self._key_lock:
            if self._key is None:
                self._key = _load_or_make_key(self._dir / KEY_FILE)
            return self._key


def _load_or_make_key(path: Path) -> bytes | None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _warn_once(path, "module cache directory %s is unusable (%s); modules are compiled "
                   "every time", path.parent, type(exc).__name__)
        return None
    for _ in range(3):
        key, problem = _read_key(path)
        if key is not None:
            return key
        try:
            if problem is None:  # missing: whoever links first wins, the others read it
                write_file_atomically(path, secrets.token_bytes(_KEY_BYTES), mode=0o600,
                                      replace=False)
            else:
                log.warning("module cache key %s %s; making a new one (every cached module "
                            "will be compiled again)", path, problem)
                write_file_atomically(path, secrets.token_bytes(_KEY_BYTES), mode=0o600)
        except FileExistsError:
            continue
        except OSError as exc:
            _warn_once(path, "cannot write module cache key %s (%s); modules are compiled "
                       "every time", path, type(exc).__name__)
            return None
    return None


def _read_key(path: Path) -> tuple[bytes | None, str | None]:
    """(key, None); (None, None) if the file is missing; (None, why) if it is unusable."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"cannot be read ({type(exc).__name__})"
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None, "is not a regular file"
        if os.name == "posix" and (info.st_uid != os.geteuid() or info.st_mode & 0o077):
            return None, "is not private to this user (it must be mode 0600)"
        key = os.read(fd, _KEY_BYTES + 1)
    except OSError as exc:
        return None, f"cannot be read ({type(exc).__name__})"
    finally:
        os.close(fd)
    if len(key) != _KEY_BYTES:
        return None, f"holds {len(key)} bytes, not {_KEY_BYTES}"
    return key, None


def refuse(path: Path, why: str) -> None:
    """Say (once per file and process) that a precompiled module is not trusted."""
    _warn_once(path, "precompiled module %s is refused: %s; compiling the module again",
               path.name, why)


def _warn_once(path: Path, message: str, *args: object) -> None:
    with _warned_lock:
        first = path not in _warned
        _warned.add(path)
    if first:
        log.warning(message, *args)
