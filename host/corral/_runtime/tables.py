"""The pack model beyond formulas: sync tables, two-way sync, dynamic tables, autocomplete.

A sync runs the guest's ``sync`` op page after page, handing each page's continuation
back, under one deadline and the manifest's ``limits.max_sync_pages``. Every row is
checked against the table's schema before the caller sees it: the id property is present
and unique across the whole sync, and every type matches. A broken row is the pack's
fault, reported as :class:`BadOutput` naming the path, e.g.
``rows[3].author.login: expected string, got null``.

The other ops here (``sync_update``, ``dynamic_urls``, ``dynamic_schema``,
``autocomplete``) check what goes in against the manifest and what comes out against
the ABI, and name the place of every mismatch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

from .._pack.coerce import coerce_args
from .._errors import ArgumentError, BadOutput, LimitExceeded, ManifestError, NotFoundError
from .._pack.manifest import FormulaDef, ParamDef, Schema, SyncTableDef
from .._pack.parse import _Reader, parse_schema
from .._pack.hints import blank_update_problem, normalise
from .._pack.schema import schema_errors, type_name

if TYPE_CHECKING:
    from .._types import Invocation
    from .calls import Calls, CallSession
    from .pack import Pack

Row = dict[str, Any]


@dataclass(frozen=True)
class RowUpdateResult:
    """The outcome of one row of a ``sync_update`` batch: the row as saved, or an error."""

    ok: bool
    row: Row | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.row} if self.ok else {"err": self.error}


def _as_formula(table: SyncTableDef) -> FormulaDef:
    """A sync table's parameters in the shape argument coercion takes."""
    return FormulaDef(name=table.name, params=table.params, connection=table.connection)


def _bad(message: str, pack: Pack, name: str, path: str, **details: Any) -> BadOutput:
    return BadOutput(message, pack=pack.name, formula=name, path=path, **details)


# -- sync -----------------------------------------------------------------------------------


def run_sync(calls: Calls, pack: Pack, table: str, args: Sequence[Any], *,
             connection: str | None = None, principal: str | None = None,
             deadline_s: float | None = None, max_pages: int | None = None,
             dynamic_url: str | None = None,
             invocation: Invocation | None = None) -> Iterator[list[Row]]:
    """Run a sync table, yielding each page's checked rows as it arrives.

    Arguments, the connection and (for a dynamic table) the schema are checked before
    this returns; the pages run as the iterator is consumed. ``max_pages`` stops the sync
    quietly after that many pages (a preview); running into the manifest's
    ``limits.max_sync_pages`` with more pages to come raises :class:`LimitExceeded`.
    """
    definition: SyncTableDef = pack.manifest.sync_table(table)
    coerced = coerce_args(_as_formula(definition), args, pack=pack.name)
    if max_pages is not None and max_pages <= 0:
        raise ArgumentError(f"max_pages must be a positive integer, got {max_pages}")
    _check_dynamic_url(pack, definition, dynamic_url)
    session = calls.session(pack, definition.connection, connection, principal,
                            deadline_s, invocation)
    schema = (_fetch_dynamic_schema(session, definition, dynamic_url) if dynamic_url
              else definition.schema)
    return _pages(session, definition, coerced, schema, max_pages, dynamic_url)


def _check_dynamic_url(pack: Pack, table: SyncTableDef, url: str | None) -> None:
    if table.dynamic and not url:
        raise ArgumentError(f"{pack.name}.{table.name} is a dynamic table: pass the URL of "
                            "the table to sync (dynamic_urls lists them)", table=table.name)
    if not table.dynamic and url is not None:
        raise ArgumentError(f"{pack.name}.{table.name} is not a dynamic table; it takes no URL",
                            table=table.name)
    if url is not None and not isinstance(url, str):
        raise ArgumentError(f"the dynamic table URL must be a string, got {type_name(url)}")


