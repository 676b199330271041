"""The pack registry: packs stored by name and version, one version active, shared by every
process on a data dir.

Layout under the registry directory::

    <name>/<version>-<sha256[:16]>.wasm    every registered version, written once, never changed
    .registry/                             LMDB: the active version of each pack, the domains
                                           the operator approved for each version, a generation

A version's file is written to a unique temporary name, flushed and renamed into place,
so it is whole or absent. Which version is active lives only in LMDB, changed in one
write transaction (with a generation counter that every change bumps), so a kill at
any moment leaves either the old pointer or the new one, never an empty one. Every
process on the data dir (servers, the CLI) opens the same LMDB environment and, before
answering a lookup, compares the generation with the one it loaded: a pack uploaded,
activated or removed by one process is what the next lookup in any other sees.

Registering validates the pack first (no guest code runs); a pack that fails
validation leaves nothing behind.

**Approved domains.** A call that holds a caller's connection may reach only the pack's
auth domains, plus the declared domains the operator approved when registering that
version (``register(..., approved_domains=[...])``; the upload API's ``approve``
parameter). Approvals are recorded per version in LMDB, in the same transaction as its
pointer, and every process sees them as it sees pointers. They name declared
``network_domains`` entries only; anything else is refused before anything is stored.

**Numeric ids.** Each pack name gets a number the first time it is registered (from 1001
up, counted in LMDB in the same transaction as its first pointer), kept across versions,
restarts and removal, and never given to another name: ``get("1013")`` finds the pack
whose id is 1013, which is how a formula's ``$$[pack:1013]::Formula()`` resolves (a pack
name starts with a letter, so a number is never a name).

The pointer map grows up to ``registry_map_max_bytes``; past it, or on a full disk,
registering raises StorageFull.

**On PostgreSQL** (``store_url``) the pointers, approvals and ids live in the shared
store, and so do the bytes of every version (sub-database ``wasm``, key ``name/file``,
written in the transaction that records the version), so a pack uploaded on one node
runs on every other: a node that lacks a version's file writes it into its own
directory from the store before loading it (each node keeps its own compiled modules).
A lookup costs no round trip: the registry re-reads the store only when the store's
change listener says the registry changed (on any node), or while it is not listening.
"""

from __future__ import annotations

import json
import logging
import struct
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from .._domains import DeclaredDomain
from .._errors import ArgumentError, CorralError, ManifestError, NotFoundError
from .._pack.manifest import Manifest
from .._sandbox.sandbox import Sandbox
from .._stores.files import write_file_atomically
from .._stores.kv import KvStore
from .._stores.lmdb_env import SharedEnv
from .._stores.opening import WatchedKv, open_kv, watched
from .pack import Pack, pack_from_bytes

log = logging.getLogger("corral.registry")

_DB_ACTIVE = b"active"
_DB_META = b"meta"
_DB_APPROVALS = b"approvals"
_DB_IDS = b"ids"
_DB_WASM = b"wasm"  # shared stores only: name/file -> the version's bytes
_DB_VERSIONS = b"versions"  # shared stores only: name/file -> b""
_GENERATION = b"generation"
_NEXT_ID = b"next_id"
FIRST_PACK_ID = 1001
_MAP_BYTES = 64 * 1024 * 1024
_MAX_MAP_BYTES = 1024 * 1024 * 1024
_LEGACY_MARKER = "ACTIVE"


@dataclass(frozen=True)
class PackVersion:
    name: str
    version: str
    sha256: str
    file: str
    active: bool
    approved_domains: tuple[str, ...] = ()


