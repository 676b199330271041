"""The JavaScript engine: QuickJS-NG and the Corral bridge, compiled once to wasm32.

QuickJS-NG's C sources come from the ``quickjs-ng`` sdist on PyPI, fetched with
``pip download`` at build time and checked against the sha256 pinned here. They are
compiled with the same ``ziglang`` toolchain as C packs, with the bridge
(``guest-sdk/js/engine/bridge.c``) against the C guest SDK. The engine is cached under the
build directory by a digest of everything that goes into it; a pack is the engine
snapshotted with its bundle (:mod:`.js_snapshot`), so packs never recompile it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .._errors import BuildError
from .sdk import _locked, checkout_root, sdk_dir, user_cache_dir, zig_cache_dir

QUICKJS_NG_VERSION = "0.17.0.2"
#: sha256 of ``quickjs_ng-0.17.0.2.tar.gz`` as PyPI serves it.
QUICKJS_NG_SHA256 = "43d2e48272208721a7aaea8e3f02d4b9318f12ef20cc4f5421b59d9a470706ef"
_QUICKJS_SOURCES = ("quickjs.c", "libregexp.c", "libunicode.c", "dtoa.c")
#: Speed over size for the interpreter loop; no debug info, no dumps, no assertions.
_CFLAGS = ("-O2", "-g0", "-std=gnu11", "-D_GNU_SOURCE", "-DNDEBUG")
#: The engine's C shadow stack, first in memory: the bundle slot (CORRAL_JS_SLOT_BYTES in
#: bridge.c, 2 MiB) at its bottom, read only while the snapshot is made, and 1 MiB of stack
#: above it. QuickJS's own limit (CORRAL_JS_STACK_BYTES, 896 KiB) is below that, so deep JS
#: recursion ends as a RangeError first; overflowing the stack anyway runs into the zeroed
#: slot and then below address 0, an out-of-bounds trap.
ENGINE_STACK_BYTES = 3 * 1024 * 1024
#: QuickJS keeps a copy of every function's source text for Function.prototype.toString,
#: and an inner function's text is also inside each enclosing one's: for the hello_world
#: sample (a 0.56 MB bundle) that is 1.5 MB of the snapshot's 3.6 MB heap, carried in
#: every precompiled pack and in the memory every call resets. The engine is built without
#: it (the parser's two saves are patched out): toString of a function returns
#: ``function name() { [native code] }``, as for built-ins. Class constructors keep their
#: text, which libraries read to tell a class from a function.
_SOURCE_SAVE = re.compile(r"fd->source = js_strndup\(ctx, \(const char \*\)ptr, "
                          r"fd->source_len\);\s*if \(!fd->source\)\s*goto fail;")
_SOURCE_SAVES = 2
PIP_TIMEOUT_S = 300
#: quickjs.c alone takes a minute or two on a busy 2-core machine.
COMPILE_TIMEOUT_S = 1200


@dataclass(frozen=True)
class Engine:
    """A compiled engine and where its bundle slot lies in its memory."""

    path: Path
    digest: str
    slot_address: int
    slot_bytes: int


def default_cache_dir() -> Path:
    """``build/js-engine`` in a checkout, else the user's cache."""
    root = checkout_root()
    return root / "build" / "js-engine" if root is not None else user_cache_dir() / "js-engine"


def engine_sources() -> list[Path]:
    """The Corral files compiled into the engine (the bridge, its MessagePack decoder, its
    libc shim, the C SDK)."""
    engine_dir = sdk_dir() / "js" / "engine"
    return [engine_dir / "bridge.c", engine_dir / "msgpack.h", engine_dir / "libc_shim.h",
            sdk_dir() / "c" / "corral.h"]


def engine_digest() -> str:
    h = hashlib.sha256()
    h.update(f"{QUICKJS_NG_VERSION}|{QUICKJS_NG_SHA256}|{_CFLAGS}|{ENGINE_STACK_BYTES}|"
             f"{_toolchain_version('c')}".encode())
    h.update(Path(__file__).read_bytes())
    for path in engine_sources():
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _toolchain_version(_language: str = "c") -> str:
    try:
        from importlib.metadata import version

        return "ziglang-" + version("ziglang")
    except Exception:  # an unusual install: the digest still changes with the sources
        return "ziglang-unknown"


def _run(command: list[str], *, cwd: Path, what: str) -> None:
    env = dict(os.environ)
    env.setdefault("ZIG_GLOBAL_CACHE_DIR", str(zig_cache_dir()))
    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True,
                              timeout=COMPILE_TIMEOUT_S, env=env, check=False)
    except subprocess.TimeoutExpired as exc:
        raise BuildError(f"{what}: the compiler ran longer than {COMPILE_TIMEOUT_S} s") from exc
    if done.returncode != 0:
        output = (done.stderr or done.stdout).strip()
        raise BuildError(f"{what} failed:\n{output[-4000:]}", exit_code=done.returncode)


def _objects_digest() -> str:
    """What QuickJS's own object files depend on (not the bridge: editing it relinks only)."""
    shim = sdk_dir() / "js" / "engine" / "libc_shim.h"
    return hashlib.sha256(f"{QUICKJS_NG_VERSION}|{QUICKJS_NG_SHA256}|{_CFLAGS}|"
                          f"{_toolchain_version('c')}|{_SOURCE_SAVE.pattern}|".encode()
                          + shim.read_bytes()).hexdigest()


