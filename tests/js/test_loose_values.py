"""Loosely typed values in a TypeScript pack, through the engine and the host: what an API
sends as another type than the pack declares is converted by the JS runtime where nothing
is lost (guest-sdk/js/runtime/loose_values.js); anything else reaches the host unchanged and
is refused, bad_output naming the field.

Each formula here returns ``JSON.parse`` of its argument, so the test says exactly which
JSON values "the API" sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from corral import BadOutput
from corral.testing import PackHarness

PACK = """import * as coda from "@codahq/packs-sdk";
export const pack = coda.newPack();

const Owner = coda.makeObjectSchema({
  properties: { id: { type: coda.ValueType.String }, age: { type: coda.ValueType.Number } },
  displayProperty: "id",
});
const Thing = coda.makeObjectSchema({
  properties: {
    id: { type: coda.ValueType.String },
    cost: { type: coda.ValueType.Number },
    paid: { type: coda.ValueType.String },
    code: { type: coda.ValueType.String },
    note: { type: coda.ValueType.String, fromKey: "the_note" },
    owner: Owner,
    tags: { type: coda.ValueType.Array, items: { type: coda.ValueType.String } },
    scores: { type: coda.ValueType.Array, items: { type: coda.ValueType.Number } },
    done: { type: coda.ValueType.Boolean },
  },
  displayProperty: "id", idProperty: "id",
});
const json = coda.makeParameter({ type: coda.ParameterType.String, name: "json", description: "JSON" });
const parsed = async ([text]: [string]) => JSON.parse(text);

pack.addFormula({ name: "AsNumber", description: "n", parameters: [json],
  resultType: coda.ValueType.Number, execute: parsed });
pack.addFormula({ name: "AsText", description: "t", parameters: [json],
  resultType: coda.ValueType.String, execute: parsed });
pack.addFormula({ name: "AsThing", description: "o", parameters: [json],
  resultType: coda.ValueType.Object, schema: Thing, execute: parsed });
pack.addFormula({ name: "AsNumbers", description: "a", parameters: [json],
  resultType: coda.ValueType.Array, items: { type: coda.ValueType.Number }, execute: parsed });
pack.addSyncTable({ name: "Things", identityName: "Thing", schema: Thing, formula: {
  name: "Things", description: "s", parameters: [json],
  execute: async ([text]) => ({ result: JSON.parse(text) }),
} });
"""


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PackHarness]:
    source: Path = tmp_path_factory.mktemp("loose") / "loose"
    source.mkdir()
    (source / "pack.ts").write_text(PACK)
    with PackHarness(source) as h:
        yield h


def _call(harness: PackHarness, formula: str, sent: Any) -> Any:
    return harness.call(formula, json.dumps(sent))


@pytest.mark.parametrize(("formula", "sent", "answer"), [
    ("AsNumber", "12.5", 12.5),
    ("AsNumber", " 12.50 ", 12.5),
    ("AsNumber", "-1e3", -1000),
    ("AsNumber", ".5", 0.5),
    ("AsText", 7, "7"),
    ("AsText", 12.5, "12.5"),
    ("AsText", True, "true"),
    ("AsText", False, "false"),
    ("AsNumbers", ["1", 2, " 3.50 "], [1, 2, 3.5]),
])
def test_a_value_sent_as_another_type_is_converted_where_nothing_is_lost(
        harness: PackHarness, formula: str, sent: Any, answer: Any) -> None:
    got = _call(harness, formula, sent)
    assert got == answer and type(got) is type(answer), got


@pytest.mark.parametrize(("formula", "sent"), [
    ("AsNumber", 7), ("AsNumber", 0), ("AsText", "007"), ("AsText", " 12.50 "),
    ("AsText", ""), ("AsNumbers", [1, 2.5]),
])
def test_a_value_of_its_declared_type_is_untouched(harness: PackHarness, formula: str,
                                                  sent: Any) -> None:
    got = _call(harness, formula, sent)
    assert got == sent and type(got) is type(sent), got


def test_an_object_is_converted_property_by_property_by_its_schema(harness: PackHarness) -> None:
    got = _call(harness, "AsThing", {
        "id": 7, "cost": "12.50", "paid": False, "code": "007", "the_note": 5,
        "owner": {"id": 1, "age": "42"}, "tags": [1, "x", True], "scores": ["1e3", 2],
        "done": True, "extra": 9})
    assert got == {"Id": "7", "Cost": 12.5, "Paid": "false", "Code": "007", "Note": "5",
                   "Owner": {"Id": "1", "Age": 42}, "Tags": ["1", "x", "true"],
                   "Scores": [1000, 2], "Done": True}, got


@pytest.mark.parametrize(("formula", "sent", "refusal"), [
    # Not a decimal number, or one a double cannot hold exactly: left as sent, and refused.
    ("AsNumber", "12,5", "result: expected number, got string"),
    ("AsNumber", "", "result: expected number, got string"),
    ("AsNumber", "n/a", "result: expected number, got string"),
    ("AsNumber", "Infinity", "result: expected number, got string"),
    ("AsNumber", True, "result: expected number, got boolean"),
    ("AsText", {"a": 1}, "result: expected string, got object"),
    ("AsThing", {"id": "a", "cost": "0x10"}, "result.Cost: expected number, got string"),
    ("AsThing", {"id": "a", "owner": {"id": "b", "age": "12345678901234567890"}},
     "result.Owner.Age: expected number, got string"),
    ("AsThing", {"id": "a", "done": "true"}, "result.Done: expected boolean, got string"),
    ("AsNumbers", ["1", "two"], "result[1]: expected number, got string"),
])
def test_a_value_not_losslessly_convertible_is_refused_naming_the_field(
        harness: PackHarness, formula: str, sent: Any, refusal: str) -> None:
    with pytest.raises(BadOutput) as refused:
        _call(harness, formula, sent)
    assert refusal in str(refused.value), refused.value


def test_sync_rows_are_converted_and_a_row_that_cannot_be_is_refused(
        harness: PackHarness) -> None:
    rows = harness.sync("Things", json.dumps([{"id": 7, "cost": "12.5"},
                                              {"id": "8", "cost": 3, "tags": [4]}]))
    assert rows == [{"Id": "7", "Cost": 12.5}, {"Id": "8", "Cost": 3, "Tags": ["4"]}], rows
    with pytest.raises(BadOutput) as refused:
        harness.sync("Things", json.dumps([{"id": 7, "cost": "12.5"}, {"id": "8", "cost": "n/a"}]))
    assert "rows[1].Cost: expected number, got string" in str(refused.value), refused.value
