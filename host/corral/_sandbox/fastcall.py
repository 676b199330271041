"""The per-call hot path, below wasmtime-py's public wrappers.

Through wasmtime-py's public API one Corral call crosses from Python into wasmtime about a
dozen times (new Store, fuel, deadline, limits, instantiate, three export lookups, two
``Func.__call__``, memory reads and writes, drop), and each crossing converts values and
checks types in Python. Here the whole sequence is one native function in
``fastcall.c`` (built, checked and loaded by ``native.py``), called once through ctypes. The
same helper runs the epoch ticker and the store reaper as native threads, and gives the
host imports one-crossing access to guest memory.

A pack's exports are checked once at load (exact signatures), which is what makes the
unchecked calls inside it safe. Traps and errors come back as wasmtime-py objects
(``wasmtime.Trap``, ``wasmtime.WasmtimeError``), and an exception raised by a host
function is re-raised unchanged, exactly as wasmtime-py's ``enter_wasm`` does.

``available()`` says whether this path can be used: the installed wasmtime-py has the
internals it needs, the helper built, and its struct layout is the expected one. The
sandbox chooses its call path from that and its ``call_path`` setting (``engine.py``); on
the public path nothing here is used but :func:`enable_pooling`.
"""

from __future__ import annotations

import ctypes
import mmap
import threading
from ctypes import POINTER, byref, c_char_p, c_uint64, c_void_p
from typing import Any, Callable

import wasmtime

from . import native as _native
from .native import INTERNALS, CallIn, CallOut, ffi, symbol_address

maybe_raise_last_exn: Callable[[], None]
if INTERNALS:
    from wasmtime._func import maybe_raise_last_exn

ST_OK, ST_ERROR, ST_TRAP, ST_BAD_ALLOC, ST_TOO_LARGE, ST_BAD_OUTPUT, ST_NO_EXPORT = range(7)


def available() -> bool:
    """Whether calls can take the native path (built on first ask, once per process)."""
    return _native.load() is not None


def pooling_available() -> bool:
    """Whether :func:`enable_pooling` can configure this wasmtime-py."""
    return _native.pooling_available()


def start_ticker(engine: wasmtime.Engine, interval_s: float) -> int | None:
    """Advance ``engine``'s epoch every ``interval_s`` on a native thread (no GIL); the
    handle is for :func:`stop_ticker`. None if the native path is unavailable."""
    native = _native.load()
    if native is None:
        return None
    handle: int | None = native.ticker_start(
        address(engine), symbol_address("wasmtime_engine_clone"),
        symbol_address("wasm_engine_delete"), symbol_address("wasmtime_engine_increment_epoch"),
        max(1, int(interval_s * 1e9)))
    return handle


def stop_ticker(handle: int) -> None:
    """Stop a ticker; it drops its engine reference within one interval."""
    native = _native.load()
    assert native is not None
    native.ticker_stop(handle)


class _Scratch(threading.local):
    """Per-thread argument and result structs and an output buffer, reused across calls."""

    def __init__(self) -> None:
        self.call_in = CallIn()
        self.call_out = CallOut()
        self.in_ref = byref(self.call_in)
        self.out_ref = byref(self.call_out)
        self.capacity = 0
        self.buffer: mmap.mmap | None = None
        self.address = 0

    def ensure_capacity(self, size: int) -> None:
        # Anonymous pages cost nothing until written, so the buffer can be as large as
        # the largest response allowed.
        if size <= self.capacity:
            return
        buffer = mmap.mmap(-1, max(size, 1))
        self.address = ctypes.addressof(ctypes.c_char.from_buffer(buffer))
        self.buffer, self.capacity = buffer, size
        self.call_in.out = self.address


_scratch = _Scratch()


def address(handle: wasmtime.Engine | wasmtime.InstancePre | wasmtime.Linker
            | wasmtime.FuncType) -> int:
    """The C pointer behind a wasmtime-py object, as :func:`call` takes it. The object must
    outlive every call made with the address."""
    return ctypes.cast(handle.ptr(), c_void_p).value or 0


