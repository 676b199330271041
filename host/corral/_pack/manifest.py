"""The pack manifest: what a pack declares in ``pack.toml`` and carries in its ``.wasm``.

``parse_manifest`` takes the TOML-shaped dict (from ``pack.toml`` or from the
``corral:manifest`` custom section, which holds the same data as JSON) and returns a
frozen :class:`Manifest`. Every rule broken raises :class:`ManifestError` naming the
field (``formulas[1].params[0].type``) and the rule.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Mapping

from .._errors import ManifestError, NotFoundError

NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
VERSION_RE = re.compile(r"^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$")
DOMAIN_RE = re.compile(r"^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(:\d{1,5})?$")

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


_LIMIT_CEILINGS = {
    "fuel": MAX_FUEL, "memory_bytes": MAX_MEMORY_BYTES, "timeout_ms": MAX_TIMEOUT_MS,
    "max_input_bytes": MAX_IO_BYTES, "max_output_bytes": MAX_IO_BYTES,
    "max_fetches": MAX_FETCHES, "max_log_bytes": MAX_IO_BYTES, "max_sync_pages": 100_000,
}


@dataclass(frozen=True)
class Schema:
    """A value schema: a type, an optional hint, and for objects their properties."""

    #: One of string, number, integer, boolean, array, object, any.
    type: str = "any"
    #: How to display the value (url, date, datetime, person, markdown, ...).
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
    def __repr__(self) -> str:
        return "<no default>"


_NO_DEFAULT: Any = _NoDefault()


@dataclass(frozen=True)
class ParamDef:
    #: A letter, then letters, digits or `_` (at most 64).
    name: str
    #: One of string, number, integer, boolean, array, object, any.
    type: str = "string"
    #: What the parameter is, for people.
    description: str = ""
    #: Whether it may be left out (implied by `default`).
    optional: bool = False
    #: The value used when the caller leaves it out.
    default: Any = _NO_DEFAULT
    #: The last parameter only: takes any number of arguments.
    vararg: bool = False
    #: Whether the pack's `autocomplete` op suggests values.
    autocomplete: bool = False
    #: The element type of an array parameter.
    items: str | None = None

    @property
    def has_default(self) -> bool:
        return self.default is not _NO_DEFAULT

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
    """Domains that receive credentials; empty means all of the pack's network_domains."""

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
    #: Domains (`name[:port]`) the pack may fetch from; their subdomains too.
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
        limits = {k: getattr(self.limits, k) for k in _LIMIT_CEILINGS}
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


# -- parsing -----------------------------------------------------------------------------


class _Reader:
    """Reads one table of the manifest, naming the field path in every error."""

    def __init__(self, data: Any, path: str, source: str | None) -> None:
        if not isinstance(data, Mapping):
            raise ManifestError("must be a table", field=path or "<root>", rule="type", source=source)
        self.data = data
        self.path = path
        self.source = source
        self.seen: set[str] = set()

    def where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def fail(self, key: str, message: str, rule: str) -> ManifestError:
        return ManifestError(message, field=self.where(key), rule=rule, source=self.source)

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None,
            required: bool = False) -> Any:
        self.seen.add(key)
        if key not in self.data:
            if required:
                raise self.fail(key, "is required", "required")
            return default
        value = self.data[key]
        if isinstance(value, bool) and bool not in _as_tuple(kind):
            raise self.fail(key, f"must be {_kind_name(kind)}, got a boolean", "type")
        if not isinstance(value, kind):
            raise self.fail(key, f"must be {_kind_name(kind)}, got {type(value).__name__}", "type")
        return value

    def sub(self, key: str, required: bool = False) -> _Reader | None:
        value = self.get(key, dict, required=required)
        return None if value is None else _Reader(value, self.where(key), self.source)

    def items(self, key: str) -> list[_Reader]:
        values = self.get(key, list, default=[])
        return [_Reader(v, f"{self.where(key)}[{i}]", self.source) for i, v in enumerate(values)]

    def name(self, key: str = "name") -> str:
        value = self.get(key, str, required=True)
        if not NAME_RE.match(value):
            raise self.fail(key, f"{value!r} must start with a letter and hold only letters, "
                                 "digits and '_' (at most 64)", "name")
        return str(value)

    def positive(self, key: str, default: int, ceiling: int) -> int:
        value = self.get(key, int, default=default)
        if value <= 0:
            raise self.fail(key, "must be a positive integer", "range")
        if value > ceiling:
            raise self.fail(key, f"must be at most {ceiling}", "range")
        return int(value)

    def done(self, extra_known: tuple[str, ...] = ()) -> None:
        unknown = sorted(set(self.data) - self.seen - set(extra_known))
        if unknown:
            raise self.fail(unknown[0], "is not a known field", "unknown_field")


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "a boolean",
             list: "an array", dict: "a table"}
    return " or ".join(names.get(k, k.__name__) for k in _as_tuple(kind))


