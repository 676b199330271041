"""The host side of sync tables, two-way sync, dynamic tables and autocomplete.

Malformed guest output comes from tiny WAT packs that answer every call with one fixed
MessagePack response, so each test states exactly what the guest returned. Paging and
limits use the github pack against its fake API.
"""

from __future__ import annotations

import io
import json
import re
from argparse import ArgumentParser
from pathlib import Path
from typing import Any, Iterator

import pytest

from corral import (MANIFEST_SECTION, ArgumentError, BadOutput, Host, LimitExceeded, NotFoundError,
                    Pack, Settings, read_manifest, set_custom_section)
from corral._runtime.tables import autocomplete, dynamic_schema, dynamic_urls, run_sync, sync_update
from corral._cli.sync import cmd_sync, register_sync_command
from corral.testing import PackHarness

from ..conftest import PACKS, built, answering_pack
from ..fake_github import TOKEN, FakeGitHub

ROW_SCHEMA: dict[str, Any] = {
    "type": "object", "id_property": "id", "display_property": "name",
    "properties": {"id": {"type": "integer"}, "name": {"type": "string", "mutable": True},
                   "size": {"type": "integer"},
                   "author": {"type": "object", "properties": {"login": {"type": "string"}}}},
}

MANIFEST: dict[str, Any] = {
    "pack": {"name": "fixed", "version": "0.1.0"},
    "formulas": [{"name": "Find", "params": [{"name": "q", "type": "string", "autocomplete": True},
                                             {"name": "n", "type": "integer", "optional": True}]}],
    "sync_tables": [
        {"name": "Things", "schema": ROW_SCHEMA, "updatable": True,
         "params": [{"name": "limit", "type": "integer", "default": 10}]},
        {"name": "ReadOnly", "schema": ROW_SCHEMA},
        {"name": "Dyn", "dynamic": True,
         "schema": {"type": "object", "id_property": "id",
                    "properties": {"id": {"type": "integer"}}}},
    ],
}


def fixed_pack(ok: Any, **by_op: Any) -> bytes:
    """A pack whose every call answers ``{ok: <ok>}``, or ``{ok: by_op[op]}`` for those ops."""
    return answering_pack(MANIFEST, ok, **by_op)


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    with Host(Settings(data_dir=tmp_path / "host")) as made:
        yield made


def register(host: Host, ok: Any, **by_op: Any) -> Pack:
    return host.register_bytes(fixed_pack(ok, **by_op), source="fixed")


def all_rows(host: Host, pack: Pack, table: str = "Things", **kwargs: Any) -> list[Any]:
    return [row for page in run_sync(host.calls, pack, table, [], **kwargs) for row in page]


# -- sync: rows are checked before anyone sees them ------------------------------------------


def test_a_wrong_type_deep_in_a_row_names_its_path(host: Host) -> None:
    rows = [{"id": i, "name": f"n{i}", "author": {"login": "ada"}} for i in range(3)]
    rows.append({"id": 3, "name": "n3", "author": {"login": None}})
    pack = register(host, {"rows": rows})
    with pytest.raises(BadOutput, match=re.escape(
            "fixed.Things: rows[3].author.login: expected string, got null (page 1)")) as caught:
        all_rows(host, pack)
    assert caught.value.details["path"] == "rows[3].author.login"


def test_a_row_without_its_id_is_refused(host: Host) -> None:
    pack = register(host, {"rows": [{"id": 1}, {"name": "no id"}]})
    with pytest.raises(BadOutput, match=re.escape("rows[1].id: the id property is missing")):
        all_rows(host, pack)


def test_ids_must_be_unique_across_pages(host: Host) -> None:
    # The same page every time: page 2 repeats page 1's ids.
    pack = register(host, {"rows": [{"id": 1}, {"id": 2}], "continuation": "more"})
    pages = run_sync(host.calls, pack, "Things", [])
    assert next(pages) == [{"id": 1}, {"id": 2}]
    with pytest.raises(BadOutput, match=re.escape(
            "rows[2].id: duplicate id 1, first seen at rows[0] (page 2)")):
        next(pages)


def test_a_continuation_that_never_changes_ends_the_sync(host: Host) -> None:
    pack = register(host, {"rows": [], "continuation": {"cursor": 5}})
    with pytest.raises(BadOutput, match="page 2 returned the continuation it was given"):
        all_rows(host, pack)


