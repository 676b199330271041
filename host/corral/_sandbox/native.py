"""The native helper of the hot path: its C source, how it is built, cached and loaded.

``_fastcall.c`` is compiled on first use with ``python -m ziglang cc`` into a cache
directory (``CORRAL_NATIVE_DIR``, else ``~/.cache/corral/native``), named by a digest of
the source, and loaded with ctypes. It links against nothing: the wasmtime C functions it
calls are handed over as pointers taken from the library wasmtime-py already loaded, so it
always matches the installed wasmtime. :func:`load` returns None (and logs why) when
wasmtime-py lacks the internals this needs, its struct layout is not the expected one, or
the build fails; callers then use wasmtime-py's public API.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import threading
from ctypes import POINTER, Structure, byref, c_char_p, c_int32, c_int64, c_uint64, c_void_p
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import wasmtime

log = logging.getLogger("corral.fastcall")

try:
    from wasmtime import _ffi as ffi

    INTERNALS = (hasattr(ffi, "dll") and hasattr(ffi, "wasmtime_extern_t")
                 and hasattr(ffi, "wasmtime_pooling_allocation_strategy_set")
                 and hasattr(wasmtime.Trap, "_from_ptr")
                 and hasattr(wasmtime.WasmtimeError, "_from_ptr"))
except ImportError:  # a wasmtime-py without these internals
    INTERNALS = False

SOURCE = Path(__file__).with_name("fastcall.c")
#: The scratch space _fastcall.c gives each opaque wasmtime struct.
_OPAQUE_BYTES = 64
_BUILD_TIMEOUT_S = 120

#: The wasmtime C functions the helper calls, in the order of ``corral_api``'s fields.
_API_FUNCTIONS = ("store_new", "store_context", "store_delete", "context_set_fuel",
                  "context_get_fuel", "context_set_epoch_deadline", "store_limiter",
                  "instance_pre_instantiate", "instance_export_get", "func_call_unchecked",
                  "memory_data", "memory_data_size", "error_delete", "caller_export_get",
                  "caller_context")


class Api(Structure):
    _fields_ = [*((name, c_void_p) for name in _API_FUNCTIONS),
                ("extern_union_offset", c_uint64)]


class CallIn(Structure):
    _fields_ = [("engine", c_void_p), ("instance_pre", c_void_p), ("fuel", c_uint64),
                ("epoch_ticks", c_uint64), ("memory_bytes", c_int64),
                ("table_elements", c_int64), ("request", c_char_p), ("request_len", c_uint64),
                ("out", c_void_p), ("out_cap", c_uint64)]


class CallOut(Structure):
    """What one native call reports; ``status`` is one of the ``ST_`` constants."""

    _fields_ = [("status", c_int32), ("reserved", c_int32), ("alloc_ptr", c_uint64),
                ("out_ptr", c_uint64), ("out_len", c_uint64), ("memory_size", c_uint64),
                ("fuel_left", c_uint64), ("error", c_void_p), ("trap", c_void_p)]


@dataclass
class Native:
    function: Any
    api: Api
    api_ref: Any
    ticker_start: Any
    ticker_stop: Any
    guest_memory: Any
    guest_write: Any


_native: Native | None = None
_native_tried = False
_native_lock = threading.Lock()


def load() -> Native | None:
    """The loaded helper, built on first use (once per process); None if unavailable."""
    global _native, _native_tried
    if _native_tried:
        return _native
    with _native_lock:
        if not _native_tried:
            _native = _build_and_load() if INTERNALS else None
            _native_tried = True
    return _native


def native_dir() -> Path:
    """Where the built helper is kept (``CORRAL_NATIVE_DIR``, else the user's cache)."""
    env = os.environ.get("CORRAL_NATIVE_DIR")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "corral" / "native"


def _build_and_load() -> Native | None:
    if not _layout_fits():
        log.warning("wasmtime-py's struct layout is not what the native call path expects; "
                    "using the public API")
        return None
    try:
        library = ctypes.CDLL(str(_built_library()))
    except subprocess.CalledProcessError as exc:
        output = (exc.stderr or b"").decode("utf-8", "replace").strip()[-1000:]
        log.warning("the native call path is unavailable (building it failed: %s); using the "
                    "public API", output or exc)
        return None
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("the native call path is unavailable (%s); using the public API", exc)
        return None
    function = library.corral_fast_call
    function.argtypes = (POINTER(Api), POINTER(CallIn), POINTER(CallOut))
    function.restype = c_int32
    api = Api(*(symbol_address(f"wasmtime_{name}") for name in _API_FUNCTIONS),
               ffi.wasmtime_extern_t.of.offset)
    ticker_start = library.corral_ticker_start
    ticker_start.argtypes = (c_void_p, c_void_p, c_void_p, c_void_p, c_uint64)
    ticker_start.restype = c_void_p
    ticker_stop = library.corral_ticker_stop
    ticker_stop.argtypes = (c_void_p,)
    ticker_stop.restype = None
    guest_memory = library.corral_guest_memory
    guest_memory.argtypes = (POINTER(Api), c_void_p, POINTER(c_void_p), POINTER(c_uint64))
    guest_memory.restype = c_int32
    guest_write = library.corral_guest_write
    guest_write.argtypes = (POINTER(Api), c_void_p, c_char_p, c_uint64, POINTER(c_uint64),
                            POINTER(c_uint64), POINTER(c_void_p), POINTER(c_void_p))
    guest_write.restype = c_int32
    _keep_reaper_across_forks(library)
    return Native(function, api, byref(api), ticker_start, ticker_stop, guest_memory,
                   guest_write)


def _keep_reaper_across_forks(library: ctypes.CDLL) -> None:
    """The helper's reaper thread does not survive a fork: the child must not wait for it."""
    hooks = [library.corral_before_fork, library.corral_after_fork_in_parent,
             library.corral_after_fork_in_child]
    for hook in hooks:
        hook.argtypes, hook.restype = (), None
    os.register_at_fork(before=hooks[0], after_in_parent=hooks[1], after_in_child=hooks[2])


def _layout_fits() -> bool:
    sizes = (ctypes.sizeof(ffi.wasmtime_instance_t), ctypes.sizeof(ffi.wasmtime_extern_t))
    return all(size <= _OPAQUE_BYTES for size in sizes) and ctypes.sizeof(
        ffi.wasmtime_val_raw_t) == 16


def symbol_address(symbol: str) -> int:
    """Where a function of wasmtime's C API is, in the library wasmtime-py loaded."""
    return ctypes.cast(ffi.dll[symbol], c_void_p).value or 0


def _built_library() -> Path:
    """The helper for this source and platform, compiled if not already cached."""
    source = SOURCE.read_bytes()
    tag = hashlib.sha256(source + sys.platform.encode()).hexdigest()[:16]
    directory = native_dir()
    target = directory / f"corral-fastcall-{tag}.so"
    if target.is_file():
        return target
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory) as scratch:
        built = Path(scratch) / target.name
        env = dict(os.environ)
        env.setdefault("ZIG_GLOBAL_CACHE_DIR", str(directory / "zig-cache"))
        subprocess.run([sys.executable, "-m", "ziglang", "cc", "-shared", "-fPIC", "-O2",
                        "-nostdlib", "-o", str(built), str(SOURCE)],
                       check=True, capture_output=True, env=env, timeout=_BUILD_TIMEOUT_S)
        os.replace(built, target)  # atomic: a concurrent builder writes the same bytes
    return target
