"""The host imports a guest may call (``corral.fetch``, ``corral.log``) and their access
to guest memory.

On the native path the imports are unchecked callbacks that get the raw
``wasmtime_caller_t`` pointer and reach guest memory through the helper; on the public
path they get a ``wasmtime.Caller`` and use wasmtime-py's API. Either way an exception
they raise traps the guest, and the sandbox re-raises it as the original Corral error.
"""

from __future__ import annotations

import wasmtime

from .._errors import AbiViolation, FetchError, FetchLimitExceeded, FetchTooLarge
from .._pack import abi as _abi
from . import fastcall as _fastcall
from . import wasi_subset
from .state import CallState, current, pack_slice

Caller = wasmtime.Caller | int


def make_linker(engine: wasmtime.Engine, *, native: bool) -> wasmtime.Linker:
    """A linker defining the ABI's host imports for the chosen call path."""
    linker = wasmtime.Linker(engine)
    wasi_subset.define(linker)  # only packs with pack.wasi may import it (check_imports)
    if native:
        _fastcall.define_import(linker, _abi.IMPORT_MODULE, "fetch", 2, True, host_fetch)
        _fastcall.define_import(linker, _abi.IMPORT_MODULE, "log", 3, False, host_log)
        return linker
    i32, i64 = wasmtime.ValType.i32(), wasmtime.ValType.i64()
    linker.define_func(_abi.IMPORT_MODULE, "fetch", wasmtime.FuncType([i32, i32], [i64]),
                       host_fetch, access_caller=True)
    linker.define_func(_abi.IMPORT_MODULE, "log", wasmtime.FuncType([i32, i32, i32], []),
                       host_log, access_caller=True)
    return linker


def host_fetch(caller: Caller, ptr: int, length: int) -> int:
    state = current()
    try:
        if length > state.limits.max_input_bytes:
            error = FetchTooLarge(f"the fetch request is {length} bytes, over the limit of "
                                  f"{state.limits.max_input_bytes}", rule="request")
            state.stats.last_fetch_error = error
            reply = _abi.err_map(error.abi_kind, error.message, rule="request")
        else:
            raw = _read_guest(caller, ptr, length, state, "fetch request")
            reply = _fetch_reply(raw, state)
        return _write_to_guest(caller, reply, state)
    except BaseException as exc:
        state.host_error = exc
        raise


def host_log(caller: Caller, level: int, ptr: int, length: int) -> None:
    state = current()
    try:
        room = state.limits.max_log_bytes - state.stats.log_bytes
        if room <= 0:
            return
        raw = _read_guest(caller, ptr, min(max(length, 0), room), state, "log message")
        state.stats.log_bytes += len(raw)
        text = raw.decode("utf-8", errors="replace")
        level_name = _abi.LOG_LEVELS.get(level, "info")
        state.stats.logs.append((level_name, text))
        state.host.log(level_name, text)
    except BaseException as exc:
        state.host_error = exc
        raise


def _fetch_reply(raw: bytes, state: CallState) -> bytes:
    state.stats.fetches += 1
    if state.stats.fetches > state.limits.max_fetches:
        error = FetchLimitExceeded(f"more than {state.limits.max_fetches} fetches in one call",
                                   rule="max_fetches")
        state.stats.last_fetch_error = error
        return _abi.err_map(error.abi_kind, error.message, rule="max_fetches")
    try:
        request = _abi.decode(raw, max_items=10_000)
    except Exception:
        return _abi.err_map("bad_request", "the fetch request is not valid MessagePack")
    if not isinstance(request, dict):
        return _abi.err_map("bad_request", "the fetch request must be a map")
    try:
        response = state.host.fetch(request, state.deadline)
    except FetchError as exc:
        state.stats.last_fetch_error = exc
        return _abi.err_map(exc.abi_kind, exc.message, **({"rule": exc.rule} if exc.rule else {}))
    return _abi.ok_map(response)


# -- guest memory ---------------------------------------------------------------------------


def _guest_memory(caller: wasmtime.Caller) -> wasmtime.Memory:
    memory = caller.get(_abi.EXPORT_MEMORY)
    if not isinstance(memory, wasmtime.Memory):
        raise AbiViolation("the guest exports no memory")
    return memory


def _read_guest(caller: Caller, ptr: int, length: int, state: CallState, what: str) -> bytes:
    if isinstance(caller, int):
        try:
            data, size = _fastcall.guest_read(caller, ptr, length)
        except _fastcall.GuestAccess:
            raise AbiViolation("the guest exports no memory") from None
    else:
        memory = _guest_memory(caller)
        size = memory.data_len(caller)
        data = (bytes(memory.read(caller, ptr, ptr + length))
                if 0 <= ptr and 0 <= length and ptr + length <= size else None)
    if data is None:
        raise state.abi_violation(f"{what}: pointer {ptr} with length {length} is outside "
                                  f"guest memory of {size} bytes")
    return data


def _write_to_guest(caller: Caller, data: bytes, state: CallState) -> int:
    if isinstance(caller, int):
        try:
            return pack_slice(_fastcall.guest_write(caller, data), len(data))
        except _fastcall.GuestAccess as exc:
            if exc.status == _fastcall.GUEST_NO_ALLOC:
                raise state.abi_violation("the guest exports no corral_alloc") from None
            if exc.status == _fastcall.GUEST_NO_MEMORY:
                raise AbiViolation("the guest exports no memory") from None
            ptr, size = exc.ptr, exc.size
    else:
        alloc = caller.get(_abi.EXPORT_ALLOC)
        if not isinstance(alloc, wasmtime.Func):
            raise state.abi_violation("the guest exports no corral_alloc")
        ptr = alloc(caller, len(data))
        memory = _guest_memory(caller)
        size = memory.data_len(caller)
        if isinstance(ptr, int) and 0 < ptr and ptr + len(data) <= size:
            memory.write(caller, data, ptr)
            return pack_slice(ptr, len(data))
    raise state.abi_violation(f"corral_alloc returned {ptr} for {len(data)} bytes, outside "
                              f"guest memory of {size} bytes")
