"""A loaded pack: its manifest, its compiled module, and calls into it."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path
from typing import Any, Mapping

from .._pack import abi as _abi
from .._pack.coerce import coerce_args
from .._errors import (
    BadOutput,
    FetchDenied,
    GuestError,
    MemoryLimitExceeded,
    MissingScopes,
    NotFoundError,
    PackValidationError,
)
from .._pack.manifest import FormulaDef, Manifest
from .._pack.metadata import formula_limits
from .._pack.parse import manifest_from_json
from .._pack.validation import check_validation
from .._sandbox.sandbox import CallStats, CompiledPack, HostCalls, Sandbox, SandboxConfig
from .._pack.schema import check_result
from .._pack.wasm import MANIFEST_SECTION, custom_sections
from .._types import DEFAULT_INVOCATION

log = logging.getLogger("corral.pack")

#: Ops that run one formula or action, under its own limits (its ``timeout_ms``).
_FORMULA_OPS = frozenset({"formula", "action", "validate_parameters"})


class OfflineHost:
    """Host calls for a pack run without a network: every fetch is refused."""

    def __init__(self, pack: str) -> None:
        self._log = logging.getLogger(f"corral.pack.{pack}")

    def fetch(self, request: dict[str, Any], deadline: float) -> dict[str, Any]:
        raise FetchDenied("this pack was loaded without a fetch client, so it has no network",
                          url=str(request.get("url", ""))[:200], rule="no_network")

    def log(self, level: str, message: str) -> None:
        self._log.log(logging.getLevelName(level.upper()) if level != "warn" else logging.WARNING,
                      "%s", message)


def read_manifest(wasm: bytes, *, source: str | None = None) -> Manifest:
    """The manifest embedded in a pack's ``corral:manifest`` section."""
    sections = custom_sections(wasm, MANIFEST_SECTION)
    if not sections:
        raise PackValidationError(f"{source or 'the module'} has no '{MANIFEST_SECTION}' custom "
                                  "section; build it with `corral build`")
    if len(sections) > 1:
        raise PackValidationError(f"{source or 'the module'} has {len(sections)} "
                                  f"'{MANIFEST_SECTION}' sections; a pack has exactly one")
    return manifest_from_json(sections[0], source=source)


class Pack:
    """One pack, compiled and ready; every call runs in a fresh sandboxed instance."""

    def __init__(self, wasm: bytes, manifest: Manifest, compiled: CompiledPack,
                 sandbox: Sandbox, *, path: Path | None = None) -> None:
        self.manifest = manifest
        self.compiled = compiled
        self.sandbox = sandbox
        self.path = path
        self.size = len(wasm)
        #: Declared domains the operator approved for calls that hold a connection, beyond
        #: the auth domains (set by the registry; see corral._runtime.registry).
        self.approved_domains: tuple[str, ...] = ()
        #: The registry's stable numeric id of this pack's name (None until registered).
        self.pack_id: int | None = None
        self._offline = OfflineHost(manifest.name)
        self._formulas = {f.name: f for f in manifest.formulas}
        # A call through Host/Calls adds the caller's own context over these defaults.
        self._limits = {f.name: formula_limits(f, manifest.limits) for f in manifest.formulas}
        self._base_ctx = {"pack": manifest.name, "version": manifest.version,
                          "abi": _abi.ABI_VERSION, **DEFAULT_INVOCATION.ctx()}

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def version(self) -> str:
        return self.manifest.version

    @property
    def sha256(self) -> str:
        return self.compiled.sha256

    def __repr__(self) -> str:
        return f"<Pack {self.name} {self.version} sha256={self.sha256[:12]}>"

    def invoke(self, op: str, name: str, args: list[Any] | tuple[Any, ...] = (), *,
               ctx: Mapping[str, Any] | None = None, host: HostCalls | None = None,
               deadline: float | None = None, stats: CallStats | None = None,
               extra: Mapping[str, Any] | None = None) -> Any:
        """Run one ABI op and return the guest's ``ok`` value (raises on ``err``)."""
        request = _abi.build_request(op, name, args, self._ctx(ctx), **dict(extra or {}))
        stats = stats if stats is not None else CallStats()
        host = host if host is not None else self._offline
        limits = self._limits.get(name, self.manifest.limits) if op in _FORMULA_OPS \
            else self.manifest.limits
        raw = self.sandbox.run(self.compiled, request, limits=limits, host=host,
                               pack=self.name, formula=name, deadline=deadline, stats=stats)
        reply = _abi.parse_reply(raw, pack=self.name, formula=name)
        if reply.ok:
            return reply.value
        raise self._guest_failure(reply, name, stats)

    def check_parameters(self, definition: FormulaDef, args: list[Any] | tuple[Any, ...], *,
                         ctx: Mapping[str, Any] | None = None, host: HostCalls | None = None,
                         deadline: float | None = None) -> None:
        """Ask the pack's ``validate_parameters`` op about ``args`` (already coerced) if
        ``definition`` declares it; raise InvalidParameters on a verdict of invalid."""
        if not definition.validate_parameters:
            return
        name = definition.name
        try:
            verdict = self.invoke("validate_parameters", name, args, ctx=ctx, host=host,
                                  deadline=deadline)
        except NotFoundError as exc:
            raise BadOutput("declares validate_parameters = true but the pack does not "
                            f"answer that op ({_reason(exc, name)})", pack=self.name,
                            formula=name) from exc
        except GuestError as exc:
            raise GuestError(f"validate_parameters failed: {_reason(exc, name)}",
                             guest_kind=exc.guest_kind, pack=self.name, formula=name,
                             status=exc.status, retry_after_s=exc.retry_after_s) from exc
        check_validation(verdict, definition, pack=self.name)

    def _ctx(self, ctx: Mapping[str, Any] | None) -> dict[str, Any]:
        return {**self._base_ctx, **ctx} if ctx else self._base_ctx

    def _guest_failure(self, reply: _abi.GuestReply, name: str, stats: CallStats) -> Exception:
        if reply.error_kind == "fetch" and stats.last_fetch_error is not None:
            error = stats.last_fetch_error
            error.details.update(pack=self.name, formula=name)
            return error
        if reply.error_kind == "blob" and stats.last_blob_error is not None:
            blob_error = stats.last_blob_error
            blob_error.details.update(pack=self.name, formula=name)
            return blob_error
        if reply.error_kind == "internal" and "OutOfMemory" in reply.message:
            limit = self.manifest.limits.memory_bytes
            return MemoryLimitExceeded(f"the guest ran out of memory under its limit of {limit} "
                                       "bytes", limit="memory_bytes", value=limit, pack=self.name,
                                       formula=name)
        if reply.error_kind == "not_found":
            return NotFoundError(f"{self.name}.{name}: {reply.message}", pack=self.name,
                                 formula=name)
        message = reply.message or f"the pack reported a {reply.error_kind} error"
        if reply.missing_scopes:
            return MissingScopes(message, scopes=reply.missing_scopes, status=reply.status,
                                 pack=self.name, formula=name)
        return GuestError(message, guest_kind=reply.error_kind, pack=self.name, formula=name,
                          status=reply.status, retry_after_s=reply.retry_after_s)

    def call(self, formula: str, *args: Any, host: HostCalls | None = None,
             ctx: Mapping[str, Any] | None = None, deadline: float | None = None,
             stats: CallStats | None = None) -> Any:
        """Call a formula or action by name with positional arguments."""
        definition = self._formulas.get(formula) or self.manifest.formula(formula)
        coerced = coerce_args(definition, args, pack=self.name)
        op = "action" if definition.is_action else "formula"
        self.check_parameters(definition, coerced, ctx=ctx, host=host, deadline=deadline)
        value = self.invoke(op, definition.name, coerced, ctx=ctx, host=host, deadline=deadline,
                            stats=stats)
        return check_result(definition.result, value, pack=self.name, formula=definition.name)


