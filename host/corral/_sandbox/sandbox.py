"""The wasmtime sandbox: one Engine, a precompiled-module cache, and one call per Store.

Every call gets a fresh Store and Instance with its own fuel, epoch deadline and memory
cap, so nothing leaks between calls or callers. Each breach becomes its own error kind
(see ``_errors.py``), and the Engine keeps serving.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import threading
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

import wasmtime

from .._pack import abi as _abi
from . import fastcall as _fastcall
from .._errors import (
    AbiViolation,
    CorralError,
    DeadlineExceeded,
    FetchError,
    FetchLimitExceeded,
    FetchTooLarge,
    FuelExhausted,
    GuestTrap,
    InputTooLarge,
    InvocationError,
    MemoryLimitExceeded,
    OutputTooLarge,
    Overloaded,
    PackValidationError,
    StackOverflow,
)
from .._pack.manifest import MAX_MEMORY_BYTES, Limits

log = logging.getLogger("corral.sandbox")

WASM_PAGE = 65536
TABLE_ELEMENTS = 100_000
_VALTYPE_NAMES = {"i32": "i32", "i64": "i64", "f32": "f32", "f64": "f64"}


class HostCalls(Protocol):
    """What a running guest may ask of the host, bound to one call."""

    def fetch(self, request: dict[str, Any], deadline: float) -> dict[str, Any]: ...

    def log(self, level: str, message: str) -> None: ...


@dataclass(frozen=True)
class SandboxConfig:
    cache_dir: Path | None = None
    epoch_tick_s: float = 0.002
    max_wasm_stack: int = 512 * 1024
    opt_level: str = "speed"
    #: Live instances the pooling allocator holds slots for; 0 turns pooling off.
    pool_instances: int = 64


@dataclass
class CompiledPack:
    """A compiled module, ready to instantiate many times."""

    module: wasmtime.Module
    instance_pre: wasmtime.InstancePre
    sha256: str
    from_cache: bool
    compile_seconds: float
    #: The ``InstancePre`` as the native call path takes it.
    native_address: int = field(init=False)

    def __post_init__(self) -> None:
        self.native_address = _fastcall.address(self.instance_pre)


@dataclass(slots=True)
class CallStats:
    fuel_used: int = 0
    fetches: int = 0
    log_bytes: int = 0
    logs: list[tuple[str, str]] = field(default_factory=list)
    last_fetch_error: FetchError | None = None


@dataclass(slots=True)
class _CallState:
    """Per-call state the host functions reach through a thread-local."""

    host: HostCalls
    limits: Limits
    deadline: float
    pack: str
    formula: str
    stats: CallStats
    host_error: BaseException | None = None
    memory_size: Callable[[], int] | None = None

    def memory_exhausted(self) -> bool:
        """Whether a failure is best explained by the memory cap (a refused grow)."""
        if self.memory_size is None:
            return False
        slack = max(32 * WASM_PAGE, self.limits.memory_bytes // 8)
        return self.memory_size() + slack > self.limits.memory_bytes


_current = threading.local()
#: Threads do not survive a fork; a child restarts the tickers of the sandboxes it inherits,
#: or their deadlines would never fire.
_live_sandboxes: weakref.WeakSet[Sandbox] = weakref.WeakSet()


class Sandbox:
    """Owns the Engine, the epoch ticker and the on-disk module cache."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self.engine = wasmtime.Engine(self._engine_config())
        self._fingerprint = self._settings_fingerprint()
        self._native = _fastcall.available()
        self._linker = self._make_linker()
        self._closed = threading.Event()
        self._compiled: dict[str, CompiledPack] = {}
        self._lock = threading.Lock()
        self._engine_address = _fastcall.address(self.engine)
        self._stop_ticker: weakref.finalize[[int], Sandbox] | None = None
        self._start_ticker()
        _live_sandboxes.add(self)

    # -- engine ---------------------------------------------------------------------------

    def _engine_config(self) -> wasmtime.Config:
        config = wasmtime.Config()
        config.consume_fuel = True
        config.epoch_interruption = True
        config.max_wasm_stack = self.config.max_wasm_stack
        config.cranelift_opt_level = self.config.opt_level
        config.wasm_threads = False
        if self.config.pool_instances and _fastcall.pooling_available():
            config.memory_reservation = MAX_MEMORY_BYTES
            config.memory_guard_size = 64 * 1024 * 1024
            _fastcall.enable_pooling(config, instances=self.config.pool_instances,
                                     max_memory_bytes=MAX_MEMORY_BYTES,
                                     table_elements=TABLE_ELEMENTS)
        return config

    def _settings_fingerprint(self) -> str:
        version = _wasmtime_version()
        settings = (f"{version}|fuel|epoch|stack={self.config.max_wasm_stack}"
                    f"|opt={self.config.opt_level}|pool={bool(self.config.pool_instances)}")
        return hashlib.sha256(settings.encode()).hexdigest()[:16]

    def _start_ticker(self) -> None:
        """The epoch ticker: a native thread (no GIL) if possible, else a Python one."""
        ticker = (_fastcall.start_ticker(self.engine, self.config.epoch_tick_s)
                  if self._native else None)
        if ticker is None:
            threading.Thread(target=self._tick, name="corral-epoch", daemon=True).start()
            self._stop_ticker = None
        else:
            # Stops the native ticker on close(), or when the sandbox is collected unclosed.
            self._stop_ticker = weakref.finalize(self, _fastcall.stop_ticker, ticker)

    def _restart_ticker_after_fork(self) -> None:
        if self._closed.is_set():
            return
        if self._stop_ticker is not None:
            self._stop_ticker.detach()  # its thread stayed in the parent
        self._start_ticker()

    def _tick(self) -> None:
        while not self._closed.wait(self.config.epoch_tick_s):
            self.engine.increment_epoch()

    def close(self) -> None:
        """Stop the epoch ticker. Idempotent."""
        self._closed.set()
        if self._stop_ticker is not None:
            self._stop_ticker()  # a finalizer runs at most once

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- modules --------------------------------------------------------------------------

    def compile(self, wasm: bytes, *, name: str = "pack") -> CompiledPack:
        """Compile (or load from the precompiled cache) and link a pack's module."""
        digest = hashlib.sha256(wasm).hexdigest()
        with self._lock:
            cached = self._compiled.get(digest)
        if cached is not None:
            return cached
        started = time.perf_counter()
        module, from_cache = self._load_module(wasm, digest, name)
        check_imports(module, name, wasi=False)
        check_exports(module, name)
        try:
            instance_pre = self._linker.instantiate_pre(module)
        except wasmtime.WasmtimeError as exc:
            raise PackValidationError(f"pack {name!r} cannot be linked: {exc}", pack=name) from exc
        compiled = CompiledPack(module, instance_pre, digest, from_cache,
                                time.perf_counter() - started)
        with self._lock:
            self._compiled[digest] = compiled
        return compiled

    def _cache_path(self, digest: str) -> Path | None:
        if self.config.cache_dir is None:
            return None
        return self.config.cache_dir / f"{digest}-{self._fingerprint}.cwasm"

    def _load_module(self, wasm: bytes, digest: str, name: str) -> tuple[wasmtime.Module, bool]:
        path = self._cache_path(digest)
        if path is not None and path.exists():
            try:
                return wasmtime.Module.deserialize_file(self.engine, str(path)), True
            except wasmtime.WasmtimeError:
                log.warning("precompiled module %s is unusable; compiling again", path.name)
        try:
            module = wasmtime.Module(self.engine, wasm)
        except wasmtime.WasmtimeError as exc:
            raise _invalid_module(name, exc) from exc
        if path is not None:
            _write_atomically(path, bytes(module.serialize()))
        return module, False

    def _make_linker(self) -> wasmtime.Linker:
        linker = wasmtime.Linker(self.engine)
        if self._native:
            _fastcall.define_import(linker, _abi.IMPORT_MODULE, "fetch", 2, True, _host_fetch)
            _fastcall.define_import(linker, _abi.IMPORT_MODULE, "log", 3, False, _host_log)
            return linker
        i32, i64 = wasmtime.ValType.i32(), wasmtime.ValType.i64()
        linker.define_func(_abi.IMPORT_MODULE, "fetch", wasmtime.FuncType([i32, i32], [i64]),
                           _host_fetch, access_caller=True)
        linker.define_func(_abi.IMPORT_MODULE, "log", wasmtime.FuncType([i32, i32, i32], []),
                           _host_log, access_caller=True)
        return linker

    # -- calls ----------------------------------------------------------------------------

    def run(self, compiled: CompiledPack, request: bytes, *, limits: Limits, host: HostCalls,
            pack: str, formula: str, deadline: float | None = None,
            stats: CallStats | None = None) -> bytes:
        """Run one ``corral_call`` in a fresh Store; return the raw response bytes."""
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
        state = _CallState(host, limits, call_deadline, pack, formula, stats)
        _current.state = state
        try:
            if self._native:
                return self._call_native(compiled, request, state, ticks)
            return self._call_public(compiled, request, state, ticks)
        except wasmtime.Trap as exc:
            raise self._trap_error(exc, state) from exc
        except wasmtime.WasmtimeError as exc:
            raise self._wasmtime_error(exc, state) from exc
        finally:
            _current.state = None

    def _call_native(self, compiled: CompiledPack, request: bytes, state: _CallState,
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
            _check_range(size, out.alloc_ptr, len(request), state, "corral_alloc returned")
        if status in (_fastcall.ST_TOO_LARGE, _fastcall.ST_BAD_OUTPUT):
            _check_output(size, out.out_ptr, out.out_len, state)
        raise AbiViolation(f"the native call ended with status {status}", pack=state.pack,
                           formula=state.formula)

    def _call_public(self, compiled: CompiledPack, request: bytes, state: _CallState,
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
                       state: _CallState) -> bytes:
        exports = compiled.instance_pre.instantiate(store).exports(store)
        memory, alloc, call = (exports[_abi.EXPORT_MEMORY], exports[_abi.EXPORT_ALLOC],
                               exports[_abi.EXPORT_CALL])
        assert isinstance(memory, wasmtime.Memory)
        assert isinstance(alloc, wasmtime.Func) and isinstance(call, wasmtime.Func)
        state.memory_size = lambda: memory.data_len(store)
        ptr = _call_int(state, alloc, store, len(request))
        _check_range(memory.data_len(store), ptr, len(request), state, "corral_alloc returned")
        memory.write(store, request, ptr)
        out_ptr, out_len = unpack_slice(_call_int(state, call, store, ptr, len(request)))
        _check_output(memory.data_len(store), out_ptr, out_len, state)
        return bytes(memory.read(store, out_ptr, out_ptr + out_len))

    def _trap_error(self, exc: wasmtime.Trap, state: _CallState) -> CorralError:
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

    def _wasmtime_error(self, exc: wasmtime.WasmtimeError, state: _CallState) -> CorralError:
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
        return InvocationError(f"the call failed in the runtime: {_first_line(exc)}",
                               pack=state.pack, formula=state.formula)


def _restart_tickers_after_fork() -> None:
    for sandbox in list(_live_sandboxes):
        sandbox._restart_ticker_after_fork()


os.register_at_fork(after_in_child=_restart_tickers_after_fork)


# -- host functions ---------------------------------------------------------------------


def _state() -> _CallState:
    state: _CallState | None = getattr(_current, "state", None)
    if state is None:
        raise AbiViolation("a host import was called outside a Corral call")
    return state


def _guest_memory(caller: wasmtime.Caller) -> wasmtime.Memory:
    memory = caller.get(_abi.EXPORT_MEMORY)
    if not isinstance(memory, wasmtime.Memory):
        raise AbiViolation("the guest exports no memory")
    return memory


def _read_guest(caller: wasmtime.Caller | int, ptr: int, length: int, state: _CallState,
                what: str) -> bytes:
    native = _fastcall.caller_pointer(caller)
    if native is not None:
        try:
            data, size = _fastcall.guest_read(native, ptr, length)
        except _fastcall.GuestAccess:
            raise AbiViolation("the guest exports no memory") from None
    else:
        assert isinstance(caller, wasmtime.Caller)
        memory = _guest_memory(caller)
        size = memory.data_len(caller)
        data = (bytes(memory.read(caller, ptr, ptr + length))
                if 0 <= ptr and 0 <= length and ptr + length <= size else None)
    if data is None:
        raise AbiViolation(f"{what}: pointer {ptr} with length {length} is outside guest "
                           f"memory of {size} bytes", pack=state.pack, formula=state.formula)
    return data


def _host_fetch(caller: wasmtime.Caller | int, ptr: int, length: int) -> int:
    state = _state()
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


def _fetch_reply(raw: bytes, state: _CallState) -> bytes:
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


def _write_to_guest(caller: wasmtime.Caller | int, data: bytes, state: _CallState) -> int:
    native = _fastcall.caller_pointer(caller)
    if native is not None:
        try:
            return pack_slice(_fastcall.guest_write(native, data), len(data))
        except _fastcall.GuestAccess as exc:
            if exc.status == _fastcall.GUEST_NO_ALLOC:
                raise AbiViolation("the guest exports no corral_alloc", pack=state.pack,
                                   formula=state.formula) from None
            if exc.status == _fastcall.GUEST_NO_MEMORY:
                raise AbiViolation("the guest exports no memory") from None
            ptr, size = exc.ptr, exc.size
    else:
        assert isinstance(caller, wasmtime.Caller)
        alloc = caller.get(_abi.EXPORT_ALLOC)
        if not isinstance(alloc, wasmtime.Func):
            raise AbiViolation("the guest exports no corral_alloc", pack=state.pack,
                               formula=state.formula)
        ptr = alloc(caller, len(data))
        memory = _guest_memory(caller)
        size = memory.data_len(caller)
        if isinstance(ptr, int) and 0 < ptr and ptr + len(data) <= size:
            memory.write(caller, data, ptr)
            return pack_slice(ptr, len(data))
    raise AbiViolation(f"corral_alloc returned {ptr} for {len(data)} bytes, outside guest "
                       f"memory of {size} bytes", pack=state.pack, formula=state.formula)


def _host_log(caller: wasmtime.Caller | int, level: int, ptr: int, length: int) -> None:
    state = _state()
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


# -- helpers ----------------------------------------------------------------------------


def _call_int(state: _CallState, func: wasmtime.Func, store: wasmtime.Store,
                        *args: int) -> int:
    result = func(store, *args)
    if not isinstance(result, int):
        raise AbiViolation("an ABI export returned a non-integer", pack=state.pack,
                           formula=state.formula)
    return result


def _check_range(size: int, ptr: int, length: int, state: _CallState, what: str) -> None:
    if ptr <= 0 or length < 0 or ptr + length > size:
        if what.startswith("corral_alloc") and ptr == 0:
            raise MemoryLimitExceeded(f"corral_alloc could not allocate {length} bytes",
                                      limit="memory_bytes", value=state.limits.memory_bytes,
                                      pack=state.pack, formula=state.formula)
        raise AbiViolation(f"{what} pointer {ptr} with length {length}, outside guest memory "
                           f"of {size} bytes", pack=state.pack, formula=state.formula)


def _check_output(size: int, ptr: int, length: int, state: _CallState) -> None:
    if length > state.limits.max_output_bytes:
        raise OutputTooLarge(f"the response is {length} bytes, over the limit of "
                             f"{state.limits.max_output_bytes}", limit="max_output_bytes",
                             value=state.limits.max_output_bytes, pack=state.pack,
                             formula=state.formula)
    _check_range(size, ptr, length, state, "corral_call returned")


def pack_slice(ptr: int, length: int) -> int:
    """ABI packing ``ptr << 32 | len`` as a signed i64."""
    value = (ptr << 32) | length
    return value - (1 << 64) if value >= 1 << 63 else value


def unpack_slice(value: int) -> tuple[int, int]:
    bits = value & 0xFFFF_FFFF_FFFF_FFFF
    return bits >> 32, bits & 0xFFFF_FFFF


def check_exports(module: wasmtime.Module, name: str) -> None:
    """The ABI's exports, with the right kinds and signatures, and a known ABI version."""
    exports = {e.name: e.type for e in module.exports}
    versions = [int(n[len(_abi.ABI_MARKER_PREFIX):]) for n in exports
                if n.startswith(_abi.ABI_MARKER_PREFIX) and n[len(_abi.ABI_MARKER_PREFIX):].isdigit()]
    if not versions:
        raise PackValidationError(f"pack {name!r} declares no ABI version (export "
                                  f"'{_abi.ABI_MARKER_PREFIX}1' is missing)", pack=name)
    if not set(versions) & _abi.SUPPORTED_ABI_VERSIONS:
        raise PackValidationError(f"pack {name!r} was built for ABI v{max(versions)}; this host "
                                  f"speaks v{', v'.join(map(str, sorted(_abi.SUPPORTED_ABI_VERSIONS)))}",
                                  pack=name)
    if not isinstance(exports.get(_abi.EXPORT_MEMORY), wasmtime.MemoryType):
        raise PackValidationError(f"pack {name!r} must export its memory as 'memory'", pack=name)
    for export, params, results in ((_abi.EXPORT_ALLOC, ("i32",), ("i32",)),
                                    (_abi.EXPORT_CALL, ("i32", "i32"), ("i64",))):
        ftype = exports.get(export)
        if not isinstance(ftype, wasmtime.FuncType) or _signature(ftype) != (params, results):
            raise PackValidationError(
                f"pack {name!r} must export function {export}({', '.join(params)}) -> "
                f"{', '.join(results)}", pack=name, export=export)


def check_imports(module: wasmtime.Module, name: str, *, wasi: bool) -> None:
    """Refuse any import the ABI does not define, before anything runs."""
    for imp in module.imports:
        where = f"{imp.module}.{imp.name}"
        if imp.module == _abi.IMPORT_MODULE and imp.name in _abi.HOST_IMPORTS:
            expected = _abi.HOST_IMPORTS[imp.name]
            if not isinstance(imp.type, wasmtime.FuncType) or _signature(imp.type) != expected:
                raise PackValidationError(
                    f"pack {name!r} imports {where} with the wrong signature; ABI v1 defines "
                    f"({', '.join(expected[0])}) -> ({', '.join(expected[1])})",
                    pack=name, import_name=where)
            continue
        raise PackValidationError(f"pack {name!r} imports {where}, which the Corral ABI does not "
                                  "define", pack=name, import_name=where)


def _signature(ftype: wasmtime.FuncType) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return (tuple(str(p) for p in ftype.params), tuple(str(r) for r in ftype.results))


def _wasmtime_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("wasmtime")
    except PackageNotFoundError:
        return "unknown"


def _invalid_module(name: str, exc: wasmtime.WasmtimeError) -> PackValidationError:
    text = _first_line(exc)
    if "table does not fit in pooling allocator" in text:
        return PackValidationError(f"pack {name!r} declares a table larger than the limit of "
                                   f"{TABLE_ELEMENTS} elements", pack=name,
                                   limit="table_elements", value=TABLE_ELEMENTS)
    if "memory does not fit in pooling allocator" in text:
        return PackValidationError(f"pack {name!r} declares more memory than the limit of "
                                   f"{MAX_MEMORY_BYTES} bytes", pack=name, limit="memory_bytes",
                                   value=MAX_MEMORY_BYTES)
    return PackValidationError(f"pack {name!r} is not a valid wasm module: {text}", pack=name)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)