@pytest.mark.parametrize(("page", "message"), [
    ([{"id": 1}], "page 1: expected a map {rows, continuation}, got array"),
    ({"continuation": None}, "page 1: rows: expected array, got null"),
    ({"rows": [5]}, "rows[0]: expected object, got integer"),
])
def test_a_malformed_page_is_bad_output(host: Host, page: Any, message: str) -> None:
    with pytest.raises(BadOutput, match=re.escape(message)):
        all_rows(host, register(host, page))


def test_arguments_and_table_are_checked_before_any_page(host: Host) -> None:
    pack = register(host, {"rows": []})
    with pytest.raises(NotFoundError, match="no sync table named 'Nope'"):
        run_sync(host.calls, pack, "Nope", [])
    with pytest.raises(ArgumentError, match="parameter 'limit' expects integer"):
        run_sync(host.calls, pack, "Things", ["ten"])
    with pytest.raises(ArgumentError, match="is a dynamic table: pass the URL"):
        run_sync(host.calls, pack, "Dyn", [])
    with pytest.raises(ArgumentError, match="is not a dynamic table"):
        run_sync(host.calls, pack, "Things", [], dynamic_url="https://x.test/1")
    with pytest.raises(ArgumentError, match="max_pages must be a positive integer"):
        run_sync(host.calls, pack, "Things", [], max_pages=0)


# -- paging and limits, with the github pack ---------------------------------------------------


@pytest.fixture(scope="module")
def api() -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        fake.add_repo("octo/paged", 25)
        yield fake


def with_limits(wasm: bytes, **limits: int) -> bytes:
    """The same pack with other limits in its manifest (no rebuild needed)."""
    manifest = read_manifest(wasm).to_dict()
    manifest["limits"].update(limits)
    return set_custom_section(wasm, MANIFEST_SECTION, json.dumps(manifest).encode())


def test_the_manifest_page_limit_stops_the_sync_with_limit_exceeded(api: FakeGitHub) -> None:
    wasm = with_limits(built(PACKS / "github").read_bytes(), max_sync_pages=2)
    with PackHarness(wasm, domains_map={"api.github.test": api.port},
                     secret={"token": TOKEN}) as gh:
        pages = run_sync(gh.host.calls, gh.pack, "Issues", ["octo/paged", 10],
                         connection=gh.connection, principal=gh.principal)
        assert len(next(pages)) == 10 and len(next(pages)) == 10
        with pytest.raises(LimitExceeded, match=r"more than 2 pages \(limits.max_sync_pages\)"):
            next(pages)
        # A caller's own max_pages is a preview: it stops quietly.
        assert len(gh.sync("Issues", "octo/paged", 10, max_pages=1)) == 10


# -- two-way sync ---------------------------------------------------------------------------


def update(row_id: int, **changes: Any) -> dict[str, Any]:
    previous = {"id": row_id, "name": f"n{row_id}", "size": 1}
    return {"previous": previous, "new": {**previous, **changes}}


def test_update_results_come_back_one_per_row(host: Host) -> None:
    pack = register(host, [{"ok": {"id": 1, "name": "renamed"}}, {"err": "locked"}])
    results = sync_update(host.calls, pack, "Things", [update(1, name="renamed"), update(2, name="x")])
    assert [r.to_dict() for r in results] == [{"ok": {"id": 1, "name": "renamed"}},
                                              {"err": "locked"}]


@pytest.mark.parametrize(("change", "message"), [
    (update(1, size=2), "updates[0].new.size: 'size' is not mutable"),
    (update(1, id=2), "updates[0].new.id: the id property must be present and unchanged"),
    (update(1, name=5), "updates[0].new.name: expected string, got integer"),
    ({"previous": {"id": 1}}, "updates[0].new: expected an object, got null"),
    ({**update(1, name="a"), "updated_fields": ["colour"]},
     "updates[0].new.colour: 'colour' is not a property of the table"),
])
def test_bad_updates_are_refused_naming_the_field(host: Host, change: dict[str, Any],
                                                  message: str) -> None:
    pack = register(host, [])
    with pytest.raises(ArgumentError, match=re.escape(message)):
        sync_update(host.calls, pack, "Things", [change])


def test_a_table_must_be_updatable(host: Host) -> None:
    pack = register(host, [])
    with pytest.raises(ArgumentError, match="fixed.ReadOnly is not updatable"):
        sync_update(host.calls, pack, "ReadOnly", [update(1, name="a")])


