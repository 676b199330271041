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
from .hint_options import HINT_SPECS

NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
VERSION_RE = re.compile(r"^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$")

VALUE_TYPES = ("string", "number", "integer", "boolean", "array", "object", "any")
HINTS = tuple(HINT_SPECS)  # each hint's types, options and rule: _pack/hint_options.py
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
    # the request-signing and minted-token kinds (see _pack/auth_options.py)
    "custom": (("params",), ()),
    "aws_access_key": (("service",), ("region",)),
    "aws_assume_role": (("service",), ("region",)),
    "google_service_account": (("scopes",), ()),
}
#: Options every kind but ``none`` may set: a per-connection endpoint (Coda's
#: ``requiresEndpointUrl`` and ``endpointDomain``).
AUTH_COMMON_OPTIONS = ("requires_endpoint_url", "endpoint_domain")

#: Host ceilings: a manifest may ask for less, never for more.
MAX_FUEL = 10_000_000_000
MAX_MEMORY_BYTES = 512 * 1024 * 1024
MAX_TIMEOUT_MS = 120_000
MAX_IO_BYTES = 64 * 1024 * 1024
MAX_FETCHES = 1000
MAX_BLOBS = 1000


@dataclass(frozen=True)
class Limits:
    #: Wasm instructions (fuel) one call may use.
    fuel: int = 500_000_000
    #: Linear memory one instance may grow to; `memory_mb` sets it in MiB.
    memory_bytes: int = 64 * 1024 * 1024
    #: Wall-clock time one call may run.
    timeout_ms: int = 10_000
    #: Size of one call's encoded arguments.
    max_input_bytes: int = 1024 * 1024
    #: Size of one call's encoded result.
    max_output_bytes: int = 4 * 1024 * 1024
    #: Fetches one call may make.
    max_fetches: int = 64
    #: Log output one call may write; the rest is dropped.
    max_log_bytes: int = 64 * 1024
    #: Pages one sync may run; a sync with more to come fails with `limit`.
    max_sync_pages: int = 1000
    #: Temporary blobs (`corral.blob`) one call may store.
    max_blobs: int = 16


LIMIT_CEILINGS = {
    "fuel": MAX_FUEL, "memory_bytes": MAX_MEMORY_BYTES, "timeout_ms": MAX_TIMEOUT_MS,
    "max_input_bytes": MAX_IO_BYTES, "max_output_bytes": MAX_IO_BYTES,
    "max_fetches": MAX_FETCHES, "max_log_bytes": MAX_IO_BYTES, "max_sync_pages": 100_000,
    "max_blobs": MAX_BLOBS,
}


@dataclass(frozen=True)
class Schema:
    """A value schema: a type, an optional hint, and for objects their properties."""

    #: One of string, number, integer, boolean, array, object, any.
    type: str = "any"
    #: How to display the value, and the rule it must follow (see Value hints below).
    hint: str | None = None
    #: What the value is, for people.
    description: str = ""
    #: Whether null is allowed too.
    nullable: bool = False
    #: The schema of each element (arrays only).
    items: Schema | None = None
    #: Property name -> schema (objects only).
    properties: tuple[tuple[str, Schema], ...] = ()
    #: Properties that must be present.
    required: tuple[str, ...] = ()
    #: The property that identifies a row (required for a sync table).
    id_property: str | None = None
    #: The property shown as the row's name.
    display_property: str | None = None
    #: Properties shown first.
    featured: tuple[str, ...] = ()
    #: Whether two-way sync may change the value.
    mutable: bool = False
    #: The hint's options (`minimum`, `currency_code`, `options`, ...): keys beside `hint`.
    hint_options: tuple[tuple[str, Any], ...] = ()

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
        for key, value in self.hint_options:
            out[key] = ([{"display": d, "value": v} for d, v in value] if key == "options"
                        else value)
        return out


class _NoDefault:
    """The default of a parameter that has none (``None`` is a default value)."""

    def __repr__(self) -> str:
        return "<no default>"


NO_DEFAULT: Any = _NoDefault()


