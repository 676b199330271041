"""The wasmtime Engine a sandbox owns: its configuration, its call path, its epoch ticker.

One Engine serves every call of a sandbox. Its epoch ticker bounds wall time: a native
thread if the helper is loaded (it never takes the GIL), else a Python thread. Threads
do not survive ``fork()``, so a child restarts the tickers it inherits.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import threading
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import wasmtime

from .._errors import ConfigError
from .._pack.manifest import MAX_MEMORY_BYTES
from .._settings import CallPath, call_path_from_env, call_path_setting
from . import fastcall as _fastcall
from . import native as _native

log = logging.getLogger("corral.sandbox")

TABLE_ELEMENTS = 100_000
#: Released pages cost more than copied ones. A page released with ``madvise`` is faulted
#: back in by the next call that touches it (a copy-on-write fault for a page of the
#: memory image) and its release flushes the TLB on every core the process ran on; a kept
#: page costs one memcpy or memset per call (about 0.03 us per KiB here). A JavaScript
#: pack's snapshot is 6-8 MiB, and a call touches a few hundred pages spread over all of
#: it: keeping 16 MiB resident halved the CPU time of a JS call and its latency
#: (benchmarks/perf/bench_js.py), while small packs, whose memory is below the bound,
#: only pay a memset of what they have. The cost: a pooled slot keeps the pages its last
#: call touched resident, up to this bound, until the slot is reused.
KEEP_RESIDENT_BYTES = 16 * 1024 * 1024
#: Wasm runs on the calling thread's own stack. QuickJS takes about 1.3 KiB of it per nested
#: JS call, so wasmtime's default of 512 KiB stopped JS recursion at about 390 frames; 4 MiB
#: allows about 3,000 (QuickJS's own limit, a RangeError, comes first at about 2,700). A
#: thread whose stack cannot hold this much runs its calls on a helper thread that can
#: (:mod:`.stack`), so exhausting it is always a trap, never a fault past the guard page.
STACK_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class SandboxConfig:
    cache_dir: Path | None = None
    epoch_tick_s: float = 0.002
    #: Host stack the guest may use (``STACK_BYTES``): past it a call traps as StackOverflow.
    max_wasm_stack: int = STACK_BYTES
    opt_level: str = "speed"
    #: Live instances the pooling allocator holds slots for; 0 turns pooling off.
    pool_instances: int = 64
    #: Bytes at the start of each pooled memory slot reset in place (copied back from the
    #: module's memory image, or zeroed) when a call ends, instead of being released to the
    #: kernel; see ``KEEP_RESIDENT_BYTES``.
    pool_keep_resident: int = KEEP_RESIDENT_BYTES
    #: ``auto``, ``native`` or ``public`` (see ``_settings.CALL_PATHS``); by default
    #: ``CORRAL_CALL_PATH``, else ``auto``.
    call_path: CallPath = field(default_factory=call_path_from_env)

    def __post_init__(self) -> None:
        call_path_setting(self.call_path)


def make_engine(config: SandboxConfig) -> wasmtime.Engine:
    """An Engine with fuel, epoch interruption and, where wasmtime-py allows, pooling."""
    settings = wasmtime.Config()
    settings.consume_fuel = True
    settings.epoch_interruption = True
    set_wasm_stack(settings, config.max_wasm_stack)
    settings.cranelift_opt_level = config.opt_level
    settings.wasm_threads = False
    if _pools(config):
        settings.memory_reservation = MAX_MEMORY_BYTES
        settings.memory_guard_size = _GUARD_BYTES
        _fastcall.enable_pooling(settings, instances=config.pool_instances,
                                 max_memory_bytes=MAX_MEMORY_BYTES,
                                 table_elements=TABLE_ELEMENTS,
                                 keep_resident=config.pool_keep_resident)
    return wasmtime.Engine(settings)


def engine_fingerprint(config: SandboxConfig) -> str:
    """What machine code compiled by :func:`make_engine`'s Engine depends on besides the
    wasm: the wasmtime version, the machine and every setting above (sha256 hex)."""
    pools = _pools(config)
    settings = (f"wasmtime={_wasmtime_version()}|machine={platform.machine()}"
                f"|system={platform.system()}|fuel|epoch|threads=no"
                f"|stack={config.max_wasm_stack}|opt={config.opt_level}|pooling={pools}"
                f"|reservation={MAX_MEMORY_BYTES if pools else 'default'}"
                f"|guard={_GUARD_BYTES if pools else 'default'}|tables={TABLE_ELEMENTS}")
    return hashlib.sha256(settings.encode()).hexdigest()


_GUARD_BYTES = 64 * 1024 * 1024
#: wasmtime's default async stack; it refuses a ``max_wasm_stack`` above it even though
#: Corral never runs wasm on an async fiber.
_ASYNC_STACK_BYTES = 2 * 1024 * 1024


def set_wasm_stack(settings: wasmtime.Config, max_wasm_stack: int) -> None:
    """``settings.max_wasm_stack``, with the async stack raised to match when it must be
    (wasmtime panics on a config whose wasm stack exceeds it): every engine is made so."""
    _set_async_stack(settings, max_wasm_stack)
    settings.max_wasm_stack = max_wasm_stack


def _set_async_stack(settings: wasmtime.Config, max_wasm_stack: int) -> None:
    if max_wasm_stack <= _ASYNC_STACK_BYTES:
        return
    from wasmtime import _bindings, _ffi

    setter = getattr(_ffi.dll, "wasmtime_config_async_stack_size_set", None)
    if setter is None:
        raise ConfigError(f"max_wasm_stack is {max_wasm_stack} bytes but this wasmtime-py "
                          f"takes at most {_ASYNC_STACK_BYTES}", setting="max_wasm_stack")
    setter.restype = None
    setter.argtypes = [ctypes.POINTER(_bindings.wasm_config_t), ctypes.c_size_t]
    setter(settings.ptr(), max_wasm_stack)


def _pools(config: SandboxConfig) -> bool:
    return bool(config.pool_instances) and _fastcall.pooling_available()


def _wasmtime_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("wasmtime")
    except PackageNotFoundError:
        return "unknown"


# -- the call path --------------------------------------------------------------------------

#: The reasons an ``auto`` sandbox already warned about: one warning per reason and process.
_warned: set[str] = set()
_warned_lock = threading.Lock()


def choose_call_path(requested: CallPath) -> CallPath:
    """The path calls take, ``native`` or ``public``, for the ``requested`` setting."""
    if requested == "public":
        return "public"  # never loads the helper
    reason = _native.unavailable_reason()
    if reason is None:
        return "native"
    if requested == "native":
        raise ConfigError(f"call_path is 'native' but the native helper cannot be used: "
                          f"{reason}", setting="call_path")
    with _warned_lock:
        first = reason not in _warned
        _warned.add(reason)
    if first:
        log.warning("the native call path is unavailable (%s); using wasmtime-py's public API",
                    reason)
    return "public"


# -- the epoch ticker -----------------------------------------------------------------------


class EpochTicker:
    """Advances one Engine's epoch every interval until stopped; holds no sandbox."""

    def __init__(self, engine: wasmtime.Engine, interval_s: float, *, native: bool) -> None:
        self._engine = engine
        self._interval_s = interval_s
        self._native = native
        self._stopped = False
        self._handle: int | None = None
        self._event = threading.Event()
        self._start()
        _live_tickers.add(self)

    def _start(self) -> None:
        self._handle = (_fastcall.start_ticker(self._engine, self._interval_s)
                        if self._native else None)
        if self._handle is None:
            self._event = threading.Event()
            threading.Thread(target=_tick, args=(self._engine, self._event, self._interval_s),
                             name="corral-epoch", daemon=True).start()

    def stop(self) -> None:
        """Stop ticking (the native thread drops its engine reference within one
        interval). Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self._event.set()
        if self._handle is not None:
            _fastcall.stop_ticker(self._handle)

    def restart_after_fork(self) -> None:
        if not self._stopped:
            self._start()  # the old thread, and its handle, stayed in the parent


def _tick(engine: wasmtime.Engine, stop: threading.Event, interval_s: float) -> None:
    while not stop.wait(interval_s):
        engine.increment_epoch()


_live_tickers: weakref.WeakSet[EpochTicker] = weakref.WeakSet()


def _restart_tickers_after_fork() -> None:
    for ticker in list(_live_tickers):
        ticker.restart_after_fork()


os.register_at_fork(after_in_child=_restart_tickers_after_fork)
