"""The native helper of the hot path: its C source, how it is built, checked and loaded.

``fastcall.c`` is compiled on first use with ``python -m ziglang cc`` into a cache
directory (``CORRAL_NATIVE_DIR``, else ``~/.cache/corral/native``), named by a digest of
the source, and loaded with ctypes. It links against nothing: the wasmtime C functions it
calls are handed over as pointers taken from the library wasmtime-py already loaded, so it
always matches the installed wasmtime. :func:`load` returns None and
:func:`unavailable_reason` says why when wasmtime-py lacks the internals this needs, the
helper's struct layout is not the one its ctypes mirrors expect, or the build fails;
callers then use wasmtime-py's public API.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import subprocess
import sys
import tempfile
import threading
from ctypes import POINTER, Structure, byref, c_char_p, c_int32, c_int64, c_uint64, c_void_p
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import wasmtime

ffi: Any
try:
    from wasmtime import _ffi as ffi
except ImportError:  # a wasmtime-py without its ctypes bindings module
    ffi = None

SOURCE = Path(__file__).with_name("fastcall.c")
_BUILD_TIMEOUT_S = 120

#: The wasmtime C functions the helper calls, in the order of ``corral_api``'s fields.
_API_FUNCTIONS = ("store_new", "store_context", "store_delete", "context_set_fuel",
                  "context_get_fuel", "context_set_epoch_deadline", "store_limiter",
                  "instance_pre_instantiate", "instance_export_get", "func_call_unchecked",
                  "memory_data", "memory_data_size", "error_delete", "caller_export_get",
                  "caller_context")
#: The C functions the ticker and the host imports take from wasmtime's library.
_OTHER_SYMBOLS = ("wasmtime_engine_clone", "wasm_engine_delete",
                  "wasmtime_engine_increment_epoch", "wasmtime_linker_define_func_unchecked")

#: The private parts of wasmtime-py this module and ``fastcall.py`` use, by owner.
_PRIVATE: dict[str, tuple[str, ...]] = {
    "wasmtime._ffi": ("dll", "wasmtime_extern_t", "wasmtime_instance_t", "wasmtime_val_raw_t",
                      "wasmtime_error_t", "wasm_trap_t", "wasmtime_trap_new"),
    "wasmtime._func": ("maybe_raise_last_exn",),
    "wasmtime.Trap": ("_from_ptr",),
    "wasmtime.WasmtimeError": ("_from_ptr",),
    "wasmtime.Engine": ("ptr",),
    "wasmtime.InstancePre": ("ptr",),
    "wasmtime.Linker": ("ptr",),
    "wasmtime.FuncType": ("ptr",),
}
_POOLING_FUNCTIONS = tuple(f"wasmtime_pooling_allocation_{name}" for name in (
    "config_new", "config_delete", "strategy_set", "config_total_core_instances_set",
    "config_total_memories_set", "config_total_tables_set", "config_total_stacks_set",
    "config_max_memory_size_set", "config_table_elements_set",
    "config_linear_memory_keep_resident_set", "config_table_keep_resident_set"))


def _owners() -> dict[str, object]:
    owners: dict[str, object] = {"wasmtime.Trap": wasmtime.Trap,
                                 "wasmtime.WasmtimeError": wasmtime.WasmtimeError,
                                 "wasmtime.Engine": wasmtime.Engine,
                                 "wasmtime.InstancePre": wasmtime.InstancePre,
                                 "wasmtime.Linker": wasmtime.Linker,
                                 "wasmtime.FuncType": wasmtime.FuncType}
    if ffi is not None:
        owners["wasmtime._ffi"] = ffi
    try:
        from wasmtime import _func

        owners["wasmtime._func"] = _func
    except ImportError:  # older wasmtime-py: the internals it names are checked elsewhere
        pass
    return owners


def missing_internals() -> list[str]:
    """The private wasmtime-py attributes the native path needs that are not there."""
    owners = _owners()
    return [f"{owner}.{name}" for owner, names in _PRIVATE.items() for name in names
            if not hasattr(owners.get(owner), name)]


def pooling_available() -> bool:
    """Whether wasmtime-py exposes what configuring the pooling allocator takes."""
    return (ffi is not None and hasattr(wasmtime.Config, "ptr")
            and all(hasattr(ffi, name) for name in _POOLING_FUNCTIONS))


#: Checked at import only to decide how ``fastcall.py`` declares its ctypes types;
#: :func:`load` checks again.
INTERNALS = not missing_internals()


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


class _LayoutEntry(Structure):
    _fields_ = [("name", c_char_p), ("value", c_uint64)]


@dataclass
class Native:
    function: Any
    api: Api
    api_ref: Any
    ticker_start: Any
    ticker_stop: Any
    guest_memory: Any
    guest_write: Any


class Unavailable(Exception):
    """Why the helper cannot be used (the message is the reason)."""


#: The helper once loaded, or why it could not be; None until first asked.
_loaded: Native | str | None = None
_native_lock = threading.Lock()
_fork_hooks: set[str] = set()


def load() -> Native | None:
    """The loaded helper, built on first use (once per process); None if unavailable."""
    global _loaded
    if _loaded is None:
        with _native_lock:
            if _loaded is None:
                try:
                    _loaded = _build_and_load()
                except Unavailable as exc:
                    _loaded = str(exc)
    return _loaded if isinstance(_loaded, Native) else None


def unavailable_reason() -> str | None:
    """Why the helper cannot be used (trying to load it first), or None if it can."""
    load()
    return _loaded if isinstance(_loaded, str) else None


def native_dir() -> Path:
    """Where the built helper is kept (``CORRAL_NATIVE_DIR``, else the user's cache)."""
    env = os.environ.get("CORRAL_NATIVE_DIR")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "corral" / "native"


def _build_and_load() -> Native:
    missing = missing_internals()
    if missing:
        raise Unavailable(f"wasmtime-py lacks {', '.join(missing)}")
    library = _open_library()
    problems = _layout_problems(library)
    if problems:
        raise Unavailable("the helper's struct layout is not what Python expects: "
                          + "; ".join(problems))
    try:
        api = Api(*(symbol_address(f"wasmtime_{name}") for name in _API_FUNCTIONS),
                  ffi.wasmtime_extern_t.of.offset)
        for symbol in _OTHER_SYMBOLS:
            symbol_address(symbol)
    except AttributeError as exc:
        raise Unavailable(f"wasmtime's library lacks a function the helper needs: {exc}") from exc
    _keep_reaper_across_forks(library)
    return Native(_signature(library.corral_fast_call, (POINTER(Api), POINTER(CallIn),
                                                        POINTER(CallOut)), c_int32),
                  api, byref(api),
                  _signature(library.corral_ticker_start,
                             (c_void_p, c_void_p, c_void_p, c_void_p, c_uint64), c_void_p),
                  _signature(library.corral_ticker_stop, (c_void_p,), None),
                  _signature(library.corral_guest_memory, (POINTER(Api), c_void_p,
                                                           POINTER(c_void_p), POINTER(c_uint64)),
                             c_int32),
                  _signature(library.corral_guest_write,
                             (POINTER(Api), c_void_p, c_char_p, c_uint64, POINTER(c_uint64),
                              POINTER(c_uint64), POINTER(c_void_p), POINTER(c_void_p)), c_int32))


def _open_library() -> ctypes.CDLL:
    try:
        return ctypes.CDLL(str(_built_library()))
    except subprocess.CalledProcessError as exc:
        output = (exc.stderr or b"").decode("utf-8", "replace").strip()[-1000:]
        raise Unavailable(f"building it failed: {output or exc}") from exc
    except (OSError, subprocess.SubprocessError) as exc:
        raise Unavailable(str(exc)) from exc


def _signature(function: Any, argtypes: tuple[Any, ...], restype: Any) -> Any:
    function.argtypes, function.restype = argtypes, restype
    return function


def _keep_reaper_across_forks(library: ctypes.CDLL) -> None:
    """The helper's reaper thread does not survive a fork: the child must not wait for it."""
    if library._name in _fork_hooks:  # registering twice would lock its mutex twice
        return
    _fork_hooks.add(library._name)
    hooks = [library.corral_before_fork, library.corral_after_fork_in_parent,
             library.corral_after_fork_in_child]
    for hook in hooks:
        hook.argtypes, hook.restype = (), None
    os.register_at_fork(before=hooks[0], after_in_parent=hooks[1], after_in_child=hooks[2])


# -- layout --------------------------------------------------------------------------------


def reported_layout(library: ctypes.CDLL) -> dict[str, int]:
    """Sizes and field offsets as the compiled helper sees them (``corral_layout``)."""
    function = _signature(library.corral_layout, (POINTER(c_uint64),), POINTER(_LayoutEntry))
    count = c_uint64()
    entries = function(byref(count))
    return {entries[i].name.decode(): int(entries[i].value) for i in range(count.value)}


def expected_layout() -> dict[str, int]:
    """Sizes and field offsets of the ctypes mirrors, named as ``corral_layout`` names them."""
    layout = {"raw_val.size": ctypes.sizeof(ffi.wasmtime_val_raw_t)}
    for prefix, struct in (("api", Api), ("call_in", CallIn), ("call_out", CallOut)):
        layout[f"{prefix}.size"] = ctypes.sizeof(struct)
        for name, *_ in struct._fields_:
            layout[f"{prefix}.{name}"] = getattr(struct, name).offset
    return layout


def layout_mismatches(reported: Mapping[str, int], expected: Mapping[str, int]) -> list[str]:
    """Every size or offset on which the helper and Python disagree, named."""
    problems = []
    for key in sorted(set(reported) | set(expected)):
        if key not in reported:
            problems.append(f"the helper reports no {key}")
        elif key not in expected:
            problems.append(f"Python expects no {key}")
        elif reported[key] != expected[key]:
            problems.append(f"{key} is {reported[key]} in C but {expected[key]} in Python")
    return problems


def opaque_overflows(opaque_bytes: int) -> list[str]:
    """wasmtime-py structs that would not fit the helper's scratch space for them."""
    sizes = {"wasmtime_instance_t": ctypes.sizeof(ffi.wasmtime_instance_t),
             "wasmtime_extern_t": ctypes.sizeof(ffi.wasmtime_extern_t)}
    return [f"{name} is {size} bytes, over the helper's {opaque_bytes}"
            for name, size in sizes.items() if size > opaque_bytes]


def _layout_problems(library: ctypes.CDLL) -> list[str]:
    try:
        reported = reported_layout(library)
    except AttributeError:
        return ["the helper reports no layout"]
    opaque = reported.pop("opaque_bytes", 0)
    return opaque_overflows(opaque) + layout_mismatches(reported, expected_layout())


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
