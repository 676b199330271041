"""Value hints on results: every hint's good values (and their canonical forms), its bad
values (``bad_output`` naming the path and the rule), and the manifest's refusals."""

from __future__ import annotations

import re
import tomllib
from typing import Any

import pytest
from corral import BadOutput, ManifestError
from corral._pack.hint_options import HINT_ALIASES, HINT_SPECS
from corral._pack.hints import normalise
from corral._pack.manifest import Schema
from corral._pack.parse import _Reader, parse_manifest, parse_schema
from corral._pack.schema import check_result, schema_errors

PERSON: dict[str, Any] = {"type": "object", "hint": "person", "id_property": "email",
                          "display_property": "name",
                          "properties": {"email": {"type": "string"},
                                         "name": {"type": "string"}}}
REFERENCE: dict[str, Any] = {"type": "object", "hint": "reference", "identity": "Tasks",
                             "id_property": "id", "display_property": "name",
                             "properties": {"id": {"type": "integer"},
                                            "name": {"type": "string"}}}


def schema(**fields: Any) -> Schema:
    return parse_schema(_Reader(fields, "result", None))


def checked(fields: dict[str, Any], value: Any) -> Any:
    return check_result(schema(**fields), value, pack="p", formula="F")


def s(hint: str, **options: Any) -> dict[str, Any]:
    return {"type": "string", "hint": hint, **options}


def n(hint: str, **options: Any) -> dict[str, Any]:
    return {"type": "number", "hint": hint, **options}