def approved_for(manifest: Manifest, domains: Iterable[str]) -> tuple[str, ...]:
    """``domains`` in canonical form, sorted, each one of the manifest's network domains."""
    declared = {str(DeclaredDomain.parse(d)) for d in manifest.network_domains}
    found: set[str] = set()
    for text in domains:
        try:
            canonical = str(DeclaredDomain.parse(text))
        except ManifestError as exc:
            raise ArgumentError(f"approved domain {text!r} is not a valid domain: {exc.message}",
                                field="approved_domains", pack=manifest.name) from exc
        if canonical not in declared:
            raise ArgumentError(f"{canonical!r} is not one of the network_domains of pack "
                                f"{manifest.name!r} ({', '.join(sorted(declared)) or 'none'}); "
                                "only declared domains can be approved",
                                field="approved_domains", pack=manifest.name)
        found.add(canonical)
    return tuple(sorted(found))


def _approval_key(name: str, file: str) -> bytes:
    return f"{name}/{file}".encode()


def _keys_under(txn: Any, db: Any, prefix: bytes) -> list[bytes]:
    """The keys of ``db`` that start with ``prefix``, in order."""
    cursor = txn.cursor(db=db)
    if not cursor.set_range(prefix):
        return []
    keys = []
    for key, _ in cursor:
        if not bytes(key).startswith(prefix):
            break
        keys.append(bytes(key))
    return keys