def _pages(session: CallSession, table: SyncTableDef, args: tuple[Any, ...], schema: Schema,
           max_pages: int | None, url: str | None) -> Iterator[list[Row]]:
    pack = session.pack
    limit = pack.manifest.limits.max_sync_pages
    checker = _RowChecker(schema, pack, table.name)
    continuation: Any = None
    pages = 0
    while True:
        extra: dict[str, Any] = {}
        if continuation is not None:
            extra["continuation"] = continuation
        if url is not None:
            extra["url"] = url
        page = session.invoke("sync", table.name, args, extra)
        pages += 1
        rows, following = _split_page(page, pack, table.name, pages)
        checker.check(rows, pages)
        yield rows
        if following is None or (max_pages is not None and pages >= max_pages):
            return
        if following == continuation:
            raise _bad(f"page {pages} returned the continuation it was given; the sync would "
                       "never end", pack, table.name, "continuation", page=pages)
        if pages >= limit:
            raise LimitExceeded(f"the sync has more than {limit} pages (limits.max_sync_pages)",
                                limit="max_sync_pages", value=limit, pack=pack.name,
                                formula=table.name)
        continuation = following


def _split_page(page: Any, pack: Pack, name: str, number: int) -> tuple[list[Any], Any]:
    if not isinstance(page, dict):
        raise _bad(f"page {number}: expected a map {{rows, continuation}}, got "
                   f"{type_name(page)}", pack, name, "page", page=number)
    rows = page.get("rows")
    if not isinstance(rows, list):
        raise _bad(f"page {number}: rows: expected array, got {type_name(rows)}", pack, name,
                   "rows", page=number)
    return rows, page.get("continuation")


class _RowChecker:
    """Checks rows against the schema; ids must be unique across every page of one sync."""

    def __init__(self, schema: Schema, pack: Pack, name: str) -> None:
        self._schema = schema
        self._pack = pack
        self._name = name
        self._id = schema.id_property or ""
        self._seen: dict[tuple[str, Any], int] = {}
        self._count = 0

    def check(self, rows: list[Any], page: int) -> None:
        """Check each row; rows are normalised in place (hinted values in canonical form)."""
        for index, row in enumerate(rows):
            path = f"rows[{self._count}]"
            errors = schema_errors(self._schema, row, path)
            if errors:
                raise _bad(f"{errors[0]} (page {page})", self._pack, self._name,
                           errors[0].split(":")[0], page=page)
            row = rows[index] = normalise(self._schema, row)
            self._check_id(row, path, page)
            self._count += 1

    def _check_id(self, row: Row, path: str, page: int) -> None:
        where = f"{path}.{self._id}"
        value = row.get(self._id)
        if value is None:
            raise _bad(f"{where}: the id property is missing (page {page})", self._pack,
                       self._name, where, page=page)
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise _bad(f"{where}: an id must be a string or an integer, got {type_name(value)} "
                       f"(page {page})", self._pack, self._name, where, page=page)
        key = (type(value).__name__, value)
        if key in self._seen:
            raise _bad(f"{where}: duplicate id {value!r}, first seen at "
                       f"rows[{self._seen[key]}] (page {page})", self._pack, self._name, where,
                       page=page)
        self._seen[key] = self._count


# -- two-way sync ---------------------------------------------------------------------------


def sync_update(calls: Calls, pack: Pack, table: str, updates: Sequence[Mapping[str, Any]],
                args: Sequence[Any] = (), *, connection: str | None = None,
                principal: str | None = None, deadline_s: float | None = None,
                dynamic_url: str | None = None,
                invocation: Invocation | None = None) -> list[RowUpdateResult]:
    """Send edited rows back through the pack; one result per update, in order.

    Each update is ``{previous: row, new: row}`` with an optional ``updated_fields``
    (computed from the two rows when absent). Only properties the schema marks
    ``mutable`` may change, and the id may not.
    """
    definition: SyncTableDef = pack.manifest.sync_table(table)
    if not definition.updatable:
        raise ArgumentError(f"{pack.name}.{definition.name} is not updatable (its manifest "
                            "entry does not set updatable = true)", table=definition.name)
    _check_dynamic_url(pack, definition, dynamic_url)
    coerced = coerce_args(_as_formula(definition), args, pack=pack.name) if args else ()
    session = calls.session(pack, definition.connection, connection, principal,
                            deadline_s, invocation)
    schema = (_fetch_dynamic_schema(session, definition, dynamic_url) if dynamic_url
              else definition.schema)
    if not isinstance(updates, (list, tuple)):
        raise ArgumentError(f"updates must be an array, got {type_name(updates)}")
    batch = [_checked_update(i, update, schema) for i, update in enumerate(updates)]
    if not batch:
        return []
    extra: dict[str, Any] = {"updates": batch}
    if dynamic_url:
        extra["url"] = dynamic_url
    results = session.invoke("sync_update", definition.name, coerced, extra)
    return _update_results(results, batch, schema, pack, definition.name)