def call(engine: int, instance_pre: int, request: bytes, *, fuel: int, epoch_ticks: int,
         memory_bytes: int, table_elements: int, max_output: int) -> None:
    """Run one ``corral_call`` in a fresh Store (``engine`` and ``instance_pre`` as from
    :func:`address`); its outcome is in :func:`last_out`. Raises what wasmtime-py would
    raise for a trap or an error; ABI breaches are left as a status for the caller to name."""
    native = _native.load()
    assert native is not None, "call() needs available()"
    scratch = _scratch
    scratch.ensure_capacity(max_output)
    call_in = scratch.call_in
    call_in.engine = engine
    call_in.instance_pre = instance_pre
    call_in.fuel = fuel
    call_in.epoch_ticks = epoch_ticks
    call_in.memory_bytes = memory_bytes
    call_in.table_elements = table_elements
    call_in.request = request
    call_in.request_len = len(request)
    call_in.out_cap = max_output
    status = native.function(native.api_ref, scratch.in_ref, scratch.out_ref)
    call_in.request = None  # do not keep the request alive past the call
    out = scratch.call_out
    if status == ST_ERROR:
        error = wasmtime.WasmtimeError._from_ptr(ctypes.cast(out.error,
                                                             POINTER(ffi.wasmtime_error_t)))
        _raise_pending()  # a host function's exception comes back as an error or a trap
        maybe_raise_last_exn()
        raise error
    if status == ST_TRAP:
        trap = wasmtime.Trap._from_ptr(ctypes.cast(out.trap, POINTER(ffi.wasm_trap_t)))
        _raise_pending()
        maybe_raise_last_exn()
        raise trap


def last_out() -> CallOut:
    """This thread's result struct, which each :func:`call` on the thread overwrites."""
    return _scratch.call_out


#: A response longer than this gives its buffer pages back to the OS once copied out, so a
#: thread that once carried a large response does not keep it resident.
_RELEASE_ABOVE = 256 * 1024


def response(out: CallOut) -> bytes:
    """The response bytes of the last successful call on this thread."""
    buffer = _scratch.buffer
    assert buffer is not None
    length = int(out.out_len)
    data = buffer[:length]
    if length > _RELEASE_ABOVE:
        buffer.madvise(mmap.MADV_DONTNEED, 0, length)
    return data


# -- host imports ---------------------------------------------------------------------------

_RawArgs = Any  # ctypes pointer to wasmtime_val_raw_t
_Callback = ctypes.CFUNCTYPE(ctypes.c_size_t, c_void_p, c_void_p,
                             POINTER(ffi.wasmtime_val_raw_t) if INTERNALS else c_void_p,
                             ctypes.c_size_t)
_NO_FINALIZER = ctypes.cast(0, ctypes.CFUNCTYPE(None, c_void_p))
_TRAP_MESSAGE = b"a host function failed"


class _Pending(threading.local):
    """The exception a host function raised on this thread, until the call reports it."""

    error: BaseException | None = None


_pending = _Pending()
#: The callbacks handed to wasmtime, one per host function: they must live as long as any
#: linker that holds them, so they live as long as the process.
_callbacks: dict[tuple[Callable[..., int | None], int, bool], Any] = {}


def define_import(linker: wasmtime.Linker, module: str, name: str, params: int,
                  returns_i64: bool, function: Callable[..., int | None]) -> None:
    """Define a host import taking ``params`` i32 values (and returning an i64 or nothing)
    whose Python ``function(caller, *params)`` gets the raw ``wasmtime_caller_t`` pointer.

    wasmtime-py's ``define_func`` converts every value through its type objects on each
    call; this reads the raw slots. An exception becomes a trap, and the native call
    re-raises it unchanged on its thread (not through wasmtime-py's process-wide slot)."""

    i32, i64 = wasmtime.ValType.i32(), wasmtime.ValType.i64()
    functype = wasmtime.FuncType([i32] * params, [i64] if returns_i64 else [])
    key = (function, params, returns_i64)
    callback = _callbacks.get(key)
    if callback is None:
        callback = _callbacks[key] = _Callback(_trampoline(function, params, returns_i64))
    define = ffi.dll["wasmtime_linker_define_func_unchecked"]
    define.argtypes = (c_void_p, c_char_p, ctypes.c_size_t, c_char_p, ctypes.c_size_t, c_void_p,
                       _Callback, c_void_p, type(_NO_FINALIZER))
    define.restype = c_void_p
    error = define(address(linker), module.encode(), len(module), name.encode(), len(name),
                   address(functype), callback, None, _NO_FINALIZER)
    if error:
        raise wasmtime.WasmtimeError._from_ptr(ctypes.cast(error, POINTER(ffi.wasmtime_error_t)))


