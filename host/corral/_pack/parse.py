"""Reading a pack manifest: the TOML or JSON form checked rule by rule into a :class:`Manifest`.

``parse_manifest`` takes the TOML-shaped dict (from ``pack.toml`` or from the
``corral:manifest`` custom section, which holds the same data as JSON) and returns a
frozen :class:`~corral._pack.manifest.Manifest`. Every rule broken raises
:class:`ManifestError` naming the field (``formulas[1].params[0].type``) and the rule.
Declared domains are read by :class:`~corral._domains.DeclaredDomain`, the reading the
fetch policy matches URLs with.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping

from .._domains import DeclaredDomain
from .._errors import ManifestError
from .auth_options import checked_auth_options
from .coerce import convert
from .hint_options import check_hint_schema, read_hint, reference_identities
from .manifest import (AUTH_COMMON_OPTIONS, AUTH_KINDS, CONNECTION_MODES, LIMIT_CEILINGS,
                       MAX_MEMORY_BYTES,
                       NAME_RE, NO_DEFAULT, VALUE_TYPES, VERSION_RE, AuthSpec, FormulaDef, Limits,
                       Manifest, ParamDef, Schema, SyncTableDef)
from .params import ITEM_TYPES, PARAM_TYPES, type_label
from .metadata import check_formula_timeouts, checked_examples, read_metadata


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
    check_formula_timeouts(formulas, limits, source)
    _check_unique([t.name for t in tables], "sync_tables", "sync table", source)
    if not formulas and not tables:
        raise ManifestError("a pack must declare at least one formula, action or sync table",
                            field="formulas", rule="not_empty", source=source)
    _check_identities(formulas, tables, source)
    root.done()
    return Manifest(name=name, version=version, description=description,
                    network_domains=tuple(map(str, domains)), auth=auth, limits=limits,
                    formulas=tuple(formulas), sync_tables=tuple(tables), wasi=wasi, build=build)


def _parse_domains(pack: _Reader) -> list[DeclaredDomain]:
    raw = pack.get("network_domains", list, default=[])
    return [_declared(pack, f"network_domains[{i}]", item) for i, item in enumerate(raw)]


def _declared(reader: _Reader, key: str, item: Any) -> DeclaredDomain:
    if not isinstance(item, str):
        raise reader.fail(key, "must be a string", "type")
    try:
        return DeclaredDomain.parse(item)
    except ManifestError as exc:
        raise reader.fail(key, exc.message, "domain") from exc


def _parse_auth(reader: _Reader | None, domains: list[DeclaredDomain]) -> AuthSpec:
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
    for key in AUTH_COMMON_OPTIONS:
        if key in reader.data and kind != "none":
            options[key] = reader.get(key, (str, bool))
    checked = checked_auth_options(kind, options, domains)
    auth_domains = _parse_auth_domains(reader, domains)
    reader.done()
    return AuthSpec(kind=kind, options=checked, domains=tuple(map(str, auth_domains)))


def _parse_auth_domains(reader: _Reader, network: list[DeclaredDomain]) -> list[DeclaredDomain]:
    """Where credentials go: each entry must admit only what some network domain admits."""
    declared: list[DeclaredDomain] = []
    for i, item in enumerate(reader.get("domains", list, default=[])):
        domain = _declared(reader, f"domains[{i}]", item)
        if not any(n.covers(domain) for n in network):
            raise reader.fail(f"domains[{i}]", f"{item!r} is not one of the pack's "
                              "network_domains (or a subdomain of one, on a port it admits)",
                              "subset")
        declared.append(domain)
    return declared


def _parse_limits(reader: _Reader | None) -> Limits:
    if reader is None:
        return Limits()
    base = Limits()
    values: dict[str, int] = {}
    for key, ceiling in LIMIT_CEILINGS.items():
        values[key] = reader.positive(key, getattr(base, key), ceiling)
    if "memory_mb" in reader.data:
        values["memory_bytes"] = reader.positive("memory_mb", 64, MAX_MEMORY_BYTES >> 20) << 20
    reader.done()
    return Limits(**values)


def _parse_param(reader: _Reader) -> ParamDef:
    name = reader.name()
    ptype = reader.get("type", str, default="string")
    if ptype not in PARAM_TYPES:
        raise reader.fail("type", f"{ptype!r} is not one of {', '.join(PARAM_TYPES)}", "enum")
    items = reader.get("items", str)
    if items is not None and (ptype != "array" or items not in ITEM_TYPES):
        raise reader.fail("items", "is only for array parameters and must name one of "
                          f"{', '.join(ITEM_TYPES)}", "items")
    sparse = reader.get("sparse", bool, default=False)
    if sparse and ptype != "array":
        raise reader.fail("sparse", "is only for array parameters", "sparse")
    optional = reader.get("optional", bool, default=False)
    default = reader.data.get("default", NO_DEFAULT)
    reader.seen.add("default")
    if default is not NO_DEFAULT:
        optional = True
    param = ParamDef(name=name, type=ptype, items=items, sparse=sparse,
                     description=reader.get("description", str, default=""), optional=optional,
                     vararg=reader.get("vararg", bool, default=False),
                     autocomplete=reader.get("autocomplete", bool, default=False))
    param = replace(param, default=_declared_value(reader, "default", param),
                    suggested=_declared_value(reader, "suggested", param))
    reader.done()
    return param


def _declared_value(reader: _Reader, key: str, param: ParamDef) -> Any:
    """A default or suggested value, checked against the type and kept in its coerced form."""
    reader.seen.add(key)
    value = reader.data.get(key, NO_DEFAULT)
    if value is NO_DEFAULT or value is None:
        return value
    try:
        return convert(param, value)
    except (ValueError, TypeError, OverflowError) as exc:
        label = type_label(param.type, param.items, param.sparse)
        raise reader.fail(key, f"is not a valid {label} for parameter {param.name!r}: {exc}",
                          "param_value") from None


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
                         connection=connection, **read_metadata(reader))
    reader.done()
    if result.type not in VALUE_TYPES:
        raise reader.fail("result_type", f"{result.type!r} is not a value type", "enum")
    checked_examples(formula, reader)
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
    hint, hint_options = read_hint(reader, stype)
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
        mutable=reader.get("mutable", bool, default=False), hint_options=hint_options)
    for key, value in (("id_property", schema.id_property),
                       ("display_property", schema.display_property)):
        if value is not None and value not in names:
            raise reader.fail(key, f"{value!r} is not one of the properties", "property")
    for i, value in enumerate(schema.featured + schema.required):
        if value not in names:
            raise reader.fail("featured" if i < len(schema.featured) else "required",
                              f"{value!r} is not one of the properties", "property")
    check_hint_schema(reader, schema)
    reader.done()
    return schema


def _check_identities(formulas: list[FormulaDef], tables: list[SyncTableDef],
                      source: str | None) -> None:
    """Each reference hint's ``identity`` must name one of the pack's sync tables."""
    names = {t.name for t in tables}
    places = [(f"{'actions' if f.is_action else 'formulas'}[{i}].result", f.result)
              for kind in (False, True)
              for i, f in enumerate(f for f in formulas if f.is_action == kind)]
    places += [(f"sync_tables[{i}].schema", t.schema) for i, t in enumerate(tables)]
    for where, schema in places:
        for field_path, identity in reference_identities(schema, where):
            if identity not in names:
                raise ManifestError(f"{identity!r} is not one of the pack's sync tables "
                                    f"({', '.join(sorted(names)) or 'it has none'})",
                                    field=field_path, rule="identity", source=source)


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
