"""Which keys the connection store's sealed records need: their ids, never the keys.

The store's ``key_ids`` database holds the id (:func:`~corral._connections.crypto.key_id_for`)
of every key a sealed record of the store was sealed under: each sealed write notes its
blob's key id in the same transaction, and a full re-seal (:meth:`ConnectionStore.rotate_keys`)
counts the ids afresh. It may hold an id no record needs any more (the records sealed
under it were deleted); it never lacks one a record needs.

Nodes sharing a store on PostgreSQL must all hold every key in use: a node whose ring
lacks one would fail, one request at a time, on the secrets the other nodes sealed. So a
node opening a shared store compares the ids with its ring and refuses to start
(:class:`~corral._errors.SecretKeyError` naming the settings to fix) when a key is
missing; ids the records no longer use are found by one scan and dropped first.

A version marker (its key is not hex, so no key id's) says the ids are complete; a store
without it (made before the ids were kept) is counted once, when it opens.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections import Counter
from typing import Any, Iterable

from .._errors import SecretKeyError
from .._stores.kv import KvStore, KvTxn
from .crypto import ENV_KEY, ENV_OLD_KEYS, KeyRing

log = logging.getLogger("corral.connections")

DB_KEY_IDS = b"key_ids"
_COMPLETE_KEY = b"\xff\x00key-ids-version"
_VERSION = b"1"
_NOTED = b"sealed"
#: A sealed blob starts with its format version (one byte) and its key id (eight).
_HEADER = 9
_FORMAT = 1

#: What an operator sets so a node holds the keys the other nodes use.
RING_SETTINGS = (f"secret_key ({ENV_KEY}, with older keys in {ENV_OLD_KEYS}) or "
                 "secret_key_file (CORRAL_SECRET_KEY_FILE, a key file every node reads)")


def blob_key_id(blob: bytes) -> str | None:
    """The key id a sealed blob names; None for a blob too short or of another format
    (opening it fails closed anyway)."""
    if len(blob) < _HEADER or blob[0] != _FORMAT:
        return None
    return blob[1:_HEADER].hex()


def state_key_id(raw: bytes) -> str | None:
    """The key id of a pending authorization's sealed part."""
    try:
        return blob_key_id(base64.b64decode(json.loads(raw)["sealed"]))
    except (ValueError, KeyError, TypeError, binascii.Error):
        return None


class KeyIds:
    """Notes, counts and checks the key ids of the store's sealed records."""

    def __init__(self, *, ids_db: Any, secrets_db: Any, states_db: Any) -> None:
        self._db = ids_db
        self._secrets_db = secrets_db
        self._states_db = states_db

    def note(self, txn: KvTxn, key_id: str | None) -> None:
        """Record that a record sealed under ``key_id`` is written in ``txn``."""
        if key_id is not None:
            # Always the same value: an upsert that needs no answer from the backend.
            txn.put(key_id.encode(), _NOTED, db=self._db)

    def recorded(self, txn: KvTxn) -> set[str]:
        return {bytes(key).decode() for key, _ in txn.cursor(db=self._db)
                if bytes(key) != _COMPLETE_KEY}

    def in_use(self, txn: KvTxn) -> Counter[str]:
        """How many sealed records each key id seals (one pass over them)."""
        found: Iterable[str | None] = [
            *(blob_key_id(bytes(blob)) for _, blob in txn.cursor(db=self._secrets_db)),
            *(state_key_id(bytes(raw)) for _, raw in txn.cursor(db=self._states_db))]
        return Counter(key_id for key_id in found if key_id is not None)

    def rebuild(self, txn: KvTxn) -> set[str]:
        """Replace the ids by those the records use now, marked complete; those ids."""
        for key in [bytes(key) for key, _ in txn.cursor(db=self._db)]:
            txn.delete(key, db=self._db)
        used = set(self.in_use(txn))
        for key_id in used:
            self.note(txn, key_id)
        txn.put(_COMPLETE_KEY, _VERSION, db=self._db)
        return used

    def migrate(self, kv: KvStore) -> bool:
        """Count the ids once if the store lacks a complete set; whether it had to."""
        if kv.read(lambda txn: txn.get(_COMPLETE_KEY, db=self._db)) is not None:
            return False

        def build(txn: KvTxn) -> bool:
            if txn.get(_COMPLETE_KEY, db=self._db) is not None:
                return False  # another opener counted them meanwhile
            used = self.rebuild(txn)
            log.info("noted the %d key ids the connection store's sealed records use",
                     len(used))
            return True

        return kv.write(build)

    def check(self, kv: KvStore, ring: KeyRing, *, where: str) -> None:
        """SecretKeyError unless ``ring`` holds every key a sealed record of ``kv`` needs."""
        if not self._lacking(kv.read(self.recorded), ring):
            return
        counts = kv.read(self.in_use)
        lacking = self._lacking(set(counts), ring)
        if lacking:
            records = sum(counts[key_id] for key_id in lacking)
            raise SecretKeyError(
                f"the connection store {where} holds {records} secrets sealed under "
                f"key {', '.join(sorted(lacking))}, which this node's key ring (holding "
                f"{', '.join(ring.key_ids)}) lacks; every node must hold every key in "
                f"use: set {RING_SETTINGS} to the keys the other nodes hold",
                missing_key_ids=sorted(lacking), setting="secret_key",
                sealed_records=records)
        kv.write(self.rebuild)  # the ids lacking are no longer used: forget them
        log.info("the connection store's key ids were recounted: none is missing")

    @staticmethod
    def _lacking(ids: set[str], ring: KeyRing) -> set[str]:
        lacking = ids - set(ring.key_ids)
        if lacking and ring.refresh():  # a key file that changed may hold them now
            lacking = ids - set(ring.key_ids)
        return lacking
