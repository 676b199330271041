"""The host imports a guest may call (``corral.fetch``, ``corral.log``, ``corral.blob``)
and their access to guest memory.

On the native path the imports are unchecked callbacks that get the raw
``wasmtime_caller_t`` pointer and reach guest memory through the helper; on the public
path they get a ``wasmtime.Caller`` and use wasmtime-py's API. Either way an exception
they raise traps the guest, and the sandbox re-raises it as the original Corral error.
"""

from __future__ import annotations

import msgpack
import wasmtime

from .._errors import (
    AbiViolation,
    BlobError,
    BlobLimitExceeded,
    BlobTooLarge,
    CorralError,
    FetchError,
    FetchLimitExceeded,
    FetchTooLarge,
)
from .._pack import abi as _abi
from .._pack.manifest import MAX_IO_BYTES
from . import fastcall as _fastcall
from . import wasi_subset
from .state import CallState, current, pack_slice

Caller = wasmtime.Caller | int

#: The largest blob request read from a guest: the host's ceiling on any one transfer.
#: The blob store then holds the blob to its own, lower cap (``blob_max_bytes``).
BLOB_REQUEST_CAP = MAX_IO_BYTES + 4096


def make_linker(engine: wasmtime.Engine, *, native: bool) -> wasmtime.Linker:
    """A linker defining the ABI's host imports for the chosen call path."""
    linker = wasmtime.Linker(engine)
    wasi_subset.define(linker)  # only packs with pack.wasi may import it (check_imports)
    if native:
        _fastcall.define_import(linker, _abi.IMPORT_MODULE, "fetch", 2, True, host_fetch)
        _fastcall.define_import(linker, _abi.IMPORT_MODULE, "log", 3, False, host_log)
        _fastcall.define_import(linker, _abi.IMPORT_MODULE, "blob", 2, True, host_blob)
        return linker
    i32, i64 = wasmtime.ValType.i32(), wasmtime.ValType.i64()
    linker.define_func(_abi.IMPORT_MODULE, "fetch", wasmtime.FuncType([i32, i32], [i64]),
                       host_fetch, access_caller=True)
    linker.define_func(_abi.IMPORT_MODULE, "log", wasmtime.FuncType([i32, i32, i32], []),
                       host_log, access_caller=True)
    linker.define_func(_abi.IMPORT_MODULE, "blob", wasmtime.FuncType([i32, i32], [i64]),
                       host_blob, access_caller=True)
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


def host_blob(caller: Caller, ptr: int, length: int) -> int:
    """``corral.blob``: store a temporary blob the host serves for a while (ABI.md §4.1).
    The request may carry the blob's bytes, so its size cap is the blob cap, not
    ``max_input_bytes`` (the host refuses it past that with ``too_large``)."""
    state = current()
    try:
        cap = BLOB_REQUEST_CAP
        if length > cap:
            reply = _blob_failed(state, BlobTooLarge(
                f"the blob request is {length} bytes, over the limit of {cap}",
                rule="blob_max_bytes"))
        else:
            raw = _read_guest(caller, ptr, length, state, "blob request")
            reply = _blob_reply(raw, state)
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


def _blob_reply(raw: bytes, state: CallState) -> bytes:
    state.stats.blobs += 1
    if state.stats.blobs > state.limits.max_blobs:
        return _blob_failed(state, BlobLimitExceeded(
            f"more than {state.limits.max_blobs} blobs in one call (max_blobs)",
            rule="max_blobs"))
    try:
        request = _abi.decode(raw, max_items=16)
    except (ValueError, TypeError, msgpack.UnpackException):
        return _abi.err_map("bad_request", "the blob request is not valid MessagePack")
    if not isinstance(request, dict):
        return _abi.err_map("bad_request", "the blob request must be a map")
    store = getattr(state.host, "blob", None)
    if store is None:
        return _blob_failed(state, BlobError("this host has no blob store", rule="no_store"))
    try:
        stored = store(request, state.deadline)
    except (BlobError, FetchError) as exc:
        return _blob_failed(state, exc)
    return _abi.ok_map(stored)


def _blob_failed(state: CallState, error: CorralError) -> bytes:
    """The guest's ``{err}`` for a failed blob; kept, so a pack that gives up with kind
    ``blob`` reports this error."""
    state.stats.last_blob_error = error
    rule = getattr(error, "rule", None)
    extra: dict[str, object] = {"rule": rule} if rule else {}
    if error.details.get("status") is not None:
        extra["status"] = error.details["status"]
    kind = getattr(error, "abi_kind", "unavailable")
    if rule in ("bad_request", "content_type"):
        kind = "bad_request"
    elif rule == "status":
        kind = "upstream"
    return _abi.err_map(kind, error.message, **extra)


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