def parse_manifest(data: Mapping[str, Any], *, source: str | None = None) -> Manifest:
    """Validate a manifest given as the dict form of ``pack.toml``."""
    root = _Reader(data, "", source)
    pack = root.sub("pack", required=True)
    assert pack is not None
    name = pack.name()
    version = pack.get("version", str, required=True)
    if not VERSION_RE.match(version):
        raise pack.fail("version", f"{version!r} is not a semantic version like 1.2.3", "semver")
    domains = _parse_domains(pack)
    description = pack.get("description", str, default="")
    wasi = pack.get("wasi", bool, default=False)
    build = pack.get("build", dict, default={})
    pack.done()
    auth = _parse_auth(root.sub("auth"), domains)
    limits = _parse_limits(root.sub("limits"))
    formulas = [_parse_formula(r, is_action=False) for r in root.items("formulas")]
    formulas += [_parse_formula(r, is_action=True) for r in root.items("actions")]
    tables = [_parse_sync_table(r) for r in root.items("sync_tables")]
    _check_unique([f.name for f in formulas], "formulas", "formula or action", source)
    _check_unique([t.name for t in tables], "sync_tables", "sync table", source)
    if not formulas and not tables:
        raise ManifestError("a pack must declare at least one formula, action or sync table",
                            field="formulas", rule="not_empty", source=source)
    root.done()
    return Manifest(name=name, version=version, description=description,
                    network_domains=tuple(domains), auth=auth, limits=limits,
                    formulas=tuple(formulas), sync_tables=tuple(tables), wasi=wasi, build=build)


def _parse_domains(pack: _Reader) -> list[str]:
    raw = pack.get("network_domains", list, default=[])
    domains: list[str] = []
    for i, item in enumerate(raw):
        key = f"network_domains[{i}]"
        if not isinstance(item, str):
            raise pack.fail(key, "must be a string", "type")
        domain = item.strip().lower().rstrip(".")
        if domain.startswith("*."):
            raise pack.fail(key, f"{item!r}: write the bare domain; subdomains are always admitted",
                            "domain")
        try:
            ascii_domain = _to_ascii(domain)
        except ValueError as exc:
            raise pack.fail(key, f"{item!r} is not a valid domain name: {exc}", "domain") from exc
        if not DOMAIN_RE.match(ascii_domain) or "." not in ascii_domain.split(":")[0]:
            raise pack.fail(key, f"{item!r} is not a domain name like api.example.com[:port]",
                            "domain")
        if _looks_like_ip(ascii_domain.split(":")[0]):
            raise pack.fail(key, f"{item!r} is an IP address; declare a domain name", "domain")
        domains.append(ascii_domain)
    return domains


def _to_ascii(domain: str) -> str:
    host, _, port = domain.partition(":")
    if host.isascii():
        ascii_host = host
    else:
        import idna

        try:
            ascii_host = idna.encode(host, uts46=True).decode()
        except idna.IDNAError as exc:
            raise ValueError(str(exc)) from exc
    return f"{ascii_host}:{port}" if port else ascii_host


def _looks_like_ip(host: str) -> bool:
    return bool(re.fullmatch(r"[0-9.]+|0x[0-9a-f.x]+", host))