def _reason(exc: Exception, name: str) -> str:
    """An error's message without the ``pack.formula: `` prefix it was given."""
    message = getattr(exc, "message", str(exc))
    head, sep, rest = message.partition(": ")
    return rest if sep and head.endswith(f".{name}") else message


_default_sandbox: Sandbox | None = None
_default_lock = threading.Lock()


def default_cache_dir() -> Path:
    """Where load_pack's default sandbox keeps precompiled modules (``CORRAL_CACHE_DIR``, else
    the user's cache); a Host keeps them in its data directory's ``modules/``."""
    env = os.environ.get("CORRAL_CACHE_DIR")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "corral" / "modules"


def default_sandbox() -> Sandbox:
    """The process-wide sandbox used by :func:`load_pack` when none is given."""
    global _default_sandbox
    with _default_lock:
        if _default_sandbox is None:
            _default_sandbox = Sandbox(SandboxConfig(cache_dir=default_cache_dir()))
        return _default_sandbox


def pack_from_bytes(wasm: bytes, *, sandbox: Sandbox | None = None, source: str | None = None,
                    path: Path | None = None) -> Pack:
    """Validate and compile a pack from its ``.wasm`` bytes."""
    manifest = read_manifest(wasm, source=source)
    sandbox = sandbox or default_sandbox()
    compiled = sandbox.compile(wasm, name=manifest.name, wasi=manifest.wasi)
    return Pack(wasm, manifest, compiled, sandbox, path=path)


def load_pack(path: str | os.PathLike[str], *, sandbox: Sandbox | None = None) -> Pack:
    """Load a pack from a ``.wasm`` file: ``corral.load_pack("hello.wasm").call("Greet", "Ada")``."""
    file = Path(path)
    try:
        wasm = file.read_bytes()
    except OSError as exc:
        raise PackValidationError(f"cannot read pack {file}: {exc.strerror}") from exc
    return pack_from_bytes(wasm, sandbox=sandbox, source=str(file), path=file)


def validate_pack(wasm: bytes, *, source: str | None = None,
                  sandbox: Sandbox | None = None) -> Manifest:
    """Check a ``.wasm`` against ABI v1 and its manifest; runs no guest code."""
    return pack_from_bytes(wasm, sandbox=sandbox, source=source).manifest


def wasm_sha256(wasm: bytes) -> str:
    return hashlib.sha256(wasm).hexdigest()

