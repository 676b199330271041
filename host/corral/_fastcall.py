"""The per-call hot path, below wasmtime-py's public wrappers.

wasmtime-py's ``Func.__call__`` looks up the function type and converts every value on
each call, and ``Instance.exports`` wraps every export; together they cost far more than
the wasm. A pack's exports are checked once at load (``check_exports``: exact
signatures), so each call here instantiates from the ``InstancePre``, looks up only the
three ABI exports by name, and calls them with ``wasmtime_func_call_unchecked``.

Traps and host-function exceptions are handled exactly as wasmtime-py's ``enter_wasm``
does (a trap becomes ``wasmtime.Trap``; a Python exception raised by a host function is
re-raised unchanged), without its generator overhead. ``available()`` reports whether
the installed wasmtime-py has what this needs; if not, the sandbox uses the public API,
and the tests run both paths.
"""

from __future__ import annotations

import ctypes
from ctypes import byref
from typing import Any

import wasmtime

try:
    from wasmtime import _bindings
    from wasmtime import _ffi as ffi
    from wasmtime._func import maybe_raise_last_exn

    _REQUIRED = ("wasmtime_pooling_allocation_strategy_set", "wasmtime_instance_pre_instantiate",
                 "wasmtime_instance_export_get", "wasmtime_memory_data",
                 "wasmtime_memory_data_size", "wasmtime_val_raw_t", "wasmtime_extern_t",
                 "wasmtime_instance_t", "wasmtime_context_set_fuel",
                 "wasmtime_context_set_epoch_deadline", "wasmtime_store_limiter")
    _AVAILABLE = (all(hasattr(ffi, name) for name in _REQUIRED)
                  and hasattr(_bindings, "_wasmtime_func_call_unchecked")
                  and hasattr(wasmtime.Trap, "_from_ptr"))
except ImportError:  # a wasmtime-py without these internals
    _AVAILABLE = False

_ALLOC = b"corral_alloc"
_CALL = b"corral_call"
_MEMORY = b"memory"


def available() -> bool:
    return _AVAILABLE


def _check(error: Any, trap: Any) -> None:
    """What ``enter_wasm`` does after a call: surface host exceptions, traps, errors."""
    if error:
        maybe_raise_last_exn()
        raise wasmtime.WasmtimeError._from_ptr(error)
    if trap:
        trap_obj = wasmtime.Trap._from_ptr(trap)
        maybe_raise_last_exn()
        raise trap_obj


def prepare_store(store: wasmtime.Store, *, fuel: int, epoch_ticks: int, memory_bytes: int,
                  table_elements: int) -> None:
    """Fuel, epoch deadline and resource limits for one call's store."""
    ctx = store._context()
    error = ffi.wasmtime_context_set_fuel(ctx, fuel)
    if error:
        raise wasmtime.WasmtimeError._from_ptr(error)
    ffi.wasmtime_context_set_epoch_deadline(ctx, epoch_ticks)
    ffi.wasmtime_store_limiter(store.ptr(), memory_bytes, table_elements, 1, 4, 1)


class RawInstance:
    """The three ABI exports of one instance, as raw wasmtime handles."""

    __slots__ = ("ctx", "alloc", "call", "memory", "_args")

    def __init__(self, ctx: Any, alloc: Any, call: Any, memory: Any) -> None:
        self.ctx = ctx
        self.alloc = alloc
        self.call = call
        self.memory = memory
        self._args = (ffi.wasmtime_val_raw_t * 2)()

    def call_alloc(self, size: int) -> int:
        args = self._args
        args[0].i32 = size
        trap = ctypes.POINTER(ffi.wasm_trap_t)()
        _check(_bindings._wasmtime_func_call_unchecked(self.ctx, byref(self.alloc), args, 2,
                                                       byref(trap)), trap)
        return int(args[0].i32) & 0xFFFF_FFFF

    def call_main(self, ptr: int, length: int) -> int:
        args = self._args
        args[0].i32 = ptr
        args[1].i32 = length
        trap = ctypes.POINTER(ffi.wasm_trap_t)()
        _check(_bindings._wasmtime_func_call_unchecked(self.ctx, byref(self.call), args, 2,
                                                       byref(trap)), trap)
        return int(args[0].i64)

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
    trap = ctypes.POINTER(ffi.wasm_trap_t)()
    _check(ffi.wasmtime_instance_pre_instantiate(pre.ptr(), ctx, byref(instance), byref(trap)),
           trap)
    return RawInstance(ctx, _export(ctx, instance, _ALLOC).of.func,
                       _export(ctx, instance, _CALL).of.func,
                       _export(ctx, instance, _MEMORY).of.memory)


def _export(ctx: Any, instance: Any, name: bytes) -> Any:
    item = ffi.wasmtime_extern_t()
    found = ffi.wasmtime_instance_export_get(ctx, byref(instance), name, len(name), byref(item))
    if not found:
        raise wasmtime.WasmtimeError(f"export {name.decode()} is missing")
    return item


def enable_pooling(config: wasmtime.Config, *, instances: int, max_memory_bytes: int,
                   keep_resident: int = 512 * 1024) -> None:
    """Use wasmtime's pooling instance allocator: memory slots are reserved once and reused,
    so a call does not map and unmap its memory. At most ``instances`` live at once; past
    that, instantiation fails (the sandbox reports it as ``Overloaded``)."""
    pool = ffi.wasmtime_pooling_allocation_config_new()
    try:
        for setter in (ffi.wasmtime_pooling_allocation_config_total_core_instances_set,
                       ffi.wasmtime_pooling_allocation_config_total_memories_set,
                       ffi.wasmtime_pooling_allocation_config_total_tables_set,
                       ffi.wasmtime_pooling_allocation_config_total_stacks_set):
            setter(pool, instances)
        ffi.wasmtime_pooling_allocation_config_max_memory_size_set(pool, max_memory_bytes)
        # Zeroing kept pages is cheaper than faulting fresh ones back in on the next call
        # (page faults are expensive under virtualisation).
        ffi.wasmtime_pooling_allocation_config_linear_memory_keep_resident_set(pool, keep_resident)
        ffi.wasmtime_pooling_allocation_config_table_keep_resident_set(pool, 64 * 1024)
        ffi.wasmtime_pooling_allocation_strategy_set(config.ptr(), pool)
    finally:
        ffi.wasmtime_pooling_allocation_config_delete(pool)
