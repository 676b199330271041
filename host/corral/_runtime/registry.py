"""The pack registry: packs stored on disk by name and version, one version active.

Layout under the registry directory::

    <name>/<version>-<sha256[:16]>.wasm    every registered version, side by side
    <name>/ACTIVE                          the file name of the active version

Registering validates the pack first (no guest code runs); a pack that fails
validation leaves nothing behind.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from .._errors import NotFoundError
from .._runtime.pack import Pack, pack_from_bytes
from .._sandbox.sandbox import Sandbox


@dataclass(frozen=True)
class PackVersion:
    name: str
    version: str
    sha256: str
    file: str
    active: bool


class Registry:
    """Packs by name; lookups are exact first, then a unique case-insensitive match."""

    def __init__(self, directory: Path | None, sandbox: Sandbox) -> None:
        self.directory = directory
        self.sandbox = sandbox
        self._active: dict[str, Pack] = {}
        self._lock = threading.RLock()
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
            self._load_active()

    def _load_active(self) -> None:
        assert self.directory is not None
        for pack_dir in sorted(p for p in self.directory.iterdir() if p.is_dir()):
            marker = pack_dir / "ACTIVE"
            if marker.is_file():
                wasm_file = pack_dir / marker.read_text().strip()
                pack = pack_from_bytes(wasm_file.read_bytes(), sandbox=self.sandbox,
                                       source=str(wasm_file), path=wasm_file)
                self._active[pack.name] = pack

    def register(self, wasm: bytes, *, source: str | None = None, activate: bool = True) -> Pack:
        """Validate, store and (by default) activate a pack version."""
        pack = pack_from_bytes(wasm, sandbox=self.sandbox, source=source)
        with self._lock:
            if self.directory is not None:
                pack.path = self._store(pack, wasm)
                if activate:
                    (self.directory / pack.name / "ACTIVE").write_text(pack.path.name)
            if activate or pack.name not in self._active:
                self._active[pack.name] = pack
        return pack

    def _store(self, pack: Pack, wasm: bytes) -> Path:
        assert self.directory is not None
        folder = self.directory / pack.name
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{pack.version}-{pack.sha256[:16]}.wasm"
        if not path.exists():
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(wasm)
            os.replace(tmp, path)
        return path

    def get(self, name: str) -> Pack:
        with self._lock:
            pack = self._active.get(name)
            if pack is not None:
                return pack
            folded = [p for n, p in self._active.items() if n.lower() == name.lower()]
        if len(folded) == 1:
            return folded[0]
        raise NotFoundError(f"no pack named {name!r} is registered", pack=name)

    def packs(self) -> list[Pack]:
        with self._lock:
            return sorted(self._active.values(), key=lambda p: p.name)

    def versions(self, name: str) -> list[PackVersion]:
        pack = self.get(name)
        if self.directory is None:
            return [PackVersion(pack.name, pack.version, pack.sha256, "", True)]
        folder = self.directory / pack.name
        active = (folder / "ACTIVE").read_text().strip() if (folder / "ACTIVE").exists() else ""
        out = []
        for file in sorted(folder.glob("*.wasm")):
            version, _, digest = file.stem.rpartition("-")
            out.append(PackVersion(pack.name, version, digest, file.name, file.name == active))
        return out

    def activate(self, name: str, version: str) -> Pack:
        for entry in self.versions(name):
            if entry.version == version:
                assert self.directory is not None
                folder = self.directory / self.get(name).name
                wasm_file = folder / entry.file
                pack = pack_from_bytes(wasm_file.read_bytes(), sandbox=self.sandbox,
                                       source=str(wasm_file), path=wasm_file)
                with self._lock:
                    (folder / "ACTIVE").write_text(entry.file)
                    self._active[pack.name] = pack
                return pack
        raise NotFoundError(f"pack {name!r} has no version {version!r}", pack=name)

    def remove(self, name: str) -> None:
        pack = self.get(name)
        with self._lock:
            self._active.pop(pack.name, None)
            if self.directory is not None:
                folder = self.directory / pack.name
                for file in folder.glob("*"):
                    file.unlink()
                folder.rmdir()