def build_js_engine(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The engine ``.wasm``, compiled on first use (minutes) and cached by input digest."""
    return load_engine(cache_dir).path


def load_engine(cache_dir: str | os.PathLike[str] | None = None) -> Engine:
    root = (Path(cache_dir) if cache_dir is not None else default_cache_dir()).resolve()
    digest = engine_digest()
    out = root / f"engine-{digest[:16]}.wasm"
    info = out.with_suffix(".json")
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root / ".engine.lock"):
        if not (out.is_file() and info.is_file()):
            _compile_engine(root, out)
            address, size = _slot_of(out)
            info.write_text(json.dumps({"slot_address": address, "slot_bytes": size}))
    slot = json.loads(info.read_text())
    return Engine(out, digest, int(slot["slot_address"]), int(slot["slot_bytes"]))


def _compile_engine(root: Path, out: Path) -> None:
    sources = quickjs_sources(root)
    objects = root / "objects" / _objects_digest()[:16]
    objects.mkdir(parents=True, exist_ok=True)
    shim = sdk_dir() / "js" / "engine" / "libc_shim.h"
    cc = [sys.executable, "-m", "ziglang", "cc", "--target=wasm32-wasi"]
    built = []
    for name in _QUICKJS_SOURCES:
        obj = objects / (name + ".o")
        if not obj.is_file():
            partial = obj.with_suffix(".partial")
            _run([*cc, "-c", *_CFLAGS, "-include", str(shim), f"-I{sources}", "-Wno-everything",
                  "-o", str(partial), str(_patched(sources, name, objects))], cwd=sources,
                 what=f"compiling QuickJS-NG's {name}")
            partial.rename(obj)
        built.append(str(obj))
    partial_out = out.with_suffix(".partial")
    _run([*cc, "-mexec-model=reactor", *_CFLAGS, "-s", "-Wall", "-Werror",
          f"-I{sources}", f"-I{sdk_dir() / 'c'}", f"-Wl,-z,stack-size={ENGINE_STACK_BYTES}",
          "-o", str(partial_out), str(sdk_dir() / "js" / "engine" / "bridge.c"), *built],
         cwd=root, what="linking the JavaScript engine")
    partial_out.rename(out)


def _patched(sources: Path, name: str, objects: Path) -> Path:
    """The file to compile for ``name``: quickjs.c without its function-source saves."""
    if name != "quickjs.c":
        return sources / name
    text, count = _SOURCE_SAVE.subn("fd->source = NULL; fd->source_len = 0;",
                                    (sources / name).read_text(encoding="utf-8"))
    if count != _SOURCE_SAVES:
        raise BuildError(f"quickjs.c saves function sources in {count} places, not the "
                         f"{_SOURCE_SAVES} the engine build patches; its parser changed")
    patched = objects / name
    patched.write_text(text, encoding="utf-8")
    return patched


def quickjs_sources(root: Path) -> Path:
    """QuickJS-NG's C sources, from the pinned sdist (downloaded once, sha256 checked)."""
    extracted = root / f"quickjs_ng-{QUICKJS_NG_VERSION}"
    upstream = extracted / "upstream-quickjs"
    if (upstream / "quickjs.c").is_file():
        return upstream
    archive = _download_sdist(root)
    with tarfile.open(archive) as tar:
        tar.extractall(root, filter="data")
    if not (upstream / "quickjs.c").is_file():
        raise BuildError(f"the quickjs-ng {QUICKJS_NG_VERSION} sdist holds no "
                         "upstream-quickjs/quickjs.c; its layout changed")
    return upstream


def _download_sdist(root: Path) -> Path:
    archive = root / f"quickjs_ng-{QUICKJS_NG_VERSION}.tar.gz"
    if not archive.is_file():
        with tempfile.TemporaryDirectory(dir=root) as staging:
            command = [sys.executable, "-m", "pip", "download", "--no-binary", ":all:",
                       "--no-deps", "--disable-pip-version-check",
                       "-d", staging, f"quickjs-ng=={QUICKJS_NG_VERSION}"]
            try:
                done = subprocess.run(command, capture_output=True, text=True,
                                      timeout=PIP_TIMEOUT_S, check=False)
            except subprocess.TimeoutExpired as exc:
                raise BuildError(f"downloading quickjs-ng took longer than {PIP_TIMEOUT_S} s"
                                 ) from exc
            got = Path(staging) / archive.name
            if done.returncode != 0 or not got.is_file():
                output = (done.stderr or done.stdout).strip()[-2000:]
                raise BuildError(f"cannot download the quickjs-ng {QUICKJS_NG_VERSION} sdist "
                                 f"with pip:\n{output}")
            _check_sha256(got)
            got.rename(archive)
    _check_sha256(archive)
    return archive


def _check_sha256(archive: Path) -> None:
    actual = hashlib.sha256(archive.read_bytes()).hexdigest()
    if actual != QUICKJS_NG_SHA256:
        archive.unlink()
        raise BuildError(f"{archive.name} has sha256 {actual}, not the pinned "
                         f"{QUICKJS_NG_SHA256}; refusing to build from it")


def _slot_of(engine: Path) -> tuple[int, int]:
    """Ask the compiled engine where its bundle slot is (no import is called)."""
    from .js_probe import call_i64_export

    packed = call_i64_export(engine.read_bytes(), "corral_js_slot")
    return packed >> 32, packed & 0xFFFFFFFF