def _checked_update(index: int, update: Any, schema: Schema) -> dict[str, Any]:
    where = f"updates[{index}]"
    if not isinstance(update, Mapping):
        raise ArgumentError(f"{where}: expected an object {{previous, new}}, got "
                            f"{type_name(update)}", path=where)
    previous, new = update.get("previous"), update.get("new")
    for key, row in (("previous", previous), ("new", new)):
        if not isinstance(row, dict):
            raise ArgumentError(f"{where}.{key}: expected an object, got {type_name(row)}",
                                path=f"{where}.{key}")
    assert isinstance(previous, dict) and isinstance(new, dict)
    id_name = schema.id_property or ""
    if previous.get(id_name) is None or previous.get(id_name) != new.get(id_name):
        raise ArgumentError(f"{where}.new.{id_name}: the id property must be present and "
                            "unchanged", path=f"{where}.new.{id_name}")
    fields = _updated_fields(where, update, previous, new)
    for name in fields:
        prop = schema.property(name)
        if prop is None or not prop.mutable:
            reason = "is not a property of the table" if prop is None else "is not mutable"
            raise ArgumentError(f"{where}.new.{name}: {name!r} {reason}", path=f"{where}.new")
    errors = schema_errors(schema, new, f"{where}.new")
    blank = blank_update_problem(schema, new, fields)
    if blank:
        errors.append(f"{where}.new.{blank}")
    if errors:
        raise ArgumentError(errors[0], path=errors[0].split(":")[0])
    return {"previous": previous, "new": normalise(schema, new), "updated_fields": fields}


def _updated_fields(where: str, update: Mapping[str, Any], previous: Row, new: Row) -> list[str]:
    given = update.get("updated_fields")
    if given is None:
        return sorted(k for k in set(previous) | set(new) if previous.get(k) != new.get(k))
    if not isinstance(given, (list, tuple)) or not all(isinstance(f, str) for f in given):
        raise ArgumentError(f"{where}.updated_fields: expected an array of property names",
                            path=f"{where}.updated_fields")
    return list(given)


def _update_results(results: Any, batch: list[dict[str, Any]], schema: Schema, pack: Pack,
                    name: str) -> list[RowUpdateResult]:
    if not isinstance(results, list) or len(results) != len(batch):
        got = f"{len(results)} items" if isinstance(results, list) else type_name(results)
        raise _bad(f"result: expected an array of {len(batch)} results, one per update, got "
                   f"{got}", pack, name, "result")
    out: list[RowUpdateResult] = []
    id_name = schema.id_property or ""
    for i, (item, update) in enumerate(zip(results, batch)):
        where = f"result[{i}]"
        if not isinstance(item, dict) or len(item) != 1 or not {"ok", "err"} >= set(item):
            raise _bad(f"{where}: expected {{ok: row}} or {{err: message}}", pack, name, where)
        if "err" in item:
            if not isinstance(item["err"], str):
                raise _bad(f"{where}.err: expected string, got {type_name(item['err'])}", pack,
                           name, f"{where}.err")
            out.append(RowUpdateResult(ok=False, error=item["err"]))
            continue
        row = item["ok"]
        errors = schema_errors(schema, row, f"{where}.ok")
        if errors:
            raise _bad(errors[0], pack, name, errors[0].split(":")[0])
        if row.get(id_name) != update["new"].get(id_name):
            raise _bad(f"{where}.ok.{id_name}: the saved row has id {row.get(id_name)!r}, not "
                       f"the updated row's {update['new'].get(id_name)!r}", pack, name,
                       f"{where}.ok.{id_name}")
        out.append(RowUpdateResult(ok=True, row=normalise(schema, row)))
    return out


# -- dynamic tables -------------------------------------------------------------------------


def dynamic_urls(calls: Calls, pack: Pack, table: str, *, connection: str | None = None,
                 principal: str | None = None,
                 deadline_s: float | None = None) -> list[dict[str, str]]:
    """The tables a dynamic sync table can show, as ``[{display, url}]``."""
    definition = _dynamic_table(pack, table)
    session = calls.session(pack, definition.connection, connection, principal,
                            deadline_s)
    value = session.invoke("dynamic_urls", definition.name, [])
    return _pairs(value, ("display", "url"), pack, definition.name)


