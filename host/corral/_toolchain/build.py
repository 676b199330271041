"""``corral build``: compile a pack's source with its guest toolchain and embed the manifest.

Zig and C go through the ``ziglang`` package (``python -m ziglang``), AssemblyScript
through ``asc`` from npm (:mod:`.sdk` says where the SDKs and ``asc`` are found). Builds are
cached: the output is rebuilt only when the sources, the SDK, the manifest or the toolchain
change.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .._errors import BuildError, ManifestError
from .._pack.manifest import Manifest
from .._pack.parse import load_manifest_file
from .._pack.wasm import MANIFEST_SECTION, set_custom_section
from .js_build import build_js, js_entry
from .sdk import assemblyscript_compiler, sdk_dir
from .sdk import repo_root as repo_root  # the benchmarks and tests import it from here
from .tools import run_tool as _run
from .tools import toolchain_version as _toolchain_version

LANGUAGES = ("zig", "c", "assemblyscript")
_SOURCE_SUFFIXES = {"zig": (".zig",), "c": (".c", ".h"), "assemblyscript": (".ts", ".json")}
_DEFAULT_SOURCE = {"zig": "src/main.zig", "c": "src/main.c", "assemblyscript": "assembly/index.ts"}
#: The keys of ``build = { ... }`` in ``[pack]``, as docs/reference.md lists them.
BUILD_KEYS = {
    "language": "zig, c or assemblyscript; unset: the language whose default source exists.",
    "source": "The entry source file, relative to the pack directory (default: "
              + ", ".join(f"{path} for {lang}" for lang, path in _DEFAULT_SOURCE.items()) + ").",
}
#: The guest's shadow stack. Small, so a call touches few pages (each page fault costs more
#: than zeroing a kept page); deep recursion is still caught by wasmtime's native stack.
GUEST_STACK_BYTES = 256 * 1024


@dataclass(frozen=True)
class BuildResult:
    path: Path
    manifest: Manifest
    cached: bool
    #: Coda features a JavaScript pack declares that Corral only approximates.
    warnings: tuple[str, ...] = ()


def build_pack(pack_dir: str | os.PathLike[str], output: str | os.PathLike[str] | None = None,
               *, optimize: str = "ReleaseSmall", force: bool = False) -> BuildResult:
    """Build ``pack_dir`` (holding ``pack.toml``, or a Coda ``pack.ts``/``pack.js``, or that
    file itself) into one self-describing ``.wasm``."""
    entry = js_entry(pack_dir)
    if entry is not None:
        path, js_manifest, cached, warnings = build_js(
            entry, Path(output) if output else None, force=force)
        return BuildResult(path, js_manifest, cached, warnings)
    directory = Path(pack_dir).resolve()
    manifest = load_manifest_file(directory / "pack.toml")
    language = _language(manifest, directory)
    source = directory / str(manifest.build.get("source", _DEFAULT_SOURCE[language]))
    if not source.is_file():
        raise BuildError(f"{directory / 'pack.toml'}: source file {source} does not exist",
                         source=str(source))
    out = Path(output).resolve() if output else directory / "build" / f"{manifest.name}.wasm"
    digest = _input_digest(directory, source.parent, language, manifest, optimize)
    stamp = out.with_suffix(out.suffix + ".digest")
    if not force and _is_built(out, stamp, digest):
        return BuildResult(out, manifest, cached=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    with _building(out):  # several processes (nodes, workers) may build one pack at once
        if not force and _is_built(out, stamp, digest):
            return BuildResult(out, manifest, cached=True)
        raw = out.with_suffix(".raw.wasm")
        _COMPILERS[language](source, raw, directory, optimize)
        wasm = set_custom_section(raw.read_bytes(), MANIFEST_SECTION, manifest.to_json())
        raw.unlink()
        _write_atomically(out, wasm)
        _write_atomically(stamp, digest.encode())
    return BuildResult(out, manifest, cached=False)


def _is_built(out: Path, stamp: Path, digest: str) -> bool:
    return out.is_file() and stamp.is_file() and stamp.read_text() == digest


@contextmanager
def _building(out: Path) -> Iterator[None]:
    """An exclusive lock on ``out``'s build, held across processes (flock)."""
    with open(out.with_suffix(".lock"), "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _write_atomically(path: Path, data: bytes) -> None:
    """``data`` at ``path``, so a reader sees the old file or the new one, never a part."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_bytes(data)
    os.replace(partial, path)


def _language(manifest: Manifest, directory: Path) -> str:
    language = manifest.build.get("language")
    if language is None:
        for candidate, default in _DEFAULT_SOURCE.items():
            if (directory / default).is_file():
                return candidate
        raise ManifestError("cannot tell the pack's language; set pack.build.language",
                            field="pack.build.language", rule="required",
                            source=str(directory / "pack.toml"))
    if language not in LANGUAGES:
        raise ManifestError(f"{language!r} is not one of {', '.join(LANGUAGES)}",
                            field="pack.build.language", rule="enum",
                            source=str(directory / "pack.toml"))
    return str(language)


def _input_digest(directory: Path, source_dir: Path, language: str, manifest: Manifest,
                  optimize: str) -> str:
    h = hashlib.sha256()
    h.update(f"{language}|{optimize}|{_toolchain_version(language)}".encode())
    h.update(manifest.to_json())
    h.update(Path(__file__).read_bytes())  # compiler flags live here
    roots = [directory, source_dir, sdk_dir() / language]
    for root in roots:
        for path in sorted(root.rglob("*")):
            if (path.is_file() and path.suffix in _SOURCE_SUFFIXES[language]
                    and "build" not in path.relative_to(root).parts
                    and "node_modules" not in path.parts):
                h.update(str(path.relative_to(root)).encode())
                h.update(path.read_bytes())
    return h.hexdigest()


def _zig_flags(optimize: str) -> list[str]:
    return ["-target", "wasm32-freestanding", "-fsingle-threaded", "-O", optimize]


def _compile_zig(source: Path, out: Path, directory: Path, optimize: str) -> None:
    flags = _zig_flags(optimize)
    command = [sys.executable, "-m", "ziglang", "build-exe", *flags, "-fno-entry", "-rdynamic",
               "--stack", str(GUEST_STACK_BYTES),
               f"-femit-bin={out}", "--name", "pack", "--dep", "corral",
               f"-Mroot={source}", *flags, f"-Mcorral={sdk_dir() / 'zig' / 'corral.zig'}"]
    _run(command, cwd=directory, what=f"zig build of {source.name}")


def _compile_c(source: Path, out: Path, directory: Path, optimize: str) -> None:
    level = "-Os" if optimize == "ReleaseSmall" else "-O2"
    sources = sorted(str(p) for p in source.parent.glob("*.c"))
    command = [sys.executable, "-m", "ziglang", "cc", "--target=wasm32-wasi", "-mexec-model=reactor",
               level, "-std=c11", "-Wall", "-Werror=implicit-function-declaration",
               f"-I{sdk_dir() / 'c'}", "-Wl,--export-dynamic", f"-Wl,-z,stack-size={GUEST_STACK_BYTES}", "-o", str(out), *sources]
    _run(command, cwd=directory, what=f"C build of {source.name}")


def _compile_assemblyscript(source: Path, out: Path, directory: Path, optimize: str) -> None:
    sdk = sdk_dir() / "assemblyscript"
    asc = assemblyscript_compiler()
    # `--path` makes `import ... from "corral"` resolve to assembly/corral/index.ts; `abort`
    # is routed to the SDK (log + trap) so the module imports nothing but corral.*. The
    # stub runtime never collects: each call runs in a fresh instance that is then dropped,
    # and a garbage collector only costs fuel (about twice as much on allocation-heavy calls).
    command = [str(asc), str(source), "--outFile", str(out), "--path", str(sdk / "assembly"),
               "--use", "abort=~lib/corral/abort/corralAbort", "--runtime", "stub",
               "--noColors", *_asc_flags(optimize)]
    _run(command, cwd=directory, what=f"AssemblyScript build of {source.name}")


def _asc_flags(optimize: str) -> list[str]:
    if optimize == "Debug":
        return ["--debug"]
    shrink = "2" if optimize == "ReleaseSmall" else "0"
    return ["--optimizeLevel", "3", "--shrinkLevel", shrink]


_COMPILERS = {"zig": _compile_zig, "c": _compile_c, "assemblyscript": _compile_assemblyscript}