def _trampoline(function: Callable[..., int | None], params: int,
                returns_i64: bool) -> Callable[[int, int, _RawArgs, int], int]:
    def trampoline(env: int, caller: int, args: _RawArgs, count: int) -> int:
        try:
            result = function(caller, *(args[i].i32 for i in range(params)))
            if returns_i64:
                args[0].i64 = result
            return 0
        except BaseException as exc:  # re-raised by call(), on this thread
            _pending.error = exc
            trap = ffi.wasmtime_trap_new(_TRAP_MESSAGE, len(_TRAP_MESSAGE))
            return ctypes.cast(trap, c_void_p).value or 0

    return trampoline


def _raise_pending() -> None:
    error, _pending.error = _pending.error, None
    if error is not None:
        raise error


# -- guest memory from host functions ----------------------------------------------------

GUEST_OK, GUEST_NO_MEMORY, GUEST_NO_ALLOC, GUEST_OUT_OF_BOUNDS, GUEST_FAILED = range(5)


class GuestAccess(Exception):
    """What a native guest read or write could not do (``status`` is a ``GUEST_`` code)."""

    def __init__(self, status: int, ptr: int = 0, size: int = 0) -> None:
        super().__init__(status)
        self.status, self.ptr, self.size = status, ptr, size


def guest_read(caller: int, ptr: int, length: int) -> tuple[bytes | None, int]:
    """``length`` bytes at ``ptr`` in the calling instance's memory, or None if that range
    is outside it; and the memory's size."""
    native = _native.load()
    assert native is not None
    base, size = c_void_p(), c_uint64()
    status = native.guest_memory(native.api_ref, caller, byref(base), byref(size))
    if status != GUEST_OK:
        raise GuestAccess(status)
    if ptr < 0 or length < 0 or ptr + length > size.value:
        return None, size.value
    return ctypes.string_at((base.value or 0) + ptr, length), size.value


def guest_write(caller: int, data: bytes) -> int:
    """Copy ``data`` into memory the guest's ``corral_alloc`` gives; return where. A trap
    or error inside ``corral_alloc`` is raised as wasmtime-py would raise it."""
    native = _native.load()
    assert native is not None
    ptr, size, error, trap = c_uint64(), c_uint64(), c_void_p(), c_void_p()
    status = native.guest_write(native.api_ref, caller, data, len(data), byref(ptr),
                                byref(size), byref(error), byref(trap))
    if status == GUEST_FAILED:
        if error.value:
            raise wasmtime.WasmtimeError._from_ptr(
                ctypes.cast(error, POINTER(ffi.wasmtime_error_t)))
        raise wasmtime.Trap._from_ptr(ctypes.cast(trap, POINTER(ffi.wasm_trap_t)))
    if status != GUEST_OK:
        raise GuestAccess(status, ptr.value, size.value)
    return ptr.value


def enable_pooling(config: wasmtime.Config, *, instances: int, max_memory_bytes: int,
                   table_elements: int, keep_resident: int = 512 * 1024) -> None:
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
        ffi.wasmtime_pooling_allocation_config_table_elements_set(pool, table_elements)
        # Zeroing kept pages is cheaper than faulting fresh ones back in on the next call
        # (page faults are expensive under virtualisation).
        ffi.wasmtime_pooling_allocation_config_linear_memory_keep_resident_set(pool, keep_resident)
        ffi.wasmtime_pooling_allocation_config_table_keep_resident_set(pool, 64 * 1024)
        ffi.wasmtime_pooling_allocation_strategy_set(config.ptr(), pool)
    finally:
        ffi.wasmtime_pooling_allocation_config_delete(pool)