@dataclass(frozen=True)
class ParamDef:
    #: A letter, then letters, digits or `_` (at most 64).
    name: str
    #: One of string, number, integer, boolean, date, html, markdown, image, file, email,
    #: array, object, any (see the parameter types table).
    type: str = "string"
    #: What the parameter is, for people.
    description: str = ""
    #: Whether it may be left out (implied by `default`).
    optional: bool = False
    #: The value used when the caller leaves it out.
    default: Any = NO_DEFAULT
    #: The last parameter only: takes any number of arguments.
    vararg: bool = False
    #: Whether the pack's `autocomplete` op suggests values.
    autocomplete: bool = False
    #: The element type of an array parameter.
    items: str | None = None
    #: Arrays only: items may be null (Coda's sparse arrays, e.g. a column's empty cells).
    sparse: bool = False
    #: A value the caller's UI may pre-fill (Coda's `suggestedValue`); never used as a default.
    suggested: Any = NO_DEFAULT

    @property
    def has_default(self) -> bool:
        return self.default is not NO_DEFAULT

    @property
    def has_suggested(self) -> bool:
        return self.suggested is not NO_DEFAULT

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type}
        if self.items:
            out["items"] = self.items
        if self.sparse:
            out["sparse"] = True
        if self.has_suggested:
            out["suggested"] = self.suggested
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
class Example:
    """One entry of a formula's `examples`: arguments in, the result they give."""

    #: The arguments, in call order, as a caller would pass them.
    params: tuple[Any, ...] = ()
    #: The value the formula returns for them (checked against its `result` schema).
    result: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {"params": list(self.params), "result": self.result}


@dataclass(frozen=True)
class FormulaDef:
    """A formula or an action (``is_action``) the pack exports."""

    #: A letter, then letters, digits or `_`; unique in the pack (case-insensitive).
    name: str
    #: The parameters, in call order: an array of tables (see params).
    params: tuple[ParamDef, ...] = ()
    #: The result's schema (a table); `result_type = "..."` is short for `result = { type = "..." }`.
    result: Schema = field(default_factory=Schema)
    #: What it does, for people.
    description: str = ""
    #: True for entries under `[[actions]]` (not a key).
    is_action: bool = False
    #: Actions only: safe to retry.
    idempotent: bool = False
    #: Formulas only: seconds a result is cached (0: never).
    cache_ttl_s: float = 0.0
    #: Whether a call needs a connection: none, optional or required.
    connection: str = "optional"
    #: Calls with known results, `[{ params = [...], result = ... }]`: checked against the
    #: signature and `result` at build, run by `corral validate --examples` (see examples).
    examples: tuple[Example, ...] = ()
    #: Whether the host asks the pack's `validate_parameters` op before each call.
    validate_parameters: bool = False
    #: Wall-clock time one call of this formula may run, at most the pack's
    #: `[limits] timeout_ms` (unset: that limit).
    timeout_ms: int | None = None

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
        if self.examples:
            out["examples"] = [example.to_dict() for example in self.examples]
        if self.validate_parameters:
            out["validate_parameters"] = True
        if self.timeout_ms is not None:
            out["timeout_ms"] = self.timeout_ms
        return out


@dataclass(frozen=True)
class SyncTableDef:
    #: A letter, then letters, digits or `_`; unique in the pack (case-insensitive).
    name: str
    #: The schema of one row: an object with an `id_property`.
    schema: Schema
    #: The table's parameters (see params).
    params: tuple[ParamDef, ...] = ()
    #: What the table holds, for people.
    description: str = ""
    #: Whether a sync needs a connection: none, optional or required.
    connection: str = "optional"
    #: Whether the table takes a URL and asks the pack for its schema.
    dynamic: bool = False
    #: Whether rows can be written back (two-way sync, op `sync_update`).
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

    #: How fetches are authenticated: one of the kinds below.
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
    #: The pack's name: a letter, then letters, digits or `_` (at most 64).
    name: str
    #: A semantic version like 1.2.3.
    version: str
    #: What the pack does, for people.
    description: str = ""
    #: Domains (`name[:port]`) the pack may fetch from; their subdomains too (kept in
    #: canonical form, see DeclaredDomain).
    network_domains: tuple[str, ...] = ()
    #: The `[auth]` table.
    auth: AuthSpec = field(default_factory=AuthSpec)
    #: The `[limits]` table.
    limits: Limits = field(default_factory=Limits)
    #: The `[[formulas]]` and `[[actions]]` tables.
    formulas: tuple[FormulaDef, ...] = ()
    #: The `[[sync_tables]]` tables.
    sync_tables: tuple[SyncTableDef, ...] = ()
    #: Reserved for WASI packs; this host refuses a pack that sets it.
    wasi: bool = False
    #: How `corral build` compiles the source (see `[pack.build]`).
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
