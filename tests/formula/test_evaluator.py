"""The evaluator: pack call resolution, coercion, connections, results, planning, parsing."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterator

import pytest

from corral import (ArgumentError, Evaluator, FormulaDef, FormulaEvalError, FormulaSyntaxError,
                    NotFoundError, ParamDef, Scheduler, SchedulerConfig)

from ..pack_api import HttpCatalog, PackServer, default_packs

DOCS = Path(__file__).resolve().parents[2] / "docs" / "formulas.md"


def typed_packs() -> dict[str, dict[str, FormulaDef]]:
    packs = default_packs()
    packs["Typed"] = {
        "Take": FormulaDef("Take", params=(
            ParamDef("count", type="integer"),
            ParamDef("ratio", type="number", optional=True, default=0.5),
            ParamDef("flag", type="boolean", optional=True),
            ParamDef("tags", type="array", items="string", optional=True),
        )),
        "Many": FormulaDef("Many", params=(ParamDef("first", type="string"),
                                           ParamDef("rest", type="number", vararg=True))),
        "Obj": FormulaDef("Obj", params=(ParamDef("o", type="object"),)),
        "Users": FormulaDef("Users", params=()),
    }
    return packs


@pytest.fixture
def server() -> Iterator[PackServer]:
    srv = PackServer()
    srv.state.hold_s = 0.0
    yield srv
    srv.close()


@pytest.fixture
def ev(server: PackServer) -> Iterator[Evaluator]:
    catalog = HttpCatalog(server, typed_packs())
    with Scheduler(catalog, None, SchedulerConfig(default_deadline_s=10)) as scheduler:
        yield Evaluator(catalog, scheduler)
    catalog.close()


# -- results, properties and indexes -----------------------------------------------------


def test_pack_results_feed_builtins_properties_and_indexes(ev: Evaluator) -> None:
    assert ev.evaluate('=Upper(Alpha.Echo("abc").args[1]) & "!"') == "ABC!"
    assert ev.evaluate("Alpha.Echo(1, 2, 3).Args") == [1, 2, 3]  # case-insensitive fallback
    assert ev.evaluate('Alpha.Echo(1)["formula"]') == "Echo"
    assert ev.evaluate("Alpha.Add(Alpha.Add(1, 2), 4) * 2") == 14


def test_property_of_a_list_of_objects_reads_each_item(ev: Evaluator) -> None:
    assert ev.evaluate("List(Alpha.Echo(1), Alpha.Echo(2)).args") == [[1], [2]]


def test_missing_property_names_it_and_the_position(ev: Evaluator) -> None:
    with pytest.raises(FormulaEvalError) as info:
        ev.evaluate("Alpha.Echo(1).Nope")
    assert "has no property 'Nope'" in str(info.value)
    assert (info.value.line, info.value.column) == (1, 15)


def test_canonical_reference_calls_the_same_formula(ev: Evaluator, server: PackServer) -> None:
    assert ev.evaluate('$$[pack:Alpha:1.0.0:Alpha pack]::Add(2, 3)') == 5
    assert ev.evaluate("alpha.ADD(2, 3)") == 5
    assert len(server.calls("Add")) == 2


# -- resolution and arity, before anything runs -------------------------------------------


@pytest.mark.parametrize("text, error, fragment", [
    ("Nope.Echo(1)", NotFoundError, "no pack named 'Nope' (in Nope.Echo at line 1, column"),
    ("Alpha.Nope(1)", NotFoundError, "no formula of Alpha named 'Nope'"),
    ("Alpha.Add(1)", ArgumentError, "missing"),
    ("Alpha.Add(1, 2, 3)", ArgumentError, "at most 2"),
    ("Typed.Take()", ArgumentError, "'count'"),
    ("Len(1, 2)", FormulaEvalError, "Len: takes 1 arguments, got 2"),
    ("Upper($$[packConnectionReference:c:Alpha])", FormulaEvalError,
     "only be the first argument of a pack call"),
    ("Alpha.Echo(1, $$[packConnectionReference:c:Alpha])", FormulaEvalError,
     "only be the first argument"),
])
def test_planning_errors_stop_the_formula_before_any_call(
        ev: Evaluator, server: PackServer, text: str, error: type[Exception],
        fragment: str) -> None:
    with pytest.raises(error, match=re.escape(fragment)):
        ev.evaluate(f'List(Alpha.Echo("first"), {text})')
    assert server.calls() == []


# -- coercion -----------------------------------------------------------------------------


def test_arguments_are_coerced_and_defaults_filled(ev: Evaluator, server: PackServer) -> None:
    ev.evaluate('Typed.Take("7")')
    ev.evaluate('Typed.Take(3.0, "0.25", "TRUE", ["a", 1, true])')
    ev.evaluate('Typed.Many("x", 1, "2", 3.5)')
    assert [h.args for h in server.calls()] == [
        [7, 0.5, None, None],
        [3, 0.25, True, ["a", "1", "true"]],
        ["x", 1, 2, 3.5],
    ]


@pytest.mark.parametrize("text, parameter", [
    ('Typed.Take("seven")', "count"),
    ("Typed.Take(1.5)", "count"),
    ("Typed.Take(1, true)", "ratio"),
    ('Typed.Take(1, 1, "maybe")', "flag"),
    ("Typed.Take(1, 1, true, [[1]])", "tags"),
    ('Typed.Take(1, 1, true, "a")', "tags"),
    ('Typed.Many("x", 1, "two")', "rest"),
    ("Typed.Obj([1])", "o"),
])
def test_argument_that_does_not_fit_names_the_parameter(ev: Evaluator, server: PackServer,
                                                        text: str, parameter: str) -> None:
    with pytest.raises(ArgumentError) as info:
        ev.evaluate(text)
    assert f"parameter {parameter!r}" in str(info.value)
    assert info.value.details["parameter"] == parameter
    assert info.value.details["line"] == 1
    assert server.calls() == []


# -- connections --------------------------------------------------------------------------


def test_required_connection_must_be_given(ev: Evaluator, server: PackServer) -> None:
    with pytest.raises(ArgumentError, match="needs a connection"):
        ev.evaluate('Alpha.Private("x")')
    assert ev.evaluate('Alpha.Private("x")', connections={"alpha": "c1"})["connection"] == "c1"
    assert server.calls()[0].connection == "c1"


def test_connection_reference_must_match_the_pack(ev: Evaluator, server: PackServer) -> None:
    with pytest.raises(ArgumentError, match="for pack 'Beta', not 'Alpha'"):
        ev.evaluate('Alpha.Private($$[packConnectionReference:c1:Beta], "x")')
    assert server.calls() == []


def test_formula_without_connections_never_gets_one(ev: Evaluator, server: PackServer) -> None:
    assert ev.evaluate('Alpha.Public("x")', connections={"Alpha": "c1"})["connection"] == ""
    with pytest.raises(ArgumentError, match="takes no connection"):
        ev.evaluate('Alpha.Public($$[packConnectionReference:c1:Alpha], "x")')


def test_principal_reaches_the_call(server: PackServer) -> None:
    seen: list[Any] = []

    class Recording(HttpCatalog):
        def invoke(self, call: Any, resolved: Any, *, deadline: float | None) -> Any:
            seen.append((call.principal, call.connection_id))
            return super().invoke(call, resolved, deadline=deadline)

    catalog = Recording(server)
    with Scheduler(catalog) as scheduler:
        Evaluator(catalog, scheduler).evaluate('Alpha.Echo(1)', principal="ann",
                                               connections={"Alpha": "c9"})
    catalog.close()
    assert seen == [("ann", "c9")]


# -- parsing and deadlines ----------------------------------------------------------------


def test_each_distinct_text_is_parsed_once(ev: Evaluator) -> None:
    first = ev.parse("1 + 1")
    assert ev.parse("1 + 1") is first
    assert ev.evaluate("1 + 1") == 2


def test_parse_cache_is_bounded(server: PackServer) -> None:
    catalog = HttpCatalog(server)
    with Scheduler(catalog) as scheduler:
        small = Evaluator(catalog, scheduler, parse_cache_size=2)
        a = small.parse("1")
        small.parse("2")
        small.parse("3")
        assert small.parse("1") is not a  # evicted, parsed again
        assert small.parse("3") is small.parse("3")
    catalog.close()


def test_syntax_errors_surface_from_evaluate(ev: Evaluator) -> None:
    with pytest.raises(FormulaSyntaxError):
        ev.evaluate("1 +")


def test_deadline_must_be_positive(ev: Evaluator) -> None:
    with pytest.raises(ArgumentError, match="deadline"):
        ev.evaluate("1", deadline_s=0)


# -- the documentation's examples --------------------------------------------------------


def _doc_blocks(kind: str) -> list[str]:
    text = DOCS.read_text(encoding="utf-8")
    return re.findall(rf"```{kind}\n(.*?)```", text, flags=re.S)


@pytest.mark.parametrize("block", _doc_blocks("formula"))
def test_documented_examples_evaluate_as_shown(ev: Evaluator, block: str) -> None:
    formula, expected = block.rsplit("=> ", 1)
    assert ev.evaluate(formula.strip()) == json.loads(expected)


@pytest.mark.parametrize("block", _doc_blocks("formula-syntax"))
def test_documented_syntax_examples_parse(ev: Evaluator, block: str) -> None:
    ev.parse(block.strip())


def test_docs_have_examples() -> None:
    assert len(_doc_blocks("formula")) >= 5 and len(_doc_blocks("formula-syntax")) >= 2