class Registry:
    """Packs by name; lookups are exact first, then a unique case-insensitive match."""

    def __init__(self, directory: Path | None, sandbox: Sandbox, *,
                 map_size: int = _MAP_BYTES, max_map_size: int = _MAX_MAP_BYTES,
                 store_url: str | None = None) -> None:
        self.directory = directory
        self.sandbox = sandbox
        self._active: dict[str, Pack] = {}
        self._generation = -1
        self._synced_mark: int | None = None
        self._lock = threading.RLock()
        self._shared: KvStore | None = None
        #: Shared store only: whether another node may have changed it since the last read.
        self._stale = True
        self._watched: WatchedKv | None = None
        self._memory_ids: dict[str, int] = {}  # the ids of a registry without a directory
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
            self._shared = open_kv(store_url, "registry", lmdb_dir=directory / ".registry",
                                   map_size=map_size, max_dbs=5, max_map_size=max_map_size,
                                   name="pack registry", setting="registry_map_max_bytes")
            self._active_db = self._shared.open_db(_DB_ACTIVE)
            self._meta_db = self._shared.open_db(_DB_META)
            self._approvals_db = self._shared.open_db(_DB_APPROVALS)
            self._ids_db = self._shared.open_db(_DB_IDS)
            self._watched = watched(self._shared)
            if self._watched is not None:
                self._wasm_db = self._shared.open_db(_DB_WASM)
                self._versions_db = self._shared.open_db(_DB_VERSIONS)
                self._watched.on_change(self._changed)
            else:
                self._adopt_legacy_markers()
            self._number_unnumbered()
            self._sync()

    def close(self) -> None:
        with self._lock:
            if self._shared is not None:
                self._shared.close()
                self._shared = None

    # -- reading ----------------------------------------------------------------------------

    def get(self, name: str) -> Pack:
        """The active pack named ``name`` (or, for digits, the one with that numeric id)."""
        self._sync()
        with self._lock:
            pack = self._active.get(name)
            if pack is not None:
                return pack
            if name.isdigit():
                numbered = [p for p in self._active.values() if p.pack_id == int(name)]
                if numbered:
                    return numbered[0]
                raise NotFoundError(f"no pack with id {name} is registered", pack=name)
            folded = [p for n, p in self._active.items() if n.lower() == name.lower()]
        if len(folded) == 1:
            return folded[0]
        raise NotFoundError(f"no pack named {name!r} is registered", pack=name)

    def packs(self) -> list[Pack]:
        self._sync()
        with self._lock:
            return sorted(self._active.values(), key=lambda p: p.name)

    def versions(self, name: str) -> list[PackVersion]:
        pack = self.get(name)
        if self.directory is None:
            return [PackVersion(pack.name, pack.version, pack.sha256, "", True,
                                pack.approved_domains)]
        _, pointers, approvals = self._read()
        active = pointers.get(pack.name, "")
        out = []
        for file in self._version_files(pack.name):
            version, _, digest = Path(file).stem.rpartition("-")
            out.append(PackVersion(pack.name, version, digest, file, file == active,
                                   approvals.get(f"{pack.name}/{file}", ())))
        return out

    def _version_files(self, name: str) -> list[str]:
        """The file names of every stored version of ``name``, sorted."""
        assert self.directory is not None
        if self._watched is None:
            return sorted(file.name for file in (self.directory / name).glob("*.wasm"))
        prefix = f"{name}/".encode()
        keys = self._store_or_raise().read(
            lambda txn: _keys_under(txn, self._versions_db, prefix))
        return [key[len(prefix):].decode() for key in keys]

    def check_reachable(self) -> None:
        """One read of the store (for readiness): StoreUnavailable while a shared store
        cannot be reached."""
        if self._shared is not None:
            self._read_generation()

    # -- writing ----------------------------------------------------------------------------

    def register(self, wasm: bytes, *, source: str | None = None, activate: bool = True,
                 approved_domains: Sequence[str] | None = None) -> Pack:
        """Validate, store and (by default) activate a pack version.

        ``approved_domains`` (declared network domains) replaces what this version has
        recorded; None keeps it (none for a new version).
        """
        pack = pack_from_bytes(wasm, sandbox=self.sandbox, source=source)
        approvals = None if approved_domains is None else approved_for(pack.manifest,
                                                                       approved_domains)
        with self._lock:
            if self.directory is None:
                return self._register_in_memory(pack, activate, approvals)
            pack.path = self._store(pack, wasm)
            if self._write_pointer(pack.name, pack.path.name, only_if_absent=not activate,
                                   approvals=approvals,
                                   wasm=wasm if self._watched is not None else None):
                self._active[pack.name] = pack  # so the sync below keeps it, not a reload
            self._sync()
            pack.approved_domains = self._read()[2].get(f"{pack.name}/{pack.path.name}", ())
            pack.pack_id = self._ids().get(pack.name)
            return pack

    def _register_in_memory(self, pack: Pack, activate: bool,
                            approvals: tuple[str, ...] | None) -> Pack:
        pack.pack_id = self._memory_ids.setdefault(pack.name,
                                                   FIRST_PACK_ID + len(self._memory_ids))
        current = self._active.get(pack.name)
        if approvals is None and current is not None and current.sha256 == pack.sha256:
            approvals = current.approved_domains
        pack.approved_domains = approvals or ()
        if activate or current is None:
            self._active[pack.name] = pack
        return pack

    def activate(self, name: str, version: str) -> Pack:
        """Make a stored ``version`` of ``name`` the active one (a rollback is the same)."""
        for entry in self.versions(name):
            if entry.version == version:
                wasm_file = self._local_file(entry.name, entry.file)
                if wasm_file is None:
                    raise NotFoundError(f"pack {name!r}: version {version!r} was removed "
                                        "meanwhile", pack=name)
                pack = pack_from_bytes(wasm_file.read_bytes(), sandbox=self.sandbox,
                                       source=str(wasm_file), path=wasm_file)
                with self._lock:
                    self._write_pointer(pack.name, entry.file)
                    pack.pack_id = self._ids().get(pack.name)
                    self._active[pack.name] = pack
                    self._sync()
                    return pack
        raise NotFoundError(f"pack {name!r} has no version {version!r}", pack=name)

    def remove(self, name: str) -> None:
        pack = self.get(name)
        with self._lock:
            self._active.pop(pack.name, None)
            if self.directory is None:
                return
            self._delete_pointer(pack.name)
            self._forget_files(pack.name)

    def _forget_files(self, name: str) -> None:
        assert self.directory is not None
        folder = self.directory / name
        for file in folder.glob("*"):
            file.unlink(missing_ok=True)
        try:
            folder.rmdir()
        except OSError:  # another process stored a version meanwhile; it keeps it
            pass

    # -- the shared pointers ------------------------------------------------------------------

    def _store_or_raise(self) -> KvStore:
        if self._shared is None:
            raise CorralError("the pack registry is closed")
        return self._shared

    def _pointers(self) -> dict[str, str]:
        return self._read()[1] if self._shared is not None else {}

    def _read(self) -> tuple[int, dict[str, str], dict[str, tuple[str, ...]]]:
        """The generation, every active pointer and every version's approved domains
        (by ``name/file``), read in one transaction."""
        def read(txn: Any) -> tuple[int, dict[str, str], dict[str, tuple[str, ...]]]:
            raw = txn.get(_GENERATION, db=self._meta_db)
            pointers = {bytes(k).decode(): bytes(v).decode()
                        for k, v in txn.cursor(db=self._active_db)}
            approvals = {bytes(k).decode(): tuple(json.loads(bytes(v)))
                         for k, v in txn.cursor(db=self._approvals_db)}
            return (struct.unpack("<Q", raw)[0] if raw else 0), pointers, approvals

        return self._store_or_raise().read(read)

    def _read_generation(self) -> int:
        raw = self._store_or_raise().read(lambda txn: txn.get(_GENERATION, db=self._meta_db))
        return struct.unpack("<Q", raw)[0] if raw else 0

    def _write_pointer(self, name: str, file: str, *, only_if_absent: bool = False,
                       approvals: tuple[str, ...] | None = None,
                       wasm: bytes | None = None) -> bool:
        """Point ``name`` at ``file`` (unless ``only_if_absent`` and it points somewhere),
        record ``file``'s approvals (unless None) and its ``wasm`` bytes (shared stores),
        in one transaction; True if it pointed."""
        def write(txn: Any) -> bool:
            point = not (only_if_absent
                         and txn.get(name.encode(), db=self._active_db) is not None)
            self._number(txn, name)
            if wasm is not None:
                txn.put(_approval_key(name, file), wasm, db=self._wasm_db, overwrite=False)
                txn.put(_approval_key(name, file), b"", db=self._versions_db)
            if point:
                txn.put(name.encode(), file.encode(), db=self._active_db)
            if approvals is not None:
                txn.put(_approval_key(name, file), json.dumps(list(approvals)).encode(),
                        db=self._approvals_db)
            if point or approvals is not None or wasm is not None:
                self._bump_generation(txn)
            return point

        pointed = self._store_or_raise().write(write)
        self._stale = True
        return pointed

    def _delete_pointer(self, name: str) -> None:
        prefix = f"{name}/".encode()

        def delete(txn: Any) -> None:
            txn.delete(name.encode(), db=self._active_db)
            for key in _keys_under(txn, self._approvals_db, prefix):
                txn.delete(key, db=self._approvals_db)
            if self._watched is not None:
                for key in _keys_under(txn, self._versions_db, prefix):
                    txn.delete(key, db=self._versions_db)
                    txn.delete(key, db=self._wasm_db)
            self._bump_generation(txn)

        self._store_or_raise().write(delete, frees=True)
        self._stale = True

    def _ids(self) -> dict[str, int]:
        """Every pack name's numeric id (removed packs' too: an id is never reused)."""
        if self._shared is None:
            return dict(self._memory_ids)

        def read(txn: Any) -> dict[str, int]:
            return {bytes(k).decode(): struct.unpack("<Q", v)[0]
                    for k, v in txn.cursor(db=self._ids_db)}

        return self._shared.read(read)

    def _number(self, txn: Any, name: str) -> None:
        """Give ``name`` the next numeric id, unless it has one."""
        if txn.get(name.encode(), db=self._ids_db) is not None:
            return
        raw = txn.get(_NEXT_ID, db=self._meta_db)
        next_id = struct.unpack("<Q", raw)[0] if raw else FIRST_PACK_ID
        txn.put(name.encode(), struct.pack("<Q", next_id), db=self._ids_db)
        txn.put(_NEXT_ID, struct.pack("<Q", next_id + 1), db=self._meta_db)

    def _number_unnumbered(self) -> None:
        """Packs registered before ids existed get theirs, in name order, once."""
        pointers = self._pointers()
        if all(name in self._ids() for name in pointers):
            return

        def write(txn: Any) -> None:
            for name in sorted(pointers):
                self._number(txn, name)
            self._bump_generation(txn)

        self._store_or_raise().write(write)

    def _bump_generation(self, txn: Any) -> None:
        raw = txn.get(_GENERATION, db=self._meta_db)
        current = struct.unpack("<Q", raw)[0] if raw else 0
        txn.put(_GENERATION, struct.pack("<Q", current + 1), db=self._meta_db)

    def _changed(self) -> None:
        """The shared store's listener: the registry changed somewhere (or may have)."""
        self._stale = True

    def _sync(self) -> None:
        """Load what other processes changed since this one last looked (one read txn when
        nothing did; on a shared store, nothing while its listener reports no change)."""
        if self._shared is None:
            return
        if self._watched is not None:
            if not self._stale and self._watched.listening:
                return
            self._stale = False  # before reading: a change announced meanwhile reads again
        # LMDB: no write since the last look (its last transaction id, read from the shared
        # map before the generation it vouches for) means nothing to read.
        mark = (self._shared.info()["last_txnid"] if isinstance(self._shared, SharedEnv)
                else None)
        if mark is not None and mark == self._synced_mark:
            return
        if self._read_generation() == self._generation:
            self._synced_mark = mark
            return
        with self._lock:
            generation, pointers, approvals = self._read()
            ids = self._ids()
            loaded = {}
            for name, file in pointers.items():
                current = self._active.get(name)
                pack = current
                if current is None or current.path is None or current.path.name != file:
                    pack = self._load(name, file)
                if pack is not None:
                    pack.approved_domains = approvals.get(f"{name}/{file}", ())
                    pack.pack_id = ids.get(name)
                    loaded[name] = pack
            if self._watched is not None:  # the store is the truth: forget removed packs
                for name in set(self._active) - set(pointers):
                    self._forget_files(name)
            self._active = loaded
            self._generation = generation
            self._synced_mark = mark

    def _load(self, name: str, file: str) -> Pack | None:
        try:
            wasm_file = self._local_file(name, file)
            if wasm_file is None:
                raise NotFoundError("its bytes are not in the store", pack=name)
            return pack_from_bytes(wasm_file.read_bytes(), sandbox=self.sandbox,
                                   source=str(wasm_file), path=wasm_file)
        except (OSError, CorralError) as exc:
            log.error("pack %s: cannot load its active version %s (%s); it is not served",
                      name, file, exc)
            return None

    def _local_file(self, name: str, file: str) -> Path | None:
        """This node's copy of a version's file, written from the shared store if it has
        none yet; None if the store has no such version."""
        assert self.directory is not None
        path = self.directory / name / file
        if self._watched is None or path.exists():
            return path
        key = _approval_key(name, file)
        wasm = self._store_or_raise().read(lambda txn: txn.get(key, db=self._wasm_db))
        if wasm is None:
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        write_file_atomically(path, bytes(wasm), store="pack store")
        return path

    def _store(self, pack: Pack, wasm: bytes) -> Path:
        assert self.directory is not None
        folder = self.directory / pack.name
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{pack.version}-{pack.sha256[:16]}.wasm"
        if not path.exists():
            write_file_atomically(path, wasm, store="pack store")
        return path

    def _adopt_legacy_markers(self) -> None:
        """Pointers written by earlier releases (``<name>/ACTIVE`` files) move into LMDB once;
        an empty or dangling marker (a kill mid-write) is ignored, never fatal."""
        assert self.directory is not None
        known = self._pointers()
        for marker in sorted(self.directory.glob(f"*/{_LEGACY_MARKER}")):
            name = marker.parent.name
            try:
                file = marker.read_text().strip()
            except OSError:
                continue
            if name not in known and file and (marker.parent / file).is_file():
                self._write_pointer(name, file)
            marker.unlink(missing_ok=True)
