"""Where a host's key ring comes from, by its settings.

On one machine (no ``store_url``) it is as it always was: ``secret_key``
(``CORRAL_SECRET_KEY``, older keys in ``CORRAL_SECRET_KEY_OLD``), else the key file
(``secret_key_file``, by default ``secret.key`` in the data dir), made on first start
unless sealed records exist that a new key would not open.

Nodes sharing a store (``store_url``) must all hold the same keys, and no key is ever
stored in the database: the ring comes from ``secret_key`` or from a ``secret_key_file``
that every node reads (a shared volume, a mounted secret). A node never makes that file
(a key made by one node alone would seal what the others cannot open), and a node with
neither setting refuses to start (ConfigError naming them).
"""

from __future__ import annotations

import os
from pathlib import Path

from .._errors import ConfigError, SecretKeyError
from .._settings import Settings
from .crypto import ENV_KEY, ENV_OLD_KEYS, KeyRing
from .sealed import count_sealed

#: The key file of a data dir when ``secret_key_file`` is not set.
DEFAULT_KEY_FILE = "secret.key"
_MAKE_A_KEY = ("python -c \"import base64,os; print(base64.urlsafe_b64encode(os.urandom(32))"
               ".decode().rstrip('='))\"")


def key_file_for(settings: Settings) -> Path:
    """The key file the settings name (used when ``secret_key`` is not set)."""
    return settings.secret_key_file or settings.data_dir / DEFAULT_KEY_FILE


def keyring_for(settings: Settings) -> KeyRing:
    """The key ring sealing and opening the connections of a host with ``settings``."""
    if settings.store_url:
        return _shared_ring(settings)
    store_dir = settings.data_dir / "connections"
    return KeyRing.from_env_or_file(
        key_file_for(settings), env_key=settings.secret_key,
        sealed_records=lambda: count_sealed(store_dir,
                                            map_size=settings.connections_map_bytes))


def _shared_ring(settings: Settings) -> KeyRing:
    ring = KeyRing.from_env(env_key=settings.secret_key)
    if ring is not None:
        return ring
    path = settings.secret_key_file
    if path is None:
        raise ConfigError(
            f"with store_url set, every node must hold the same secret key: set secret_key "
            f"({ENV_KEY}, older keys in {ENV_OLD_KEYS}) or secret_key_file "
            "(CORRAL_SECRET_KEY_FILE, a key file every node reads) on every node; a key "
            "made by one node alone would seal secrets the others cannot open",
            setting="secret_key")
    if not os.path.exists(path):
        raise SecretKeyError(
            f"secret_key_file {path} does not exist; with store_url set no node makes it: "
            f"write one base64url key of 32 bytes per line (for example {_MAKE_A_KEY}), "
            "mode 0600, where every node reads it", path=str(path), setting="secret_key_file")
    return KeyRing.from_file(path)
