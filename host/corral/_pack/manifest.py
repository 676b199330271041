"""The pack manifest: what a pack declares in ``pack.toml`` and carries in its ``.wasm``.

The frozen model — :class:`Manifest` and the formulas, sync tables, schemas, auth and
limits it holds — and the vocabulary and host ceilings its fields are checked against.
Reading and validating the TOML or JSON form is :mod:`corral._pack.parse`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Mapping

from .._errors import NotFoundError

NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
VERSION_RE = re.compile(r"^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$")

VALUE_TYPES = ("string", "number", "integer", "boolean", "array", "object", "any")
HINTS = ("date", "datetime", "time", "duration", "email", "url", "image", "markdown", "html",
         "currency", "percent", "person", "reference", "attachment", "slider", "scale",
         "embed", "progress_bar", "toggle", "code", "phone")
CONNECTION_MODES = ("none", "optional", "required")
AUTH_KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # kind: (required options, optional options)
    "none": ((), ()),
    "bearer": ((), ("prefix",)),
    "header": (("name",), ("prefix",)),
    "headers": (("headers",), ()),
    "query": (("param",), ()),
    "queries": (("params",), ()),
    "basic": ((), ()),
    "oauth2_code": (("authorize_url", "token_url"),
                    ("scopes", "pkce", "scope_delimiter", "prefix", "extra_authorize_params")),
    "oauth2_client_credentials": (("token_url",), ("scopes", "scope_delimiter", "prefix")),
}

#: Host ceilings: a manifest may ask for less, never for more.
MAX_FUEL = 10_000_000_000
MAX_MEMORY_BYTES = 512 * 1024 * 1024
MAX_TIMEOUT_MS = 120_000
MAX_IO_BYTES = 64 * 1024 * 1024
MAX_FETCHES = 1000


@dataclass(frozen=True)
class Limits:
    fuel: int = 500_000_000
    memory_bytes: int = 64 * 1024 * 1024
    timeout_ms: int = 10_000
    max_input_bytes: int = 1024 * 1024
    max_output_bytes: int = 4 * 1024 * 1024
    max_fetches: int = 64
    max_log_bytes: int = 64 * 1024
    max_sync_pages: int = 1000


LIMIT_CEILINGS = {
    "fuel": MAX_FUEL, "memory_bytes": MAX_MEMORY_BYTES, "timeout_ms": MAX_TIMEOUT_MS,
    "max_input_bytes": MAX_IO_BYTES, "max_output_bytes": MAX_IO_BYTES,
    "max_fetches": MAX_FETCHES, "max_log_bytes": MAX_IO_BYTES, "max_sync_pages": 100_000,
}


@dataclass(frozen=True)
class Schema:
    """A value schema: a type, an optional hint, and for objects their properties."""

    type: str = "any"
    hint: str | None = None
    description: str = ""
    nullable: bool = False
    items: Schema | None = None
    properties: tuple[tuple[str, Schema], ...] = ()
    required: tuple[str, ...] = ()
    id_property: str | None = None
    display_property: str | None = None
    featured: tuple[str, ...] = ()
    mutable: bool = False

    def property(self, name: str) -> Schema | None:
        for key, value in self.properties:
            if key == name:
                return value
        return None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.hint:
            out["hint"] = self.hint
        if self.description:
            out["description"] = self.description
        if self.nullable:
            out["nullable"] = True
        if self.items is not None:
            out["items"] = self.items.to_dict()
        if self.properties:
            out["properties"] = {k: v.to_dict() for k, v in self.properties}
        if self.required:
            out["required"] = list(self.required)
        if self.id_property:
            out["id_property"] = self.id_property
        if self.display_property:
            out["display_property"] = self.display_property
        if self.featured:
            out["featured"] = list(self.featured)
        if self.mutable:
            out["mutable"] = True
        return out


class _NoDefault:
    """The default of a parameter that has none (``None`` is a default value)."""

    def __repr__(self) -> str:
        return "<no default>"


NO_DEFAULT: Any = _NoDefault()


@dataclass(frozen=True)
class ParamDef:
    name: str
    type: str = "string"
    description: str = ""
    optional: bool = False
    default: Any = NO_DEFAULT
    vararg: bool = False
    autocomplete: bool = False
    items: str | None = None

    @property
    def has_default(self) -> bool:
        return self.default is not NO_DEFAULT

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type}
        if self.items:
            out["items"] = self.items
        if self.description:
            out["description"] = self.description
        if self.optional:
            out["optional"] = True
        if self.has_default:
            out["default"] = self.default
        if self.vararg:
            out["vararg"] = True
        if self.autocomplete:
            out["autocomplete"] = True
        return out


@dataclass(frozen=True)
class FormulaDef:
    """A formula or an action (``is_action``) the pack exports."""

    name: str
    params: tuple[ParamDef, ...] = ()
    result: Schema = field(default_factory=Schema)
    description: str = ""
    is_action: bool = False
    idempotent: bool = False
    cache_ttl_s: float = 0.0
    connection: str = "optional"

    @property
    def cacheable(self) -> bool:
        return not self.is_action and self.cache_ttl_s > 0

    @cached_property
    def signature(self) -> tuple[tuple[ParamDef, ...], ParamDef | None, int]:
        """The fixed parameters, the trailing vararg (or None) and how many are required."""
        vararg = self.params[-1] if self.params and self.params[-1].vararg else None
        fixed = self.params[:-1] if vararg else self.params
        return fixed, vararg, sum(1 for p in fixed if not p.optional)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name, "params": [p.to_dict() for p in self.params],
            "result": self.result.to_dict(), "connection": self.connection,
        }
        if self.description:
            out["description"] = self.description
        if self.is_action:
            out["idempotent"] = self.idempotent
        else:
            out["cache_ttl_s"] = self.cache_ttl_s
        return out


@dataclass(frozen=True)
class SyncTableDef:
    name: str
    schema: Schema
    params: tuple[ParamDef, ...] = ()
    description: str = ""
    connection: str = "optional"
    dynamic: bool = False
    updatable: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "schema": self.schema.to_dict(),
                               "params": [p.to_dict() for p in self.params],
                               "connection": self.connection}
        if self.description:
            out["description"] = self.description
        if self.dynamic:
            out["dynamic"] = True
        if self.updatable:
            out["updatable"] = True
        return out


@dataclass(frozen=True)
class AuthSpec:
    """How the host authenticates the pack's fetches; secrets live in connections."""

    kind: str = "none"
    options: Mapping[str, Any] = field(default_factory=dict)
    domains: tuple[str, ...] = ()
    """Domains that receive credentials (canonical ``name[:port]``); empty means all of
    the pack's network_domains."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, **dict(self.options)}
        if self.domains:
            out["domains"] = list(self.domains)
        return out


@dataclass(frozen=True)
class Manifest:
    name: str
    version: str
    description: str = ""
    network_domains: tuple[str, ...] = ()
    """Canonical ``name[:port]`` text of each declared domain (see DeclaredDomain)."""
    auth: AuthSpec = field(default_factory=AuthSpec)
    limits: Limits = field(default_factory=Limits)
    formulas: tuple[FormulaDef, ...] = ()
    sync_tables: tuple[SyncTableDef, ...] = ()
    wasi: bool = False
    build: Mapping[str, Any] = field(default_factory=dict)

    def formula(self, name: str) -> FormulaDef:
        """Look a formula or action up: exact name first, then a unique case-insensitive match."""
        found: FormulaDef = _lookup(self.formulas, name,
                                    f"pack {self.name!r} has no formula or action")
        return found

    def sync_table(self, name: str) -> SyncTableDef:
        found: SyncTableDef = _lookup(self.sync_tables, name,
                                      f"pack {self.name!r} has no sync table")
        return found

    def to_dict(self) -> dict[str, Any]:
        """The JSON form embedded in the ``corral:manifest`` section (round-trips)."""
        limits = {k: getattr(self.limits, k) for k in LIMIT_CEILINGS}
        return {
            "pack": {"name": self.name, "version": self.version, "description": self.description,
                     "network_domains": list(self.network_domains), "wasi": self.wasi},
            "auth": self.auth.to_dict(),
            "limits": limits,
            "formulas": [f.to_dict() for f in self.formulas if not f.is_action],
            "actions": [f.to_dict() for f in self.formulas if f.is_action],
            "sync_tables": [t.to_dict() for t in self.sync_tables],
        }

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":")).encode()


def _lookup(items: tuple[Any, ...], name: str, what: str) -> Any:
    for item in items:
        if item.name == name:
            return item
    folded = [item for item in items if item.name.lower() == name.lower()]
    if len(folded) == 1:
        return folded[0]
    raise NotFoundError(f"{what} named {name!r}", name=name)