#: (schema, value the pack returns, what the caller sees)
GOOD: list[tuple[dict[str, Any], Any, Any]] = [
    (s("date"), "2024-03-03", "2024-03-03"),
    (s("date"), "March 3, 2024", "2024-03-03"),
    (s("date"), "3 Mar 2024", "2024-03-03"),
    (s("date"), "2024/03/03", "2024-03-03"),
    (s("date"), "2024-03-03T23:30:00-08:00", "2024-03-03"),  # the day as written
    (s("date"), "", ""),  # blank
    (n("date"), 1709424000, 1709424000),
    (s("time"), "17:24", "17:24:00"),
    (s("time"), "5:24 pm", "17:24:00"),
    (s("time"), "5 PM", "17:00:00"),
    (s("time"), "17:24:05.250", "17:24:05.250"),
    (s("time"), "10:00:00+02:00", "08:00:00"),
    (n("time"), 0, 0),
    (s("datetime"), "2024-03-03T17:24:00Z", "2024-03-03T17:24:00Z"),
    (s("datetime"), "2024-03-03T09:24:00-08:00", "2024-03-03T17:24:00Z"),
    (s("datetime"), "2024-03-03 17:24:00.5", "2024-03-03T17:24:00.500Z"),
    (s("datetime"), "2024-03-03T17:24:00.123456+00:00", "2024-03-03T17:24:00.123456Z"),
    (s("datetime"), "Sun, 03 Mar 2024 17:24:00 GMT", "2024-03-03T17:24:00Z"),
    (s("datetime"), "March 3, 2024 5:24 PM", "2024-03-03T17:24:00Z"),
    (s("datetime"), "2024-03-03", "2024-03-03T00:00:00Z"),
    ({"type": "integer", "hint": "datetime"}, 1709486640, 1709486640),
    (s("duration"), "PT1H30M", "PT1H30M"),
    (s("duration"), "1 hour 30 minutes", "PT1H30M"),
    (s("duration"), "3 days 4 hours", "P3DT4H"),
    (s("duration"), "2 days, 4 hours and 5 minutes", "P2DT4H5M"),
    (s("duration"), "1.5 hrs", "PT1H30M"),
    (s("duration"), "1:30", "PT1H30M"),
    (s("duration"), "1:30:15", "PT1H30M15S"),
    (s("duration"), "P1W", "P7D"),
    (s("duration"), "PT36H", "P1DT12H"),
    (s("duration"), "PT0.5S", "PT0.5S"),
    (s("duration"), "0 seconds", "PT0S"),
    (s("duration"), "-P1D", "-P1D"),
    (s("duration", max_unit="hours"), "2 days", "PT48H"),
    (s("duration", max_unit="seconds"), "1 min", "PT60S"),
    (n("duration"), 1.5, 1.5),
    (s("email"), "Ann@Example.COM", "Ann@example.com"),
    (s("email", display="iconOnly"), "a.b+c@sub.example.org", "a.b+c@sub.example.org"),
    (PERSON, {"email": "Bo@Example.COM", "name": "Bo"}, {"email": "Bo@example.com", "name": "Bo"}),
    (n("percent"), 0.25, 0.25),
    (n("percent", precision=1), -1.5, -1.5),
    (n("currency", currency_code="EUR", format="accounting", precision=2), 9.5, 9.5),
    (s("image"), "https://example.com/cat.png", "https://example.com/cat.png"),
    (s("image"), "data:image/png;base64,iVBORw0KGgo=", "data:image/png;base64,iVBORw0KGgo="),
    (s("image"), "data:image/png;base64," + "A" * 5000, "data:image/png;base64," + "A" * 5000),
    (s("image_attachment", image_outline="solid"), "http://127.0.0.1:8080/x.jpg",
     "http://127.0.0.1:8080/x.jpg"),
    (s("url"), "https://example.com/a?b=c#d", "https://example.com/a?b=c#d"),
    (s("url", display="card", force=True), "HTTP://EXAMPLE.com", "HTTP://EXAMPLE.com"),
    (s("markdown"), "**bold**\n- item", "**bold**\n- item"),
    (s("html"), "<b>bold</b>", "<b>bold</b>"),
    (s("embed", force=True), "https://www.youtube.com/watch?v=x",
     "https://www.youtube.com/watch?v=x"),
    (REFERENCE, {"id": 7, "name": "Write tests"}, {"id": 7, "name": "Write tests"}),
    (s("attachment"), "https://example.com/report.pdf", "https://example.com/report.pdf"),
    (s("attachment"), "data:application/pdf;base64,JVBERi0=",
     "data:application/pdf;base64,JVBERi0="),
    (n("slider"), 0, 0),
    (n("slider", minimum=0, maximum=10, step=0.5), 7.5, 7.5),
    (n("slider", minimum=-5, maximum=5, step=0.1), 0.3, 0.3),  # 0.3 is on a 0.1 step
    (n("scale", maximum=5, icon="star"), 4.0, 4),
    ({"type": "integer", "hint": "scale"}, 12, 12),
    (n("progress_bar", maximum=1), 0.4, 0.4),
    ({"type": "boolean", "hint": "toggle"}, True, True),
    (s("coda_internal_rich_text", is_canvas=True), "plain", "plain"),
    (s("select_list", options=["red", "green"]), "red", "red"),
    (s("select_list", options=[{"display": "Red", "value": "r"}]), "r", "r"),
    (s("select_list", options=["red"], allow_new_values=True), "mauve", "mauve"),
    (s("select_list"), "anything the pack suggests", "anything the pack suggests"),
    ({"type": "object", "hint": "select_list", "properties": {"a": {"type": "string"}}},
     {"a": "x"}, {"a": "x"}),
    (s("code"), "print(1)", "print(1)"),
    (s("phone"), "+1 (555) 010-9999", "+1 (555) 010-9999"),
    (s("phone"), "030 1234567 ext. 12", "030 1234567 ext. 12"),
    ({**s("datetime"), "nullable": True}, None, None),
]

