"""The narrow WASI subset a pack with ``pack.wasi = true`` may import (guest-sdk/ABI.md §8).

Only ``wasi_snapshot_preview1``, and only these functions: the clock, the host's CSPRNG,
``fd_write`` to fds 1 and 2 (into the pack log, under the call's log budget) and
``proc_exit`` (a trap). No files, environment, arguments or sockets: the size queries
answer zero items and the file-descriptor calls answer ``EBADF``. Any other WASI function
is refused at load, before anything runs (``modules.check_imports``).
"""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Callable
from typing import Any

import wasmtime

from .._errors import AbiViolation, GuestTrap
from .state import current

MODULE = "wasi_snapshot_preview1"
ERRNO_SUCCESS, ERRNO_BADF, ERRNO_FAULT, ERRNO_INVAL = 0, 8, 21, 28
_CLOCKS = {0: time.time_ns, 1: time.monotonic_ns, 2: time.process_time_ns,
           3: time.thread_time_ns}
#: The most bytes one random_get may ask for (a larger request answers EINVAL).
MAX_RANDOM_BYTES = 1 << 16

_I32, _I64 = "i32", "i64"
#: name -> (params, results): the functions of the subset, with their WASI signatures.
SIGNATURES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "clock_time_get": ((_I32, _I64, _I32), (_I32,)),
    "clock_res_get": ((_I32, _I32), (_I32,)),
    "random_get": ((_I32, _I32), (_I32,)),
    "fd_write": ((_I32, _I32, _I32, _I32), (_I32,)),
    "proc_exit": ((_I32,), ()),
    "environ_sizes_get": ((_I32, _I32), (_I32,)),
    "environ_get": ((_I32, _I32), (_I32,)),
    "args_sizes_get": ((_I32, _I32), (_I32,)),
    "args_get": ((_I32, _I32), (_I32,)),
    "fd_close": ((_I32,), (_I32,)),
    "fd_seek": ((_I32, _I64, _I32, _I32), (_I32,)),
    "fd_fdstat_get": ((_I32, _I32), (_I32,)),
    "fd_prestat_get": ((_I32, _I32), (_I32,)),
}


def define(linker: wasmtime.Linker) -> None:
    """Define every function of the subset on ``linker`` (a module may import any of them)."""
    for name, (params, results) in SIGNATURES.items():
        ftype = wasmtime.FuncType([_valtype(p) for p in params], [_valtype(r) for r in results])
        linker.define_func(MODULE, name, ftype, _guarded(_FUNCTIONS[name]), access_caller=True)


def _valtype(name: str) -> wasmtime.ValType:
    return wasmtime.ValType.i32() if name == _I32 else wasmtime.ValType.i64()


def _guarded(function: Callable[..., Any]) -> Callable[..., Any]:
    """Record an error for the sandbox to re-raise as itself (see ``imports.py``)."""
    def guarded(caller: wasmtime.Caller, *args: int) -> Any:
        try:
            return function(caller, *args)
        except BaseException as exc:
            current().host_error = exc
            raise
    return guarded


def _memory(caller: wasmtime.Caller) -> wasmtime.Memory:
    memory = caller.get("memory")
    if not isinstance(memory, wasmtime.Memory):
        raise AbiViolation("the guest exports no memory")
    return memory


def _write(caller: wasmtime.Caller, ptr: int, data: bytes) -> bool:
    memory = _memory(caller)
    if ptr < 0 or ptr + len(data) > memory.data_len(caller):
        return False
    memory.write(caller, data, ptr)
    return True


def _read(caller: wasmtime.Caller, ptr: int, length: int) -> bytes | None:
    memory = _memory(caller)
    if ptr < 0 or length < 0 or ptr + length > memory.data_len(caller):
        return None
    return bytes(memory.read(caller, ptr, ptr + length))


def clock_time_get(caller: wasmtime.Caller, clock: int, _precision: int, out: int) -> int:
    now = _CLOCKS.get(clock)
    if now is None:
        return ERRNO_INVAL
    return ERRNO_SUCCESS if _write(caller, out, struct.pack("<Q", now())) else ERRNO_FAULT


def clock_res_get(caller: wasmtime.Caller, clock: int, out: int) -> int:
    if clock not in _CLOCKS:
        return ERRNO_INVAL
    return ERRNO_SUCCESS if _write(caller, out, struct.pack("<Q", 1000)) else ERRNO_FAULT


def random_get(caller: wasmtime.Caller, ptr: int, length: int) -> int:
    if length < 0 or length > MAX_RANDOM_BYTES:
        return ERRNO_INVAL
    return ERRNO_SUCCESS if _write(caller, ptr, os.urandom(length)) else ERRNO_FAULT


def fd_write(caller: wasmtime.Caller, fd: int, iovs: int, count: int, written: int) -> int:
    if fd not in (1, 2):
        return ERRNO_BADF
    table = _read(caller, iovs, 8 * count) if 0 <= count <= 1024 else None
    if table is None:
        return ERRNO_FAULT
    chunks = []
    for i in range(count):
        ptr, length = struct.unpack_from("<II", table, 8 * i)
        chunk = _read(caller, ptr, length)
        if chunk is None:
            return ERRNO_FAULT
        chunks.append(chunk)
    data = b"".join(chunks)
    _log(data, "info" if fd == 1 else "warn")
    return ERRNO_SUCCESS if _write(caller, written, struct.pack("<I", len(data))) else ERRNO_FAULT


def _log(data: bytes, level: str) -> None:
    state = current()
    room = state.limits.max_log_bytes - state.stats.log_bytes
    if room <= 0 or not data:
        return
    kept = data[:room]
    state.stats.log_bytes += len(kept)
    text = kept.decode("utf-8", errors="replace").rstrip("\n")
    state.stats.logs.append((level, text))
    state.host.log(level, text)


def proc_exit(_caller: wasmtime.Caller, code: int) -> None:
    state = current()
    raise GuestTrap(f"the pack called proc_exit({code})", pack=state.pack, formula=state.formula,
                    trap="proc_exit", exit_code=code)


def _zero_sizes(caller: wasmtime.Caller, count_ptr: int, size_ptr: int) -> int:
    ok = _write(caller, count_ptr, b"\0" * 4) and _write(caller, size_ptr, b"\0" * 4)
    return ERRNO_SUCCESS if ok else ERRNO_FAULT


def _nothing(_caller: wasmtime.Caller, *_args: int) -> int:
    return ERRNO_SUCCESS


def _bad_fd(_caller: wasmtime.Caller, *_args: int) -> int:
    return ERRNO_BADF


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "clock_time_get": clock_time_get, "clock_res_get": clock_res_get,
    "random_get": random_get, "fd_write": fd_write, "proc_exit": proc_exit,
    "environ_sizes_get": _zero_sizes, "args_sizes_get": _zero_sizes,
    "environ_get": _nothing, "args_get": _nothing,
    "fd_close": _bad_fd, "fd_seek": _bad_fd, "fd_fdstat_get": _bad_fd, "fd_prestat_get": _bad_fd,
}