def dynamic_schema(calls: Calls, pack: Pack, table: str, url: str, *,
                   connection: str | None = None, principal: str | None = None,
                   deadline_s: float | None = None) -> Schema:
    """The schema of the dynamic table at ``url``, checked like a manifest schema."""
    definition = _dynamic_table(pack, table)
    _check_dynamic_url(pack, definition, url)
    session = calls.session(pack, definition.connection, connection, principal,
                            deadline_s)
    return _fetch_dynamic_schema(session, definition, url)


def _dynamic_table(pack: Pack, table: str) -> SyncTableDef:
    definition: SyncTableDef = pack.manifest.sync_table(table)
    if not definition.dynamic:
        raise ArgumentError(f"{pack.name}.{definition.name} is not a dynamic table",
                            table=definition.name)
    return definition


def _fetch_dynamic_schema(session: CallSession, table: SyncTableDef, url: str | None) -> Schema:
    pack = session.pack
    value = session.invoke("dynamic_schema", table.name, [], {"url": url})
    try:
        schema = parse_schema(_Reader(value, "result", None))
    except ManifestError as exc:
        raise _bad(exc.message, pack, table.name, exc.field or "result") from exc
    if schema.type != "object" or not schema.id_property:
        raise _bad("result: a dynamic table's schema must be an object with an id_property",
                   pack, table.name, "result")
    return schema


# -- autocomplete ---------------------------------------------------------------------------


def autocomplete(calls: Calls, pack: Pack, name: str, param: str, search: str,
                 args: Sequence[Any] = (), *, connection: str | None = None,
                 principal: str | None = None,
                 deadline_s: float | None = None) -> list[dict[str, Any]]:
    """Suggestions ``[{display, value}]`` for ``param`` of a formula, action or sync table.

    ``args`` are the other arguments given so far, passed to the pack as they are.
    """
    owner, params, mode = _autocomplete_owner(pack, name)
    found = _autocomplete_param(pack, owner, params, param)
    if not isinstance(search, str):
        raise ArgumentError(f"search must be a string, got {type_name(search)}")
    session = calls.session(pack, mode, connection, principal, deadline_s)
    value = session.invoke("autocomplete", owner, list(args),
                           {"search": search, "param": found.name})
    return _pairs(value, ("display", "value"), pack, owner)


def _autocomplete_owner(pack: Pack, name: str) -> tuple[str, tuple[ParamDef, ...], str]:
    try:
        formula = pack.manifest.formula(name)
        return formula.name, formula.params, formula.connection
    except NotFoundError:
        pass  # not a formula or action: perhaps a sync table's parameter
    try:
        table = pack.manifest.sync_table(name)
    except NotFoundError:
        raise NotFoundError(f"pack {pack.name!r} has no formula, action or sync table named "
                            f"{name!r}", name=name) from None
    return table.name, table.params, table.connection


def _autocomplete_param(pack: Pack, owner: str, params: tuple[ParamDef, ...],
                        param: str) -> ParamDef:
    for candidate in params:
        if candidate.name == param:
            if not candidate.autocomplete:
                raise ArgumentError(f"{pack.name}.{owner}: parameter {param!r} does not declare "
                                    "autocomplete", parameter=param)
            return candidate
    raise NotFoundError(f"{pack.name}.{owner} has no parameter named {param!r}", name=param)


def _pairs(value: Any, keys: tuple[str, str], pack: Pack, name: str) -> list[dict[str, Any]]:
    """Check a ``[{display, <second key>}]`` result; ``display`` (and a url) must be strings."""
    if not isinstance(value, list):
        raise _bad(f"result: expected array, got {type_name(value)}", pack, name, "result")
    out: list[dict[str, Any]] = []
    for i, item in enumerate(value):
        where = f"result[{i}]"
        if not isinstance(item, dict):
            raise _bad(f"{where}: expected object, got {type_name(item)}", pack, name, where)
        for key in keys:
            if key not in item:
                raise _bad(f"{where}.{key}: is required but missing", pack, name,
                           f"{where}.{key}")
            if key != "value" and not isinstance(item[key], str):
                raise _bad(f"{where}.{key}: expected string, got {type_name(item[key])}", pack,
                           name, f"{where}.{key}")
        out.append({key: item[key] for key in keys})
    return out
