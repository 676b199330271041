"""The Sandbox: one call per fresh Store, on the native or the public call path.

Every call gets a fresh Store and Instance with its own fuel, epoch deadline and memory
cap, so nothing leaks between calls or callers. Each breach becomes its own error kind
(see ``_errors.py``), and the Engine keeps serving. The parts live beside this module:
the Engine, call path and ticker in ``engine.py``, compiled modules and their checks in
``modules.py``, per-call state in ``state.py``, the host imports in ``imports.py``.
"""

from __future__ import annotations

import math
import threading
import time
import weakref

import wasmtime

from .._errors import (
    CorralError,
    DeadlineExceeded,
    FuelExhausted,
    GuestTrap,
    InputTooLarge,
    InvocationError,
    MemoryLimitExceeded,
    Overloaded,
    StackOverflow,
)
from .._pack import abi as _abi
from .._pack.manifest import Limits
from .._settings import CallPath
from . import fastcall as _fastcall
from . import state as _state
from .engine import TABLE_ELEMENTS, EpochTicker, SandboxConfig, choose_call_path, make_engine
from .imports import make_linker
from .modules import CompiledPack, ModuleCache, check_exports, check_imports, first_line
from .stack import StackRoom
from .state import CallState, CallStats, HostCalls, pack_slice, unpack_slice

__all__ = ["TABLE_ELEMENTS", "CallStats", "CompiledPack", "HostCalls", "Sandbox",
           "SandboxConfig", "check_exports", "check_imports", "pack_slice", "unpack_slice"]