@pytest.mark.parametrize(("reply", "message"), [
    ([{"ok": {"id": 1, "name": "a"}}], "expected an array of 2 results, one per update, got 1"),
    ([{"ok": {"id": 1}}, {"maybe": 1}], "result[1]: expected {ok: row} or {err: message}"),
    ([{"ok": {"id": 1, "size": "big"}}, {"err": "x"}], "result[0].ok.size: expected integer"),
    ([{"ok": {"id": 9}}, {"err": "x"}], "result[0].ok.id: the saved row has id 9"),
])
def test_malformed_update_results_are_bad_output(host: Host, reply: Any, message: str) -> None:
    pack = register(host, reply)
    with pytest.raises(BadOutput, match=re.escape(message)):
        sync_update(host.calls, pack, "Things", [update(1, name="a"), update(2, name="b")])


# -- dynamic tables and autocomplete -----------------------------------------------------------


def test_dynamic_schema_is_checked_like_a_manifest_schema(host: Host) -> None:
    good = {"type": "object", "id_property": "key",
            "properties": {"key": {"type": "string"}, "when": {"type": "string", "hint": "date"}}}
    schema = dynamic_schema(host.calls, register(host, good), "Dyn", "https://x.test/1")
    assert schema.id_property == "key" and schema.property("when").hint == "date"  # type: ignore[union-attr]
    bad = {"type": "object", "id_property": "key", "properties": {"key": {"type": "text"}}}
    with pytest.raises(BadOutput, match=re.escape("result.properties.key.type: 'text' is not")):
        dynamic_schema(host.calls, register(host, bad), "Dyn", "https://x.test/1")
    no_id = {"type": "object", "properties": {"key": {"type": "string"}}}
    with pytest.raises(BadOutput, match="must be an object with an id_property"):
        dynamic_schema(host.calls, register(host, no_id), "Dyn", "https://x.test/1")


def test_dynamic_rows_are_checked_against_the_dynamic_schema(host: Host) -> None:
    schema = {"type": "object", "id_property": "id",
              "properties": {"id": {"type": "integer"}, "title": {"type": "string"}}}
    pack = register(host, {"rows": [{"id": 1, "title": 5}]}, dynamic_schema=schema)
    with pytest.raises(BadOutput, match=re.escape("rows[0].title: expected string, got integer")):
        all_rows(host, pack, "Dyn", dynamic_url="https://x.test/1")
    fine = register(host, {"rows": [{"id": 1, "title": "t"}]}, dynamic_schema=schema)
    assert all_rows(host, fine, "Dyn", dynamic_url="https://x.test/1") == [{"id": 1, "title": "t"}]


def test_dynamic_urls_must_be_display_and_url_strings(host: Host) -> None:
    urls = [{"display": "One", "url": "https://x.test/1"}]
    assert dynamic_urls(host.calls, register(host, urls), "Dyn") == urls
    with pytest.raises(BadOutput, match=re.escape("result[0].url: expected string, got integer")):
        dynamic_urls(host.calls, register(host, [{"display": "One", "url": 1}]), "Dyn")
    with pytest.raises(ArgumentError, match="fixed.Things is not a dynamic table"):
        dynamic_urls(host.calls, register(host, urls), "Things")


def test_autocomplete_checks_the_parameter_and_the_answer(host: Host) -> None:
    choices = [{"display": "Ada", "value": 1}, {"display": "Grace", "value": {"id": 2}}]
    pack = register(host, choices)
    assert autocomplete(host.calls, pack, "Find", "q", "a") == choices
    with pytest.raises(ArgumentError, match="parameter 'n' does not declare autocomplete"):
        autocomplete(host.calls, pack, "Find", "n", "a")
    with pytest.raises(NotFoundError, match="has no parameter named 'zz'"):
        autocomplete(host.calls, pack, "Find", "zz", "a")
    with pytest.raises(BadOutput, match=re.escape("result[0].value: is required but missing")):
        autocomplete(host.calls, register(host, [{"display": "x"}]), "Find", "q", "")


# -- corral sync ----------------------------------------------------------------------------


def test_corral_sync_prints_rows_as_ndjson(tmp_path: Path) -> None:
    wasm = tmp_path / "fixed.wasm"
    wasm.write_bytes(fixed_pack({"rows": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]}))
    parser = ArgumentParser()
    register_sync_command(parser.add_subparsers())
    args = parser.parse_args(["sync", str(wasm), "Things", "5",
                              "--data-dir", str(tmp_path / "data")])
    out = io.StringIO()
    assert cmd_sync(args, out) == 0
    assert [json.loads(line) for line in out.getvalue().splitlines()] == [
        {"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