def _parse_auth(reader: _Reader | None, domains: list[str]) -> AuthSpec:
    if reader is None:
        return AuthSpec()
    kind = reader.get("kind", str, required=True)
    if kind not in AUTH_KINDS:
        raise reader.fail("kind", f"{kind!r} is not one of {', '.join(AUTH_KINDS)}", "enum")
    required, optional = AUTH_KINDS[kind]
    options: dict[str, Any] = {}
    for key in required:
        options[key] = reader.get(key, (str, list, dict), required=True)
    for key in optional:
        if key in reader.data:
            options[key] = reader.get(key, (str, list, bool, dict))
    auth_domains = reader.get("domains", list, default=[])
    for i, d in enumerate(auth_domains):
        if not isinstance(d, str) or not _domain_covered(d.lower().rstrip("."), domains):
            raise reader.fail(f"domains[{i}]", f"{d!r} is not one of the pack's network_domains",
                              "subset")
    reader.done()
    return AuthSpec(kind=kind, options=options,
                    domains=tuple(d.lower().rstrip(".") for d in auth_domains))


def _domain_covered(domain: str, declared: list[str]) -> bool:
    host = domain.split(":")[0]
    return any(host == d.split(":")[0] or host.endswith("." + d.split(":")[0]) for d in declared)


def _parse_limits(reader: _Reader | None) -> Limits:
    if reader is None:
        return Limits()
    base = Limits()
    values: dict[str, int] = {}
    for key, ceiling in _LIMIT_CEILINGS.items():
        values[key] = reader.positive(key, getattr(base, key), ceiling)
    if "memory_mb" in reader.data:
        values["memory_bytes"] = reader.positive("memory_mb", 64, MAX_MEMORY_BYTES >> 20) << 20
    reader.done()
    return Limits(**values)


def _parse_param(reader: _Reader) -> ParamDef:
    name = reader.name()
    ptype = reader.get("type", str, default="string")
    if ptype not in VALUE_TYPES:
        raise reader.fail("type", f"{ptype!r} is not one of {', '.join(VALUE_TYPES)}", "enum")
    items = reader.get("items", str)
    if items is not None and (ptype != "array" or items not in VALUE_TYPES):
        raise reader.fail("items", "is only for array parameters and must name a value type",
                          "items")
    optional = reader.get("optional", bool, default=False)
    default = reader.data.get("default", _NO_DEFAULT)
    reader.seen.add("default")
    if default is not _NO_DEFAULT:
        optional = True
    param = ParamDef(name=name, type=ptype, items=items,
                     description=reader.get("description", str, default=""), optional=optional,
                     default=default, vararg=reader.get("vararg", bool, default=False),
                     autocomplete=reader.get("autocomplete", bool, default=False))
    reader.done()
    return param


def _parse_params(owner: _Reader) -> tuple[ParamDef, ...]:
    params = [_parse_param(r) for r in owner.items("params")]
    _check_unique([p.name for p in params], owner.where("params"), "parameter", owner.source)
    seen_optional = False
    for i, param in enumerate(params):
        where = f"params[{i}]"
        if param.vararg and i != len(params) - 1:
            raise owner.fail(where, "only the last parameter may be a vararg", "vararg_last")
        if param.optional:
            seen_optional = True
        elif seen_optional and not param.vararg:
            raise owner.fail(where, "a required parameter may not follow an optional one",
                             "optional_order")
    return tuple(params)


def _parse_formula(reader: _Reader, *, is_action: bool) -> FormulaDef:
    name = reader.name()
    params = _parse_params(reader)
    result_reader = reader.sub("result")
    result = parse_schema(result_reader) if result_reader else Schema(
        type=reader.get("result_type", str, default="any"))
    connection = reader.get("connection", str, default="optional")
    if connection not in CONNECTION_MODES:
        raise reader.fail("connection", f"must be one of {', '.join(CONNECTION_MODES)}", "enum")
    ttl = reader.get("cache_ttl_s", (int, float), default=0)
    if ttl < 0:
        raise reader.fail("cache_ttl_s", "must not be negative", "range")
    if is_action and ttl:
        raise reader.fail("cache_ttl_s", "actions are never cached", "action_cache")
    idempotent = reader.get("idempotent", bool, default=False)
    if idempotent and not is_action:
        raise reader.fail("idempotent", "is only meaningful for actions", "action_only")
    formula = FormulaDef(name=name, params=params, result=result,
                         description=reader.get("description", str, default=""),
                         is_action=is_action, idempotent=idempotent, cache_ttl_s=float(ttl),
                         connection=connection)
    reader.done()
    if result.type not in VALUE_TYPES:
        raise reader.fail("result_type", f"{result.type!r} is not a value type", "enum")
    return formula