#: (schema, value the pack returns, what the error says after ``result: hint <name>: ``)
BAD: list[tuple[dict[str, Any], Any, str]] = [
    (s("date"), "definitely not a date", "'definitely not a date' is not a date"),
    (s("date"), "03/04/2024", "is not a date"),
    (s("date"), "2024-02-30", "is not a date"),
    (s("date"), "x" * 200, "is longer than 100 characters"),
    (n("date"), 1e20, "is outside the years 1 to 9999"),
    (s("time"), "25:00", "is not a time"),
    (s("time"), "noon-ish", "is not a time"),
    (s("datetime"), "definitely not a date", "'definitely not a date' is not a date-time"),
    (s("datetime"), "2024-13-01T00:00:00Z", "is not a date-time"),
    (n("datetime"), -1e15, "is outside the years"),
    (s("duration"), "P1Y", "years or months, which have no fixed length"),
    (s("duration"), "P2M", "years or months"),
    (s("duration"), "PT", "is not an ISO 8601 duration"),
    (s("duration"), "3 parsecs", "is not a duration"),
    (s("duration"), "5", "is not a duration"),
    (s("email"), "not an address", "is not an e-mail address"),
    (s("email"), "Ann <ann@example.com>", "display name"),
    (s("email"), "a@localhost", "is not an e-mail address"),
    (PERSON, {"email": "bo", "name": "Bo"}, "is not an e-mail address"),
    (PERSON, {"name": "Bo"}, "has no e-mail address in its id property 'email'"),
    (s("image"), "ftp://example.com/cat.png", "is not an http or https (or data:) URL"),
    (s("image"), "data:text/plain,hello", "is a data: URL of text/plain, not of image/"),
    (s("image_attachment"), "cat.png", "is not an http or https (or data:) URL"),
    (s("url"), "javascript:alert(1)", "is not an http or https URL"),
    (s("url"), "https://exa mple.com", "holds spaces or control characters"),
    (s("url"), "https:///path-only", "it has no host"),
    (s("url"), "https://example.com:99999/", "is not a URL"),
    (s("url"), "data:text/plain,hi", "is not an http or https URL"),
    (s("url"), "https://example.com/" + "a" * 3000 + " b", "holds spaces or control characters"),
    (s("embed"), "www.youtube.com/watch", "is not an http or https URL"),
    (REFERENCE, {"id": "", "name": "x"}, "has no id in 'id'"),
    (REFERENCE, {"id": 3}, "has no 'name'"),
    (s("attachment"), "data:nonsense", "is not a data: URL"),
    (n("slider", minimum=1), 0.5, "is below the minimum 1"),
    (n("slider"), -1, "is below the minimum 0"),
    (n("slider", maximum=10), 11, "is above the maximum 10"),
    (n("slider", maximum=10, step=0.5), 7.25, "is not on a step of 0.5 from 0"),
    (n("scale"), 2.5, "is not a whole number of icons"),
    (n("scale", maximum=5), 6, "is above the maximum 5"),
    (n("scale"), -1, "is below 0"),
    (n("progress_bar", maximum=1), 1.5, "is above the maximum 1"),
    (s("select_list", options=["red", "green"]), "mauve",
     "is not one of the options ('red', 'green')"),
    (s("select_list", options=[{"display": "Red", "value": "r"}]), "Red",
     "is not one of the options ('r')"),
    (s("phone"), "call me", "is not a phone number"),
    (s("phone"), "12", "is not a phone number"),
]


@pytest.mark.parametrize(("fields", "value", "expected"), GOOD,
                         ids=[f"{f.get('hint')}-{v!r}"[:60] for f, v, _ in GOOD])
def test_a_good_value_passes_in_its_canonical_form(fields: dict[str, Any], value: Any,
                                                   expected: Any) -> None:
    got = checked(fields, value)
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize(("fields", "value", "message"), BAD,
                         ids=[f"{f.get('hint')}-{v!r}"[:60] for f, v, _ in BAD])
def test_a_bad_value_is_bad_output_naming_the_path_and_the_rule(fields: dict[str, Any],
                                                                value: Any, message: str) -> None:
    with pytest.raises(BadOutput, match=re.escape(message)) as caught:
        checked(fields, value)
    assert caught.value.kind == "bad_output"
    assert caught.value.message.startswith(f"p.F: result: hint {fields['hint']}: ")
    assert caught.value.details["path"] == "result"


def test_every_hint_has_good_and_bad_cases() -> None:
    good = {HINT_ALIASES.get(f["hint"], f["hint"]) for f, _, _ in GOOD}
    bad = {f["hint"] for f, _, _ in BAD}
    assert good == set(HINT_SPECS)
    # text hints take any text; toggle, percent and currency are their type's rule
    assert set(HINT_SPECS) - bad == {"markdown", "html", "code", "coda_internal_rich_text",
                                     "toggle", "percent", "currency"}


def test_the_type_is_checked_before_the_hint() -> None:
    with pytest.raises(BadOutput, match=r"result: expected number, got string"):
        checked(n("percent"), "50%")
    with pytest.raises(BadOutput, match=r"result: expected boolean, got integer"):
        checked({"type": "boolean", "hint": "toggle"}, 1)


