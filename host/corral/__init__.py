"""Corral: a sandboxed WebAssembly pack runtime host.

Packs are plugins (formulas, actions, sync tables) compiled to WebAssembly; Corral runs
each call in wasmtime under fuel, memory and time limits, mediates every fetch, and
injects credentials the guest never sees.

    import corral
    pack = corral.load_pack("packs/hello/build/hello.wasm")
    pack.call("Greet", "Ada")            # 'Hello, Ada!'

Importing ``corral`` stays cheap: the HTTP service, the formula engine and the CLI
load their dependencies when first used.
"""

from __future__ import annotations

from typing import Any

from ._domains import DeclaredDomain
from ._errors import (
    AbiViolation,
    AccessDenied,
    ArgumentError,
    AuthFlowError,
    BadOutput,
    BlobError,
    BlobExpired,
    BlobLimitExceeded,
    BlobQuotaExceeded,
    BlobTooLarge,
    BuildError,
    CacheError,
    Closed,
    ConfigError,
    Conflict,
    ConnectionExpired,
    CorralError,
    CredentialError,
    DeadlineExceeded,
    FetchDenied,
    FetchError,
    FetchLimitExceeded,
    FetchNetworkError,
    FetchTimeout,
    FetchTooLarge,
    FormulaDeadlineExceeded,
    FormulaError,
    FormulaEvalError,
    FormulaSyntaxError,
    FuelExhausted,
    GuestError,
    GuestTrap,
    InputTooLarge,
    InvalidParameters,
    InvocationError,
    LimitExceeded,
    ManifestError,
    MemoryLimitExceeded,
    MissingScopes,
    QuotaExceeded,
    NotFoundError,
    OutputTooLarge,
    Overloaded,
    PackValidationError,
    PayloadTooLarge,
    SecretKeyError,
    StackOverflow,
    StorageFull,
    StoreUnavailable,
    Unauthenticated,
)
from ._pack.manifest import (
    AuthSpec,
    Example,
    FormulaDef,
    Limits,
    Manifest,
    ParamDef,
    Schema,
    SyncTableDef,
)
from ._pack.parse import load_manifest_file, parse_manifest
from ._runtime.pack import Pack, load_pack, pack_from_bytes, read_manifest, validate_pack
from ._sandbox.sandbox import CallStats, Sandbox, SandboxConfig
from ._settings import Settings, load_settings
from ._types import CallRequest, Credentials, Invocation

__version__ = "0.1.0"

_LAZY = {
    "Host": "._host",
    "open_host": "._host",
    "build_pack": "._toolchain.build",
    "BuildResult": "._toolchain.build",
    "new_pack": "._toolchain.scaffold",
    "ConnectionStore": "._connections.store",
    "ConnectionInfo": "._connections.records",
    "ConnectionCredentials": "._connections.store",
    "KeyRing": "._connections.crypto",
    "FetchClient": "._fetch.client",
    "FetchConfig": "._fetch.client",
    "PinnedTransport": "._fetch.client",
    "FetchCache": "._fetch.cache",
    "MANIFEST_SECTION": "._pack.wasm",
    "set_custom_section": "._pack.wasm",
    "coerce_args": "._pack.coerce",
    "check_url": "._fetch.policy",
    "CheckedURL": "._fetch.policy",
    "parse_formula": "._formula.parser",
    "Evaluator": "._formula.evaluator",
    "Scheduler": "._calls.scheduler",
    "SchedulerConfig": "._calls.scheduler",
    "ResolvedFormula": "._calls.scheduler",
    "ResultCache": "._calls.result_cache",
    "BlobStore": "._stores.blobs",
    "RowUpdateResult": "._runtime.tables",
    "Registry": "._runtime.registry",
    "Metrics": "._metrics",
    "create_app": "._server.app",
    "serve": "._server.serve",
}


def __getattr__(name: str) -> Any:
    """Heavier parts load on first use, keeping ``import corral`` cheap."""
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'corral' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name, __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "MANIFEST_SECTION", "AbiViolation", "AccessDenied", "ArgumentError", "AuthFlowError",
    "AuthSpec", "BadOutput", "BlobError", "BlobExpired", "BlobLimitExceeded",
    "BlobQuotaExceeded", "BlobStore", "BlobTooLarge", "BuildError", "BuildResult", "CacheError",
    "CallRequest", "CallStats", "CheckedURL", "Closed", "ConfigError", "Conflict",
    "ConnectionCredentials", "ConnectionExpired", "ConnectionInfo", "ConnectionStore",
    "CorralError", "CredentialError", "Credentials", "DeadlineExceeded", "DeclaredDomain",
    "Evaluator", "Example",
    "FetchCache", "FetchClient", "FetchConfig", "FetchDenied", "FetchError",
    "FetchLimitExceeded", "FetchNetworkError", "FetchTimeout", "FetchTooLarge",
    "FormulaDeadlineExceeded", "FormulaDef", "FormulaError", "FormulaEvalError",
    "FormulaSyntaxError", "FuelExhausted", "GuestError", "GuestTrap", "Host", "InputTooLarge",
    "InvalidParameters", "Invocation", "InvocationError", "KeyRing", "LimitExceeded", "Limits",
    "Manifest", "ManifestError",
    "MemoryLimitExceeded", "Metrics", "MissingScopes", "QuotaExceeded", "NotFoundError", "OutputTooLarge",
    "Overloaded", "Pack",
    "PackValidationError", "ParamDef", "PayloadTooLarge", "PinnedTransport", "Registry",
    "ResolvedFormula", "ResultCache", "RowUpdateResult", "Sandbox", "SandboxConfig",
    "Scheduler", "SchedulerConfig", "Schema", "SecretKeyError", "Settings", "StackOverflow",
    "StorageFull",
    "StoreUnavailable",
    "SyncTableDef", "Unauthenticated", "build_pack", "check_url", "create_app",
    "load_manifest_file", "load_pack", "load_settings", "new_pack", "open_host",
    "pack_from_bytes", "parse_formula", "parse_manifest", "read_manifest", "serve",
    "set_custom_section", "validate_pack",
    "coerce_args",
]