def _parse_sync_table(reader: _Reader) -> SyncTableDef:
    name = reader.name()
    params = _parse_params(reader)
    schema_reader = reader.sub("schema", required=True)
    assert schema_reader is not None
    schema = parse_schema(schema_reader)
    if schema.type != "object":
        raise reader.fail("schema.type", "a sync table's schema must be an object", "object")
    if not schema.id_property:
        raise reader.fail("schema.id_property", "a sync table needs an id property", "required")
    connection = reader.get("connection", str, default="optional")
    if connection not in CONNECTION_MODES:
        raise reader.fail("connection", f"must be one of {', '.join(CONNECTION_MODES)}", "enum")
    table = SyncTableDef(name=name, schema=schema, params=params,
                         description=reader.get("description", str, default=""),
                         connection=connection, dynamic=reader.get("dynamic", bool, default=False),
                         updatable=reader.get("updatable", bool, default=False))
    reader.done()
    return table


def parse_schema(reader: _Reader) -> Schema:
    stype = reader.get("type", str, default="any")
    if stype not in VALUE_TYPES:
        raise reader.fail("type", f"{stype!r} is not one of {', '.join(VALUE_TYPES)}", "enum")
    hint = reader.get("hint", str)
    if hint is not None and hint not in HINTS:
        raise reader.fail("hint", f"{hint!r} is not one of {', '.join(HINTS)}", "enum")
    items_reader = reader.sub("items")
    items = parse_schema(items_reader) if items_reader else None
    if items is not None and stype != "array":
        raise reader.fail("items", "is only for arrays", "items")
    props_reader = reader.sub("properties")
    properties: list[tuple[str, Schema]] = []
    if props_reader is not None:
        if stype != "object":
            raise reader.fail("properties", "is only for objects", "properties")
        for key in props_reader.data:
            child = props_reader.sub(key)
            assert child is not None
            properties.append((key, parse_schema(child)))
    names = {k for k, _ in properties}
    for key in ("required", "featured"):
        for i, item in enumerate(reader.data.get(key) or []):
            if not isinstance(item, str):
                raise reader.fail(f"{key}[{i}]", "must be a property name (a string)", "type")
    schema = Schema(
        type=stype, hint=hint, description=reader.get("description", str, default=""),
        nullable=reader.get("nullable", bool, default=False), items=items,
        properties=tuple(properties),
        required=tuple(reader.get("required", list, default=[])),
        id_property=reader.get("id_property", str),
        display_property=reader.get("display_property", str),
        featured=tuple(reader.get("featured", list, default=[])),
        mutable=reader.get("mutable", bool, default=False))
    for key, value in (("id_property", schema.id_property),
                       ("display_property", schema.display_property)):
        if value is not None and value not in names:
            raise reader.fail(key, f"{value!r} is not one of the properties", "property")
    for i, value in enumerate(schema.featured + schema.required):
        if value not in names:
            raise reader.fail("featured" if i < len(schema.featured) else "required",
                              f"{value!r} is not one of the properties", "property")
    reader.done()
    return schema


def _check_unique(names: list[str], where: str, what: str, source: str | None) -> None:
    seen: set[str] = set()
    for name in names:
        if name.lower() in seen:
            raise ManifestError(f"{what} {name!r} is declared twice (names are case-insensitive)",
                                field=where, rule="unique", source=source)
        seen.add(name.lower())


def load_manifest_file(path: str | Path) -> Manifest:
    """Read and validate a ``pack.toml``."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ManifestError("file not found", source=str(path), rule="exists") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"not valid TOML: {exc}", source=str(path), rule="toml") from exc
    return parse_manifest(data, source=str(path))


def manifest_from_json(raw: bytes, *, source: str | None = None) -> Manifest:
    """Decode the JSON held in a pack's ``corral:manifest`` section."""
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"the embedded manifest is not valid JSON: {exc}", source=source,
                            rule="json") from exc
    return parse_manifest(data, source=source)
