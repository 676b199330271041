"""The wasmtime sandbox: the Engine and its call path, compiled modules, per-call state,
the host imports, the native helper, and the Sandbox that runs one call per Store."""

from .engine import TABLE_ELEMENTS, SandboxConfig
from .modules import CompiledPack, check_exports, check_imports
from .sandbox import Sandbox
from .state import CallStats, HostCalls, pack_slice, unpack_slice

__all__ = ["TABLE_ELEMENTS", "CallStats", "CompiledPack", "HostCalls", "Sandbox",
           "SandboxConfig", "check_exports", "check_imports", "pack_slice", "unpack_slice"]
