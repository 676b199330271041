"""Room on the calling thread's stack for a call's wasm frames.

wasmtime runs a guest on the thread that calls it and stops it with a StackOverflow trap
once it has used ``max_wasm_stack`` bytes below its entry; it does not check that the
thread's stack is that large. A thread with less room than that (a platform's small
default for new threads, ``threading.stack_size``, ``ulimit -s unlimited`` under glibc)
would fault on its guard page before the trap, and the fault would end the process. So a
sandbox asks :meth:`StackRoom.fits` before each call (one thread-local read), and a
thread that does not fit hands its calls to helper threads created with enough stack.
"""

from __future__ import annotations

import ctypes
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, TypeVar

T = TypeVar("T")

#: What a calling thread needs besides ``max_wasm_stack``: the Python and C frames under
#: the call, and the host functions a guest calls, which run on the same stack.
MARGIN_BYTES = 1024 * 1024
#: Helper threads at most (calls past that wait for one); as many as pooled instances.
HELPERS = 64
_ATTR_BYTES = 128  # larger than pthread_attr_t on every ABI we run on


def thread_stack_bytes() -> int | None:
    """The current thread's whole stack in bytes, or None where it cannot be read."""
    try:
        libc = ctypes.CDLL(None)
        if sys.platform == "darwin":
            libc.pthread_self.restype = ctypes.c_void_p
            libc.pthread_get_stacksize_np.restype = ctypes.c_size_t
            libc.pthread_get_stacksize_np.argtypes = [ctypes.c_void_p]
            return int(libc.pthread_get_stacksize_np(libc.pthread_self()))
        libc.pthread_self.restype = ctypes.c_ulong
        attr = ctypes.create_string_buffer(_ATTR_BYTES)
        if libc.pthread_getattr_np(ctypes.c_ulong(libc.pthread_self()), attr) != 0:
            return None
        try:
            base, size = ctypes.c_void_p(), ctypes.c_size_t()
            if libc.pthread_attr_getstack(attr, ctypes.byref(base), ctypes.byref(size)) != 0:
                return None
            return int(size.value)
        finally:
            libc.pthread_attr_destroy(attr)
    except (OSError, AttributeError):
        return None


class _Known(threading.local):
    fits: bool | None = None


class StackRoom:
    """Whether threads can hold ``wasm_stack`` bytes of guest frames, and helpers that can."""

    def __init__(self, wasm_stack: int) -> None:
        self.needed = wasm_stack + MARGIN_BYTES
        self._known = _Known()
        self._lock = threading.Lock()
        self._helpers: ThreadPoolExecutor | None = None

    def fits(self) -> bool:
        """Whether the current thread's stack holds a call (asked once per thread)."""
        known = self._known.fits
        if known is None:
            size = thread_stack_bytes()
            known = self._known.fits = size is not None and size >= self.needed
        return known

    def run_on_helper(self, call: Callable[[], T]) -> T:
        """Run ``call`` on a helper thread whose stack holds it; return or raise its outcome."""
        with self._lock:
            if self._helpers is None:
                self._helpers = ThreadPoolExecutor(max_workers=HELPERS,
                                                   thread_name_prefix="corral-stack")
            # The pool starts its threads inside submit(); the size applies to those only.
            previous = threading.stack_size(self.needed + MARGIN_BYTES)
            try:
                future = self._helpers.submit(call)
            finally:
                threading.stack_size(previous)
        return future.result()

    def close(self) -> None:
        with self._lock:
            helpers, self._helpers = self._helpers, None
        if helpers is not None:
            helpers.shutdown(wait=False)