def test_the_issue_example_names_the_nested_path() -> None:
    fields = {"type": "object", "properties": {"when": s("datetime")}}
    with pytest.raises(BadOutput) as caught:
        checked(fields, {"when": "definitely not a date"})
    assert caught.value.message.startswith(
        "p.F: result.when: hint datetime: 'definitely not a date' is not a date-time")
    assert caught.value.details["path"] == "result.when"


def test_nested_values_are_normalised_and_untouched_parts_kept() -> None:
    row_schema = schema(type="object", properties={
        "when": s("date"), "tags": {"type": "array", "items": s("duration")},
        "plain": {"type": "object", "properties": {"x": {"type": "string"}}}})
    plain = {"x": "y"}
    row = {"when": "March 3, 2024", "tags": ["1 hour", "PT2H"], "plain": plain, "extra": 1}
    assert schema_errors(row_schema, row) == []
    out = normalise(row_schema, row)
    assert out == {"when": "2024-03-03", "tags": ["PT1H", "PT2H"], "plain": plain, "extra": 1}
    assert out["plain"] is plain and row["when"] == "March 3, 2024"  # the input is not changed
    unhinted = schema(type="array",
                      items={"type": "object", "properties": {"a": {"type": "string"}}})
    value = [{"a": "b"}]
    assert normalise(unhinted, value) is value


def test_every_bad_item_of_an_array_is_named() -> None:
    errors = schema_errors(schema(type="array", items=s("email")), ["a@example.com", "nope", "x"])
    assert [e.split(":")[0] for e in errors] == ["result[1]", "result[2]"]


# -- the manifest refuses what a hint cannot mean ---------------------------------------------


def refused(fields: dict[str, Any]) -> ManifestError:
    with pytest.raises(ManifestError) as caught:
        schema(**fields)
    return caught.value


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"type": "string", "hint": "percent"}, "result.hint",
     "hint 'percent' applies to number or integer values, not string"),
    ({"type": "number", "hint": "url"}, "result.hint", "hint 'url' applies to string values"),
    ({"type": "string", "hint": "toggle"}, "result.hint", "applies to boolean values"),
    ({"type": "array", "hint": "date", "items": {"type": "string"}}, "result.hint", "not array"),
    ({"type": "any", "hint": "date"}, "result.hint", "not any"),
    ({"type": "string", "hint": "person"}, "result.hint", "applies to object values"),
    ({"type": "string", "hint": "phonenumber"}, "result.hint", "'phonenumber' is not one of date"),
    ({"type": "number", "hint": "slider", "minimum": 5, "maximum": 5}, "result.maximum",
     "must be above the minimum (5)"),
    ({"type": "number", "hint": "slider", "step": 0}, "result.step", "must be positive"),
    ({"type": "number", "hint": "progress_bar", "maximum": 1, "step": 2}, "result.step",
     "must not exceed maximum - minimum (1)"),
    ({"type": "number", "hint": "slider", "maximum": "ten"}, "result.maximum", "must be"),
    ({"type": "number", "hint": "scale", "maximum": 0}, "result.maximum", "at least 1"),
    ({"type": "number", "hint": "scale", "maximum": 4.5}, "result.maximum", "an integer"),
    ({"type": "number", "hint": "scale", "icon": "unicorn"}, "result.icon",
     "'unicorn' is not one of star"),
    ({"type": "number", "hint": "currency", "currency_code": "euro"}, "result.currency_code",
     "is not a three-letter ISO 4217 code"),
    ({"type": "number", "hint": "currency", "format": "fancy"}, "result.format", "is not one of"),
    ({"type": "number", "hint": "percent", "precision": 21}, "result.precision", "up to 20"),
    ({"type": "string", "hint": "email", "display": "big"}, "result.display", "is not one of"),
    ({"type": "string", "hint": "image", "width": -1}, "result.width", "must not be negative"),
    ({"type": "string", "hint": "duration", "max_unit": "weeks"}, "result.max_unit",
     "is not one of days, hours, minutes, seconds"),
    ({"type": "string", "hint": "currency_code"}, "result.hint", "is not one of"),
    ({"type": "number", "hint": "currency", "minimum": 0}, "result.minimum",
     "is not an option of hint 'currency' (it is one of slider, progress_bar)"),
    ({"type": "number", "minimum": 0}, "result.minimum", "is an option of a hint"),
    ({"type": "string", "hint": "select_list", "options": []}, "result.options",
     "at least one choice"),
    ({"type": "string", "hint": "select_list", "options": [1]}, "result.options[0]",
     "must be a string or a { display, value } table"),
    ({"type": "object", "hint": "select_list", "options": ["a"]}, "result.options",
     "an object select list takes none"),
    ({"type": "object", "hint": "person", "properties": {"email": {"type": "string"}}},
     "result.id_property", "a person needs an id_property"),
    ({**PERSON, "properties": {"email": {"type": "integer"}, "name": {"type": "string"}}},
     "result.id_property", "must be a string, not integer"),
    ({k: v for k, v in REFERENCE.items() if k != "identity"}, "result.identity",
     "is required by hint 'reference'"),
    ({k: v for k, v in REFERENCE.items() if k != "display_property"}, "result.display_property",
     "a reference needs a display_property"),
    ({**REFERENCE, "identity": "no spaces allowed"}, "result.identity", "must be a sync table"),
])
def test_the_manifest_refuses_a_hint_it_cannot_apply(fields: dict[str, Any], field: str,
                                                     message: str) -> None:
    error = refused(fields)
    assert error.field == field
    assert message in error.message


