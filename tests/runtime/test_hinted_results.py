"""Value hints through the host: sync rows, two-way sync edits and their saved rows, and
formula results all come out in canonical form; a value that breaks its hint is refused
naming the path. (Each hint's rules: tests/pack/test_hints.py; every SDK:
tests/test_conformance.py.)"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from corral import ArgumentError, BadOutput, Host, Settings
from corral._runtime.tables import run_sync, sync_update

from ..conftest import answering_pack

ROW_SCHEMA: dict[str, Any] = {
    "type": "object", "id_property": "id", "display_property": "name",
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string", "mutable": True},
        "due": {"type": "string", "hint": "date", "mutable": True},
        "colour": {"type": "string", "hint": "select_list", "mutable": True, "nullable": True,
                   "options": ["red", "green"], "require_for_updates": True},
        "spent": {"type": "string", "hint": "duration", "nullable": True},
        "owner": {"type": "object", "hint": "person", "id_property": "email",
                  "properties": {"email": {"type": "string"}}},
    },
}

MANIFEST: dict[str, Any] = {
    "pack": {"name": "hinted", "version": "0.1.0"},
    "formulas": [{"name": "When", "result": {"type": "string", "hint": "datetime"}}],
    "sync_tables": [{"name": "Tasks", "schema": ROW_SCHEMA, "updatable": True}],
}


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    with Host(Settings(data_dir=tmp_path / "host")) as made:
        yield made


def rows(host: Host, page: Any) -> list[Any]:
    pack = host.register_bytes(answering_pack(MANIFEST, page), source="hinted")
    return [row for got in run_sync(host.calls, pack, "Tasks", []) for row in got]


def test_sync_rows_come_out_canonical(host: Host) -> None:
    page = {"rows": [
        {"id": 1, "name": "a", "due": "March 3, 2024", "spent": "1 hour 30 minutes",
         "owner": {"email": "Ann@Example.COM"}},
        {"id": 2, "name": "b", "due": "2024-03-04", "spent": None,
         "owner": {"email": "bo@example.com"}},
    ]}
    assert rows(host, page) == [
        {"id": 1, "name": "a", "due": "2024-03-03", "spent": "PT1H30M",
         "owner": {"email": "Ann@example.com"}},
        {"id": 2, "name": "b", "due": "2024-03-04", "spent": None,
         "owner": {"email": "bo@example.com"}},
    ]


def test_a_row_that_breaks_a_hint_is_bad_output_naming_row_and_property(host: Host) -> None:
    page = {"rows": [{"id": 1, "name": "a", "due": "2024-03-03", "owner": {"email": "a@b.co"}},
                     {"id": 2, "name": "b", "due": "soon", "owner": {"email": "a@b.co"}}]}
    with pytest.raises(BadOutput, match=re.escape(
            "hinted.Tasks: rows[1].due: hint date: 'soon' is not a date")) as caught:
        rows(host, page)
    assert caught.value.details["path"] == "rows[1].due"


def test_a_person_without_an_address_is_bad_output(host: Host) -> None:
    page = {"rows": [{"id": 1, "name": "a", "owner": {"email": "ann"}}]}
    with pytest.raises(BadOutput, match=re.escape("rows[0].owner: hint person: {'email': 'ann'} "
                                                  "is not an e-mail address")):
        rows(host, page)


def test_two_way_sync_normalises_the_edit_and_the_saved_row(host: Host) -> None:
    saved = {"id": 1, "name": "a", "due": "Mar 5, 2024", "owner": {"email": "x@Example.com"}}
    pack = host.register_bytes(answering_pack(MANIFEST, [{"ok": saved}]), source="hinted")
    previous = {"id": 1, "name": "a", "due": "2024-03-03", "owner": {"email": "x@example.com"}}
    update = {"previous": previous, "new": {**previous, "due": "5 March 2024"}}
    results = sync_update(host.calls, pack, "Tasks", [update])
    assert results[0].to_dict() == {"ok": {**saved, "due": "2024-03-05",
                                           "owner": {"email": "x@example.com"}}}
    bad = {"previous": previous, "new": {**previous, "due": "next week"}}
    with pytest.raises(ArgumentError, match=re.escape(
            "updates[0].new.due: hint date: 'next week' is not a date")):
        sync_update(host.calls, pack, "Tasks", [bad])


def test_require_for_updates_refuses_a_blank_edit(host: Host) -> None:
    pack = host.register_bytes(answering_pack(MANIFEST, []), source="hinted")
    previous = {"id": 1, "name": "a", "colour": "red", "owner": {"email": "x@example.com"}}
    for blank in ("", None):
        with pytest.raises(ArgumentError, match=re.escape(
                "updates[0].new.colour: hint select_list: may not be blank in an update")):
            sync_update(host.calls, pack, "Tasks", [{"previous": previous,
                                                     "new": {**previous, "colour": blank}}])
    with pytest.raises(ArgumentError, match=re.escape(
            "updates[0].new.colour: hint select_list: 'blue' is not one of the options")):
        sync_update(host.calls, pack, "Tasks", [{"previous": previous,
                                                 "new": {**previous, "colour": "blue"}}])


def test_formula_results_come_out_canonical_through_the_host(host: Host) -> None:
    pack = host.register_bytes(answering_pack(MANIFEST, "2024-03-03T09:24:00-08:00"),
                               source="hinted")
    assert host.call(pack.name, "When") == "2024-03-03T17:24:00Z"
    assert pack.call("When") == "2024-03-03T17:24:00Z"
