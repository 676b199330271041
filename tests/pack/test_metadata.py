"""Formula metadata in pack.toml: examples, validate_parameters, a formula's own timeout_ms."""

from __future__ import annotations

from typing import Any

import pytest
from corral import Example, ManifestError, parse_manifest
from corral._pack.manifest import MAX_TIMEOUT_MS
from corral._pack.metadata import formula_limits
from corral._pack.parse import manifest_from_json


def manifest(**formula: Any) -> dict[str, Any]:
    entry = {"name": "Double", "params": [{"name": "n", "type": "number"}],
             "result": {"type": "number"}, **formula}
    return {"pack": {"name": "p", "version": "1.0.0"}, "limits": {"timeout_ms": 1000},
            "formulas": [entry]}


def refused(data: dict[str, Any]) -> ManifestError:
    with pytest.raises(ManifestError) as info:
        parse_manifest(data)
    return info.value


def test_metadata_is_read_and_round_trips_through_the_embedded_json() -> None:
    parsed = parse_manifest(manifest(examples=[{"params": [2], "result": 4}],
                                     validate_parameters=True, timeout_ms=200))
    formula = parsed.formulas[0]
    assert formula.examples == (Example(params=(2,), result=4),)
    assert formula.validate_parameters is True and formula.timeout_ms == 200
    assert formula.to_dict()["examples"] == [{"params": [2], "result": 4}]
    again = manifest_from_json(parsed.to_json()).formulas[0]
    assert again == formula


def test_without_metadata_nothing_is_added() -> None:
    formula = parse_manifest(manifest()).formulas[0]
    assert (formula.examples, formula.validate_parameters, formula.timeout_ms) == ((), False,
                                                                                   None)
    assert {"examples", "validate_parameters", "timeout_ms"}.isdisjoint(formula.to_dict())


@pytest.mark.parametrize("example, field, words", [
    ({"params": ["many"], "result": 2}, "examples[0].params", "parameter 'n' expects number"),
    ({"params": [], "result": 2}, "examples[0].params", "parameter 'n' is missing"),
    ({"params": [1, 2], "result": 2}, "examples[0].params", "at most 1 argument"),
    ({"params": [1], "result": "two"}, "examples[0].result", "expected number, got string"),
    ({"params": [1]}, "examples[0].result", "is required"),
    ({"params": [1], "result": 2, "note": "x"}, "examples[0].note", "not a known field"),
    ({"params": 1, "result": 2}, "examples[0].params", "must be an array"),
])
def test_an_example_that_could_never_happen_is_refused(example: dict[str, Any], field: str,
                                                       words: str) -> None:
    error = refused(manifest(examples=[example]))
    assert error.field == f"formulas[0].{field}"
    assert words in error.message


def test_an_example_result_is_checked_against_an_object_schema() -> None:
    data = manifest(examples=[{"params": [1], "result": {"n": "one"}}])
    data["formulas"][0]["result"] = {"type": "object", "properties": {"n": {"type": "integer"}}}
    error = refused(data)
    assert error.field == "formulas[0].examples[0].result"
    assert "result.n: expected integer, got string" in error.message


def test_a_formula_may_not_ask_for_more_time_than_its_pack() -> None:
    error = refused(manifest(timeout_ms=1001))
    assert error.field == "formulas[0].timeout_ms" and error.rule == "timeout_over_pack_limit"
    assert "1001 is over the pack's [limits] timeout_ms of 1000" in error.message
    data = manifest()
    data["actions"] = [{"name": "Act", "timeout_ms": 5000}]
    assert refused(data).field == "actions[0].timeout_ms"


@pytest.mark.parametrize("value", [0, -5, MAX_TIMEOUT_MS + 1])
def test_timeout_ms_must_be_a_positive_integer_under_the_host_ceiling(value: int) -> None:
    assert refused(manifest(timeout_ms=value)).field == "formulas[0].timeout_ms"


def test_validate_parameters_must_be_a_boolean() -> None:
    assert refused(manifest(validate_parameters="yes")).field == "formulas[0].validate_parameters"


def test_the_formula_timeout_is_the_smaller_of_its_own_and_the_pack_limit() -> None:
    parsed = parse_manifest(manifest(timeout_ms=200))
    limits = formula_limits(parsed.formulas[0], parsed.limits)
    assert limits.timeout_ms == 200 and limits.fuel == parsed.limits.fuel
    plain = parse_manifest(manifest())
    assert formula_limits(plain.formulas[0], plain.limits) is plain.limits
