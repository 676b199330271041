"""The per-call hot path, below wasmtime-py's public wrappers.

wasmtime-py's ``Func.__call__`` looks up the function type and converts every value on
each call, and ``Instance.exports`` wraps every export; together they cost far more than
the wasm. A pack's exports are checked once at load (``check_exports``: exact
signatures), so each call here instantiates from the ``InstancePre``, looks up only the
three ABI exports by name, and calls them with ``wasmtime_func_call_unchecked``.

Traps and host-function exceptions are handled exactly as wasmtime-py does: through its
``enter_wasm`` context, which turns a trap into ``wasmtime.Trap`` and re-raises the
original Python exception of a host function. ``available()`` reports whether the
installed wasmtime-py has what this needs; if not, the sandbox uses the public API.
"""

from __future__ import annotations

import ctypes
from ctypes import byref
from typing import Any

import wasmtime

try:
    from wasmtime import _ffi as ffi
    from wasmtime._func import enter_wasm

    _REQUIRED = ("wasmtime_instance_pre_instantiate", "wasmtime_instance_export_get",
                 "wasmtime_func_call_unchecked", "wasmtime_memory_data",
                 "wasmtime_memory_data_size", "wasmtime_val_raw_t", "wasmtime_extern_t",
                 "wasmtime_instance_t")
    _AVAILABLE = all(hasattr(ffi, name) for name in _REQUIRED)
except ImportError:  # a wasmtime-py without these internals
    _AVAILABLE = False

_ALLOC = b"corral_alloc"
_CALL = b"corral_call"
_MEMORY = b"memory"


def available() -> bool:
    return _AVAILABLE


class RawInstance:
    """The three ABI exports of one instance, as raw wasmtime handles."""

    __slots__ = ("store", "ctx", "alloc", "call", "memory")

    def __init__(self, store: wasmtime.Store, ctx: Any, alloc: Any, call: Any,
                 memory: Any) -> None:
        self.store = store
        self.ctx = ctx
        self.alloc = alloc
        self.call = call
        self.memory = memory

    def call_alloc(self, size: int) -> int:
        args = (ffi.wasmtime_val_raw_t * 1)()
        args[0].i32 = size
        self._call_unchecked(self.alloc, args, 1)
        return int(args[0].i32) & 0xFFFF_FFFF

    def call_main(self, ptr: int, length: int) -> int:
        args = (ffi.wasmtime_val_raw_t * 2)()
        args[0].i32 = ptr
        args[1].i32 = length
        self._call_unchecked(self.call, args, 2)
        return int(args[0].i64)

    def _call_unchecked(self, func: Any, args: Any, count: int) -> None:
        with enter_wasm(self.store) as trap:
            error = ffi.wasmtime_func_call_unchecked(self.ctx, byref(func), args, count, trap)
            if error:
                raise wasmtime.WasmtimeError._from_ptr(error)

    def memory_size(self) -> int:
        return int(ffi.wasmtime_memory_data_size(self.ctx, byref(self.memory)))

    def _base(self) -> int:
        data = ffi.wasmtime_memory_data(self.ctx, byref(self.memory))
        return ctypes.cast(data, ctypes.c_void_p).value or 0

    def write(self, ptr: int, data: bytes) -> None:
        """Copy ``data`` to ``ptr``; the caller has bounds-checked the range."""
        ctypes.memmove(self._base() + ptr, data, len(data))

    def read(self, ptr: int, length: int) -> bytes:
        """Copy ``length`` bytes from ``ptr``; the caller has bounds-checked the range."""
        return ctypes.string_at(self._base() + ptr, length)


def instantiate(pre: wasmtime.InstancePre, store: wasmtime.Store) -> RawInstance:
    ctx = store._context()
    instance = ffi.wasmtime_instance_t()
    with enter_wasm(store) as trap:
        error = ffi.wasmtime_instance_pre_instantiate(pre.ptr(), ctx, byref(instance), trap)
        if error:
            raise wasmtime.WasmtimeError._from_ptr(error)
    return RawInstance(store, ctx, _export(ctx, instance, _ALLOC).of.func,
                       _export(ctx, instance, _CALL).of.func,
                       _export(ctx, instance, _MEMORY).of.memory)


def _export(ctx: Any, instance: Any, name: bytes) -> Any:
    item = ffi.wasmtime_extern_t()
    found = ffi.wasmtime_instance_export_get(ctx, byref(instance), name, len(name), byref(item))
    if not found:
        raise wasmtime.WasmtimeError(f"export {name.decode()} is missing")
    return item
