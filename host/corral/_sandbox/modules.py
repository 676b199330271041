"""Compiled modules: the ABI checks a module must pass, and the precompiled-module cache.

A module is checked before anything runs (its imports and exports against the ABI), linked
once into an ``InstancePre``, and kept in memory by its sha256. On disk, a precompiled
module is deserialized only after its record verifies (bound to the wasm's sha256 and the
engine fingerprint under a host key, see ``artifacts.py``); anything else is recompiled
and replaced, never trusted.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass

import wasmtime

from .._errors import PackValidationError
from .._pack import abi as _abi
from .._pack.manifest import MAX_MEMORY_BYTES
from . import fastcall as _fastcall
from . import wasi_subset
from .artifacts import ArtifactStore, refuse
from .engine import TABLE_ELEMENTS, SandboxConfig, engine_fingerprint


@dataclass
class CompiledPack:
    """A compiled module, ready to instantiate many times."""

    module: wasmtime.Module
    instance_pre: wasmtime.InstancePre
    sha256: str
    from_cache: bool
    compile_seconds: float
    #: The ``InstancePre`` as the native call path takes it (0 on the public path).
    native_address: int = 0


class ModuleCache:
    """Compiles, checks and links modules for one Engine and Linker, at most once each."""

    def __init__(self, engine: wasmtime.Engine, linker: wasmtime.Linker,
                 config: SandboxConfig, *, native: bool) -> None:
        self._engine = engine
        self._native = native
        self._linker = linker
        self._artifacts = (ArtifactStore(config.cache_dir, engine_fingerprint(config))
                           if config.cache_dir is not None else None)
        self._compiled: dict[str, CompiledPack] = {}
        self._lock = threading.Lock()

    def compile(self, wasm: bytes, *, name: str, wasi: bool = False) -> CompiledPack:
        """Compile (or load from the precompiled cache), check and link a pack's module;
        ``wasi`` (the manifest's ``pack.wasi``) admits the narrow WASI subset's imports."""
        digest = hashlib.sha256(wasm).hexdigest()
        with self._lock:
            cached = self._compiled.get(digest)
        if cached is not None:
            return cached
        started = time.perf_counter()
        module, from_cache = self._load_module(wasm, digest, name)
        check_imports(module, name, wasi=wasi)
        check_exports(module, name)
        try:
            instance_pre = self._linker.instantiate_pre(module)
        except wasmtime.WasmtimeError as exc:
            raise PackValidationError(f"pack {name!r} cannot be linked: {exc}", pack=name) from exc
        compiled = CompiledPack(module, instance_pre, digest, from_cache,
                                time.perf_counter() - started,
                                _fastcall.address(instance_pre) if self._native else 0)
        with self._lock:
            self._compiled[digest] = compiled
        return compiled

    def _load_module(self, wasm: bytes, digest: str, name: str) -> tuple[wasmtime.Module, bool]:
        cached = self._from_artifact(digest)
        if cached is not None:
            return cached, True
        try:
            module = wasmtime.Module(self._engine, wasm)
        except wasmtime.WasmtimeError as exc:
            raise _invalid_module(name, exc) from exc
        if self._artifacts is not None:
            self._artifacts.save(digest, bytes(module.serialize()))
        return module, False

    def _from_artifact(self, digest: str) -> wasmtime.Module | None:
        """The module from its verified precompiled artifact, or None."""
        if self._artifacts is None:
            return None
        artifact = self._artifacts.load(digest)
        if artifact is None:
            return None
        try:
            return wasmtime.Module.deserialize(self._engine, artifact)
        except wasmtime.WasmtimeError as exc:  # verified, yet this wasmtime refuses it
            refuse(self._artifacts.path_for(digest), first_line(exc))
            return None


# -- checks ---------------------------------------------------------------------------------


def check_exports(module: wasmtime.Module, name: str) -> None:
    """The ABI's exports, with the right kinds and signatures, and a known ABI version."""
    exports = {e.name: e.type for e in module.exports}
    prefix = _abi.ABI_MARKER_PREFIX
    versions = [int(n[len(prefix):]) for n in exports
                if n.startswith(prefix) and n[len(prefix):].isdigit()]
    if not versions:
        raise PackValidationError(f"pack {name!r} declares no ABI version (export "
                                  f"'{prefix}1' is missing)", pack=name)
    if not set(versions) & _abi.SUPPORTED_ABI_VERSIONS:
        speaks = ", v".join(map(str, sorted(_abi.SUPPORTED_ABI_VERSIONS)))
        raise PackValidationError(f"pack {name!r} was built for ABI v{max(versions)}; this host "
                                  f"speaks v{speaks}", pack=name)
    if not isinstance(exports.get(_abi.EXPORT_MEMORY), wasmtime.MemoryType):
        raise PackValidationError(f"pack {name!r} must export its memory as 'memory'", pack=name)
    for export, params, results in ((_abi.EXPORT_ALLOC, ("i32",), ("i32",)),
                                    (_abi.EXPORT_CALL, ("i32", "i32"), ("i64",))):
        ftype = exports.get(export)
        if not isinstance(ftype, wasmtime.FuncType) or _signature(ftype) != (params, results):
            raise PackValidationError(
                f"pack {name!r} must export function {export}({', '.join(params)}) -> "
                f"{', '.join(results)}", pack=name, export=export)


def check_imports(module: wasmtime.Module, name: str, *, wasi: bool) -> None:
    """Refuse any import the ABI does not define, before anything runs."""
    for imp in module.imports:
        where = f"{imp.module}.{imp.name}"
        if imp.module == _abi.IMPORT_MODULE and imp.name in _abi.HOST_IMPORTS:
            expected = _abi.HOST_IMPORTS[imp.name]
            if not isinstance(imp.type, wasmtime.FuncType) or _signature(imp.type) != expected:
                raise PackValidationError(
                    f"pack {name!r} imports {where} with the wrong signature; ABI v1 defines "
                    f"({', '.join(expected[0])}) -> ({', '.join(expected[1])})",
                    pack=name, import_name=where)
            continue
        if imp.module == wasi_subset.MODULE:
            _check_wasi_import(imp, name, wasi=wasi)
            continue
        raise PackValidationError(f"pack {name!r} imports {where}, which the Corral ABI does not "
                                  "define", pack=name, import_name=where)


def _check_wasi_import(imp: wasmtime.ImportType, name: str, *, wasi: bool) -> None:
    where = f"{imp.module}.{imp.name}"
    if not wasi:
        raise PackValidationError(f"pack {name!r} imports {where}, but its manifest does not "
                                  "set pack.wasi (the Corral ABI defines no WASI otherwise)",
                                  pack=name, import_name=where)
    expected = wasi_subset.SIGNATURES.get(imp.name or "")
    if expected is None:
        offered = ", ".join(sorted(wasi_subset.SIGNATURES))
        raise PackValidationError(f"pack {name!r} imports {where}, which is outside the WASI "
                                  f"subset this host offers ({offered})",
                                  pack=name, import_name=where)
    if not isinstance(imp.type, wasmtime.FuncType) or _signature(imp.type) != expected:
        raise PackValidationError(
            f"pack {name!r} imports {where} with the wrong signature; WASI defines "
            f"({', '.join(expected[0])}) -> ({', '.join(expected[1])})",
            pack=name, import_name=where)


def _signature(ftype: wasmtime.FuncType) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return (tuple(str(p) for p in ftype.params), tuple(str(r) for r in ftype.results))


def _invalid_module(name: str, exc: wasmtime.WasmtimeError) -> PackValidationError:
    text = first_line(exc)
    if "table does not fit in pooling allocator" in text:
        return PackValidationError(f"pack {name!r} declares a table larger than the limit of "
                                   f"{TABLE_ELEMENTS} elements", pack=name,
                                   limit="table_elements", value=TABLE_ELEMENTS)
    if "memory does not fit in pooling allocator" in text:
        return PackValidationError(f"pack {name!r} declares more memory than the limit of "
                                   f"{MAX_MEMORY_BYTES} bytes", pack=name, limit="memory_bytes",
                                   value=MAX_MEMORY_BYTES)
    return PackValidationError(f"pack {name!r} is not a valid wasm module: {text}", pack=name)


def first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