class Sandbox:
    """Owns the Engine, the epoch ticker and the module cache; runs calls."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        #: The path calls take: ``native`` (the helper) or ``public`` (wasmtime-py's API).
        self.call_path: CallPath = choose_call_path(self.config.call_path)
        native = self.call_path == "native"
        self.engine = make_engine(self.config)
        self._engine_address = _fastcall.address(self.engine) if native else 0
        self._modules = ModuleCache(self.engine, make_linker(self.engine, native=native),
                                    self.config, native=native)
        self._closed = threading.Event()
        self._stack = StackRoom(self.config.max_wasm_stack)
        ticker = EpochTicker(self.engine, self.config.epoch_tick_s, native=native)
        # Stops the ticker on close(), or when the sandbox is collected unclosed.
        self._stop_ticker = weakref.finalize(self, ticker.stop)

    def close(self) -> None:
        """Stop the epoch ticker. Idempotent."""
        self._closed.set()
        self._stop_ticker()  # a finalizer runs at most once
        self._stack.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def compile(self, wasm: bytes, *, name: str = "pack", wasi: bool = False) -> CompiledPack:
        """Compile (or load from the precompiled cache) and link a pack's module; ``wasi``
        admits the narrow WASI subset (``wasi_subset.py``)."""
        return self._modules.compile(wasm, name=name, wasi=wasi)

    # -- calls ----------------------------------------------------------------------------

    def run(self, compiled: CompiledPack, request: bytes, *, limits: Limits, host: HostCalls,
            pack: str, formula: str, deadline: float | None = None,
            stats: CallStats | None = None) -> bytes:
        """Run one ``corral_call`` in a fresh Store; return the raw response bytes."""
        if not self._stack.fits():  # this thread's stack cannot hold max_wasm_stack
            return self._stack.run_on_helper(lambda: self.run(
                compiled, request, limits=limits, host=host, pack=pack, formula=formula,
                deadline=deadline, stats=stats))
        if self._closed.is_set():
            # Without the epoch ticker no deadline would ever fire: refuse, do not hang.
            raise InvocationError("the sandbox is closed", pack=pack, formula=formula)
        if len(request) > limits.max_input_bytes:
            raise InputTooLarge(f"the request is {len(request)} bytes, over the limit of "
                                f"{limits.max_input_bytes}", limit="max_input_bytes",
                                value=limits.max_input_bytes, pack=pack, formula=formula)
        stats = stats if stats is not None else CallStats()
        now = time.monotonic()
        call_deadline = now + limits.timeout_ms / 1000
        if deadline is not None:
            call_deadline = min(call_deadline, deadline)
        if call_deadline <= now:
            raise DeadlineExceeded("the deadline passed before the call started",
                                   limit="timeout_ms", value=limits.timeout_ms, pack=pack,
                                   formula=formula)
        ticks = math.ceil((call_deadline - now) / self.config.epoch_tick_s) + 1
        state = CallState(host, limits, call_deadline, pack, formula, stats)
        _state.enter(state)
        try:
            if self.call_path == "native":
                return self._call_native(compiled, request, state, ticks)
            return self._call_public(compiled, request, state, ticks)
        except wasmtime.Trap as exc:
            raise self._trap_error(exc, state) from exc
        except wasmtime.WasmtimeError as exc:
            raise self._wasmtime_error(exc, state) from exc
        finally:
            _state.leave()

    def _call_native(self, compiled: CompiledPack, request: bytes, state: CallState,
                     ticks: int) -> bytes:
        limits = state.limits
        out = _fastcall.last_out()
        try:
            _fastcall.call(self._engine_address, compiled.native_address, request,
                           fuel=limits.fuel, epoch_ticks=ticks, memory_bytes=limits.memory_bytes,
                           table_elements=TABLE_ELEMENTS, max_output=limits.max_output_bytes)
        finally:
            state.stats.fuel_used = limits.fuel - out.fuel_left
            size = int(out.memory_size)
            state.memory_size = lambda: size
        status = out.status
        if status == _fastcall.ST_OK:
            return _fastcall.response(out)
        if status == _fastcall.ST_BAD_ALLOC:
            state.check_range(size, out.alloc_ptr, len(request), "corral_alloc returned")
        if status in (_fastcall.ST_TOO_LARGE, _fastcall.ST_BAD_OUTPUT):
            state.check_output(size, out.out_ptr, out.out_len)
        raise state.abi_violation(f"the native call ended with status {status}")

    def _call_public(self, compiled: CompiledPack, request: bytes, state: CallState,
                     ticks: int) -> bytes:
        limits = state.limits
        store = wasmtime.Store(self.engine)
        store.set_fuel(limits.fuel)
        store.set_epoch_deadline(ticks)
        store.set_limits(memory_size=limits.memory_bytes, table_elements=TABLE_ELEMENTS,
                         instances=1, tables=4, memories=1)
        try:
            return self._call_in_store(compiled, store, request, state)
        finally:
            try:
                state.stats.fuel_used = limits.fuel - store.get_fuel()
            except wasmtime.WasmtimeError:
                state.stats.fuel_used = limits.fuel

    def _call_in_store(self, compiled: CompiledPack, store: wasmtime.Store, request: bytes,
                       state: CallState) -> bytes:
        exports = compiled.instance_pre.instantiate(store).exports(store)
        memory, alloc, call = (exports[_abi.EXPORT_MEMORY], exports[_abi.EXPORT_ALLOC],
                               exports[_abi.EXPORT_CALL])
        assert isinstance(memory, wasmtime.Memory)
        assert isinstance(alloc, wasmtime.Func) and isinstance(call, wasmtime.Func)
        state.memory_size = lambda: memory.data_len(store)
        ptr = _call_int(state, alloc, store, len(request))
        state.check_range(memory.data_len(store), ptr, len(request), "corral_alloc returned")
        memory.write(store, request, ptr)
        out_ptr, out_len = unpack_slice(_call_int(state, call, store, ptr, len(request)))
        state.check_output(memory.data_len(store), out_ptr, out_len)
        return bytes(memory.read(store, out_ptr, out_ptr + out_len))

    def _trap_error(self, exc: wasmtime.Trap, state: CallState) -> CorralError:
        if state.host_error is not None and isinstance(state.host_error, CorralError):
            return state.host_error
        code = exc.trap_code
        where = {"pack": state.pack, "formula": state.formula}
        if code == wasmtime.TrapCode.OUT_OF_FUEL:
            return FuelExhausted(f"ran out of fuel after {state.limits.fuel} units",
                                 limit="fuel", value=state.limits.fuel, **where)
        if code == wasmtime.TrapCode.INTERRUPT:
            return DeadlineExceeded("the call ran past its deadline "
                                    f"({state.limits.timeout_ms} ms limit)",
                                    limit="timeout_ms", value=state.limits.timeout_ms, **where)
        if code == wasmtime.TrapCode.STACK_OVERFLOW:
            return StackOverflow("the guest's call stack overflowed", limit="max_wasm_stack",
                                 value=self.config.max_wasm_stack, **where)
        if state.memory_exhausted():
            return MemoryLimitExceeded("the guest trapped after its memory reached the limit of "
                                       f"{state.limits.memory_bytes} bytes", limit="memory_bytes",
                                       value=state.limits.memory_bytes, **where)
        name = code.name.lower() if code is not None else "trap"
        return GuestTrap(f"the guest trapped: {name}", trap=name, **where)

    def _wasmtime_error(self, exc: wasmtime.WasmtimeError, state: CallState) -> CorralError:
        if state.host_error is not None and isinstance(state.host_error, CorralError):
            return state.host_error
        text = str(exc)
        if "maximum concurrent" in text:
            return Overloaded(f"all {self.config.pool_instances} sandbox slots are in use; "
                              "retry shortly", retry_after_s=0.05, pack=state.pack,
                              formula=state.formula)
        if "table" in text and ("limit" in text or "minimum" in text):
            return MemoryLimitExceeded("the module declares a table larger than the limit of "
                                       f"{TABLE_ELEMENTS} elements", limit="table_elements",
                                       value=TABLE_ELEMENTS, pack=state.pack,
                                       formula=state.formula)
        if "memory" in text and ("limit" in text or "minimum" in text):
            return MemoryLimitExceeded("the module needs more memory than its limit of "
                                       f"{state.limits.memory_bytes} bytes",
                                       limit="memory_bytes", value=state.limits.memory_bytes,
                                       pack=state.pack, formula=state.formula)
        return InvocationError(f"the call failed in the runtime: {first_line(exc)}",
                               pack=state.pack, formula=state.formula)


def _call_int(state: CallState, func: wasmtime.Func, store: wasmtime.Store, *args: int) -> int:
    result = func(store, *args)
    if not isinstance(result, int):
        raise state.abi_violation("an ABI export returned a non-integer")
    return result
