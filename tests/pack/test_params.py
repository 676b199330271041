"""Every parameter type: declared in the manifest, checked at parse time, coerced per call.

Coda's nine scalar parameter types (string, number, boolean, date, html, image, file,
markdown, email), each plain, as an array and as a sparse array; plus Corral's integer.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path
from typing import Any

import pytest

from corral import ArgumentError, ManifestError, ParamDef, coerce_args, parse_manifest
from corral._pack.parse import manifest_from_json

CODA_SCALARS = ("string", "number", "boolean", "date", "html", "image", "file", "markdown",
                "email")
SCALARS = CODA_SCALARS + ("integer",)

#: A value a caller might send for each type, and what the guest receives.
SENT_AND_RECEIVED: dict[str, tuple[Any, Any]] = {
    "string": (12, "12"),
    "number": ("2.5", 2.5),
    "integer": ("7", 7),
    "boolean": ("TRUE", True),
    "date": ("2026-12-02", "2026-12-02T00:00:00.000Z"),
    "html": ("<b>hi</b>", "<b>hi</b>"),
    "markdown": ("**hi**", "**hi**"),
    "image": (" https://img.example.com/a.png ", "https://img.example.com/a.png"),
    "file": ("http://files.example.com/r.pdf?x=1", "http://files.example.com/r.pdf?x=1"),
    "email": ("Ada@Example.COM", "Ada@example.com"),
}

#: A value each type refuses, and a fragment of the reason.
REFUSED: dict[str, tuple[Any, str]] = {
    "string": ({"a": 1}, "got dict"),
    "number": ("lots", "could not convert"),
    "integer": (2.5, "not a whole number"),
    "boolean": ("yes", "got 'yes'"),
    "date": ("next tuesday", "is not a date"),
    "html": ([1], "got list"),
    "markdown": (b"x", "got bytes"),
    "image": ("ftp://img.example.com/a.png", "absolute http or https URL"),
    "file": ("/relative/path", "absolute http or https URL"),
    "email": ("ada at example.com", "is not an e-mail address"),
}


def manifest_with(*params: dict[str, Any]) -> Any:
    return parse_manifest({"pack": {"name": "demo", "version": "1.0.0"},
                           "formulas": [{"name": "F", "params": list(params)}]})


def call(params: list[dict[str, Any]], *args: Any) -> tuple[Any, ...]:
    formula = manifest_with(*params).formula("F")
    return coerce_args(formula, list(args), pack="demo")


def test_the_27_coda_types_and_integer_all_parse_and_round_trip() -> None:
    params = []
    for kind in SCALARS:
        params += [{"name": f"one_{kind}", "type": kind},
                   {"name": f"many_{kind}", "type": "array", "items": kind},
                   {"name": f"sparse_{kind}", "type": "array", "items": kind, "sparse": True}]
    manifest = manifest_with(*params)
    declared = manifest.formula("F").params
    assert len(declared) == 3 * len(SCALARS) == 27 + 3
    assert {(p.type, p.items, p.sparse) for p in declared if p.items in CODA_SCALARS
            or p.type in CODA_SCALARS} == (
        {(k, None, False) for k in CODA_SCALARS} | {("array", k, False) for k in CODA_SCALARS}
        | {("array", k, True) for k in CODA_SCALARS})
    assert manifest_from_json(manifest.to_json()) == manifest


@pytest.mark.parametrize("kind", SCALARS)
def test_each_scalar_is_coerced_to_what_the_guest_receives(kind: str) -> None:
    sent, received = SENT_AND_RECEIVED[kind]
    assert call([{"name": "v", "type": kind}], sent) == (received,)


@pytest.mark.parametrize("kind", SCALARS)
def test_each_array_type_coerces_every_item(kind: str) -> None:
    sent, received = SENT_AND_RECEIVED[kind]
    assert call([{"name": "v", "type": "array", "items": kind}], [sent, sent]) == (
        [received, received],)


@pytest.mark.parametrize("kind", SCALARS)
def test_each_scalar_refuses_a_bad_value_naming_the_parameter(kind: str) -> None:
    bad, reason = REFUSED[kind]
    with pytest.raises(ArgumentError) as info:
        call([{"name": "field_x", "type": kind}], bad)
    assert info.value.details["parameter"] == "field_x"
    assert f"parameter 'field_x' expects {kind}: " in info.value.message
    assert reason in info.value.message


@pytest.mark.parametrize("kind", SCALARS)
def test_a_plain_array_refuses_a_null_naming_the_parameter_and_index(kind: str) -> None:
    sent, _ = SENT_AND_RECEIVED[kind]
    with pytest.raises(ArgumentError) as info:
        call([{"name": "cells", "type": "array", "items": kind}], [sent, sent, None])
    assert info.value.details["parameter"] == "cells"
    assert f"parameter 'cells' expects array of {kind}: item 2 is null" in info.value.message


@pytest.mark.parametrize("kind", SCALARS)
def test_a_sparse_array_keeps_its_nulls(kind: str) -> None:
    sent, received = SENT_AND_RECEIVED[kind]
    got = call([{"name": "cells", "type": "array", "items": kind, "sparse": True}],
               [None, sent, None])
    assert got == ([None, received, None],)


def test_a_null_in_a_string_array_is_never_the_text_none() -> None:
    with pytest.raises(ArgumentError, match=r"'names' expects array of string: item 1 is null"):
        call([{"name": "names", "type": "array", "items": "string"}], ["a", None])
    assert call([{"name": "names", "type": "array", "items": "string", "sparse": True}],
                ["a", None]) == (["a", None],)


def test_a_bad_item_names_its_index() -> None:
    with pytest.raises(ArgumentError, match=r"'when' expects sparse array of date: item 1: "
                                            r"'soon' is not a date"):
        call([{"name": "when", "type": "array", "items": "date", "sparse": True}],
             [None, "soon"])


@pytest.mark.parametrize(("sent", "received"), [
    ("2026-12-02", "2026-12-02T00:00:00.000Z"),
    ("2026-12-02T10:00:00Z", "2026-12-02T10:00:00.000Z"),
    ("2026-12-02T10:00:00+01:00", "2026-12-02T09:00:00.000Z"),
    ("2026-12-02T10:00:00.123456-05:30", "2026-12-02T15:30:00.123Z"),
    ("2026-12-02 10:00", "2026-12-02T10:00:00.000Z"),
    ("2026-12-02t10:00:00z", "2026-12-02T10:00:00.000Z"),
    ("20261202T100000Z", "2026-12-02T10:00:00.000Z"),
    ("20261202T1000+0100", "2026-12-02T09:00:00.000Z"),
    ("Wed, 02 Dec 2026 10:00:00 GMT", "2026-12-02T10:00:00.000Z"),
    (1796205600, "2026-12-02T10:00:00.000Z"),
    (1796205600.25, "2026-12-02T10:00:00.250Z"),
    (0, "1970-01-01T00:00:00.000Z"),
    (dt.date(2026, 12, 2), "2026-12-02T00:00:00.000Z"),
    ("0001-01-01", "0001-01-01T00:00:00.000Z"),
    ("9999-12-31T23:59:59.9999Z", "9999-12-31T23:59:59.999Z"),
    (dt.datetime(2026, 12, 2, 10, tzinfo=dt.timezone(dt.timedelta(hours=2))),
     "2026-12-02T08:00:00.000Z"),
])
def test_dates_in_the_forms_callers_send_reach_the_guest_in_one_form(sent: Any,
                                                                     received: str) -> None:
    assert call([{"name": "when", "type": "date"}], sent) == (received,)


@pytest.mark.parametrize("bad", ["2026-13-01", "2026-02-30", "", "tomorrow", True, 1e20,
                                 float("inf"), {"y": 2026}])
def test_a_bad_date_is_refused(bad: Any) -> None:
    with pytest.raises(ArgumentError, match="parameter 'when' expects date"):
        call([{"name": "when", "type": "date"}], bad)


@pytest.mark.parametrize("bad", ["https://", "https://exa mple.com/", "javascript:alert(1)",
                                 "https://example.com:99999/", "example.com/a.png", 42])
def test_image_and_file_urls_are_checked(bad: Any) -> None:
    for kind in ("image", "file"):
        with pytest.raises(ArgumentError, match=f"parameter 'u' expects {kind}"):
            call([{"name": "u", "type": kind}], bad)


@pytest.mark.parametrize("bad", ["@example.com", "a@", "a@@example.com", "a b@example.com",
                                 "a@example", "a@-example.com", 7])
def test_emails_are_checked_without_dns(bad: Any) -> None:
    with pytest.raises(ArgumentError, match="parameter 'to' expects email"):
        call([{"name": "to", "type": "email"}], bad)


def test_html_and_markdown_are_text() -> None:
    assert call([{"name": "h", "type": "html"}, {"name": "m", "type": "markdown"}],
                "<p>x</p>", 3) == ("<p>x</p>", "3")


# -- defaults, suggested values, optional parameters, varargs ---------------------------


def test_defaults_are_checked_and_kept_in_the_form_the_guest_receives() -> None:
    formula = manifest_with(
        {"name": "since", "type": "date", "default": dt.date(2026, 12, 2)},  # a TOML date
        {"name": "logo", "type": "image", "default": " https://example.com/l.png"},
        {"name": "cc", "type": "array", "items": "email", "sparse": True,
         "default": ["A@B.ORG", None]}).formula("F")
    assert [p.default for p in formula.params] == [
        "2026-12-02T00:00:00.000Z", "https://example.com/l.png", ["A@b.org", None]]
    assert coerce_args(formula, [], pack="demo") == tuple(p.default for p in formula.params)


@pytest.mark.parametrize(("param", "reason"), [
    ({"name": "p", "type": "date", "default": "someday"}, "is not a date"),
    ({"name": "p", "type": "email", "default": "nobody"}, "is not an e-mail address"),
    ({"name": "p", "type": "image", "default": "data:image/png;base64,AA"}, "http or https"),
    ({"name": "p", "type": "array", "items": "string", "default": ["a", None]}, "item 1 is null"),
    ({"name": "p", "type": "integer", "default": 1.5}, "not a whole number"),
])
def test_a_bad_default_is_a_manifest_error_naming_the_field(param: dict[str, Any],
                                                            reason: str) -> None:
    with pytest.raises(ManifestError) as info:
        manifest_with(param)
    assert info.value.field == "formulas[0].params[0].default"
    assert info.value.rule == "param_value"
    assert "for parameter 'p'" in info.value.message and reason in info.value.message


def test_suggested_values_are_checked_and_exposed_in_the_manifest_json() -> None:
    manifest = manifest_with({"name": "since", "type": "date", "suggested": "2026-12-02"},
                             {"name": "n", "type": "number", "optional": True, "suggested": 3})
    since, _ = manifest.formula("F").params
    assert since.suggested == "2026-12-02T00:00:00.000Z" and not since.optional
    assert not since.has_default, "a suggested value is not a default"
    assert manifest.to_dict()["formulas"][0]["params"][0] == {
        "name": "since", "type": "date", "suggested": "2026-12-02T00:00:00.000Z"}
    assert manifest_from_json(manifest.to_json()) == manifest
    assert coerce_args(manifest.formula("F"), ["2027-01-01"], pack="demo") == (
        "2027-01-01T00:00:00.000Z", None)
    with pytest.raises(ManifestError, match="suggested: is not a valid email"):
        manifest_with({"name": "to", "type": "email", "suggested": "x"})
    assert ParamDef(name="x").to_dict() == {"name": "x", "type": "string"}


@pytest.mark.parametrize("kind", SCALARS)
def test_an_optional_parameter_of_each_type_may_be_left_out(kind: str) -> None:
    sent, received = SENT_AND_RECEIVED[kind]
    params = [{"name": "a", "type": kind}, {"name": "b", "type": kind, "optional": True}]
    assert call(params, sent) == (received, None)
    assert call(params, sent, None) == (received, None)
    assert call(params, sent, sent) == (received, received)


@pytest.mark.parametrize("kind", SCALARS)
def test_a_vararg_of_each_type_coerces_every_argument(kind: str) -> None:
    sent, received = SENT_AND_RECEIVED[kind]
    bad, _ = REFUSED[kind]
    params = [{"name": "first", "type": "string"}, {"name": "rest", "type": kind, "vararg": True}]
    assert call(params, "x", sent, sent, sent) == ("x", received, received, received)
    with pytest.raises(ArgumentError) as info:
        call(params, "x", sent, bad)
    assert info.value.details["parameter"] == "rest"


@pytest.mark.parametrize(("param", "field", "rule"), [
    ({"name": "p", "type": "datetime"}, "type", "enum"),
    ({"name": "p", "type": "string", "sparse": True}, "sparse", "sparse"),
    ({"name": "p", "type": "array", "items": "array"}, "items", "items"),
    ({"name": "p", "type": "date", "items": "date"}, "items", "items"),
    ({"name": "p", "type": "array", "sparse": "yes"}, "sparse", "type"),
])
def test_bad_declarations_name_the_field(param: dict[str, Any], field: str, rule: str) -> None:
    with pytest.raises(ManifestError) as info:
        manifest_with(param)
    assert (info.value.field, info.value.rule) == (f"formulas[0].params[0].{field}", rule)


def test_result_schemas_keep_their_value_types() -> None:
    # `date` and friends are parameter types; a result says what it is with a hint.
    with pytest.raises(ManifestError, match="'date' is not one of"):
        parse_manifest({"pack": {"name": "demo", "version": "1.0.0"},
                        "formulas": [{"name": "F", "result": {"type": "date"}}]})


def test_every_example_in_the_reference_is_a_valid_declaration() -> None:
    reference = Path(__file__).resolve().parents[2] / "docs" / "reference.md"
    rows = [line for line in reference.read_text(encoding="utf-8").splitlines()
            if line.startswith("| `") and "{ name = " in line]
    examples = {line.split("|")[1].strip().strip("`"): line.split("|")[4].strip().strip("`")
                for line in rows}
    assert set(CODA_SCALARS) | {"integer", "array"} <= set(examples)
    for kind, example in examples.items():
        param = tomllib.loads(f"p = {example}")["p"]
        assert manifest_with(param).formula("F").params[0].type == kind