def test_a_reference_must_name_one_of_the_packs_sync_tables() -> None:
    manifest: dict[str, Any] = {
        "pack": {"name": "p", "version": "1.0.0"},
        "formulas": [{"name": "F", "result": {**REFERENCE, "identity": "Taks"}}],
        "sync_tables": [{"name": "Tasks", "schema": {"type": "object", "id_property": "id",
                                                     "properties": {"id": {"type": "integer"}}}}]}
    with pytest.raises(ManifestError, match="'Taks' is not one of the pack's sync tables "
                                            r"\(Tasks\)") as caught:
        parse_manifest(manifest)
    assert caught.value.field == "formulas[0].result.identity"
    manifest["formulas"][0]["result"]["identity"] = "Tasks"
    assert parse_manifest(manifest).formula("F").result.hint == "reference"


def test_codas_camel_case_names_read_as_the_snake_case_ones() -> None:
    read = schema(type="string", hint="imageAttachment", image_corner_style="square")
    assert read.hint == "image_attachment"
    assert schema(type="string", hint="email", display="iconAndEmail").hint_options == (
        ("display", "icon_and_email"),)
    assert schema(type="number", hint="progressBar").hint == "progress_bar"
    assert schema(type="string", hint="selectList").hint == "select_list"


def test_hint_options_round_trip_through_the_embedded_json() -> None:
    fields = {"type": "object", "properties": {
        "s": n("slider", minimum=1, maximum=9, step=2, show_value=True),
        "c": s("select_list", options=["a", {"display": "Bee", "value": "b"}],
               allow_new_values=False, require_for_updates=True),
        "r": REFERENCE}}
    once = schema(**fields)
    twice = schema(**once.to_dict())
    assert twice == once
    assert once.property("c").to_dict()["options"] == [  # type: ignore[union-attr]
        {"display": "a", "value": "a"}, {"display": "Bee", "value": "b"}]


# -- the reference's examples are true ---------------------------------------------------------

_EXAMPLE = re.compile(r"(?P<schema>\{.*\})(?::\s*(?P<value>.+?))?(?:\s*→\s*(?P<out>.+))?")


@pytest.mark.parametrize("name", list(HINT_SPECS))
def test_each_hints_reference_example_holds(name: str) -> None:
    found = _EXAMPLE.fullmatch(HINT_SPECS[name].example)
    assert found, HINT_SPECS[name].example
    fields = tomllib.loads(f"s = {found['schema']}")["s"]
    read = schema(**fields)
    assert read.hint == name
    if found["value"]:
        value = tomllib.loads(f"v = {found['value']}")["v"]
        out = tomllib.loads(f"v = {found['out']}")["v"] if found["out"] else value
        assert check_result(read, value, pack="p", formula="F") == out
