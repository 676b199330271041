"""$$[variable:NAME] references: bound by the caller, JSON values only, part of the memo key,
and an unbound one is an error naming it and where it is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from corral import ArgumentError, Evaluator, FormulaEvalError, Scheduler
from corral._formula.memo import FormulaMemo
from corral._types import DEFAULT_INVOCATION
from corral._formula.parser import Variable, parse_formula
from corral._formula.values import ValueLimits

from .test_builtins import FIXED_TIME, NoPacks


@pytest.fixture
def ev() -> Iterator[Evaluator]:
    catalog = NoPacks()
    with Scheduler(catalog) as scheduler:
        yield Evaluator(catalog, scheduler, clock=lambda: FIXED_TIME,
                        limits=ValueLimits(max_text_chars=1000, max_list_items=50))


def test_the_grammar_reads_a_variable_with_its_position() -> None:
    tree = parse_formula("=1 +\n  $$[variable:Total Due]")
    assert tree.right == Variable(name="Total Due", line=2, column=3)  # type: ignore[attr-defined]


def test_an_empty_variable_name_is_a_syntax_error() -> None:
    from corral import FormulaSyntaxError

    with pytest.raises(FormulaSyntaxError, match="needs a name") as info:
        parse_formula("1 + $$[variable:]")
    assert (info.value.line, info.value.column) == (1, 5)


@pytest.mark.parametrize("value", ["text", 42, -1.5, True, False, None, [1, "a", [None]],
                                   {"k": [1, 2]}])
def test_every_json_value_binds(ev: Evaluator, value: Any) -> None:
    assert ev.evaluate("$$[variable:v]", variables={"v": value}) == value


def test_variables_feed_builtins_and_operators(ev: Evaluator) -> None:
    variables = {"first": "Ada", "last": "Lovelace", "items": [3, 1, 2], "Rate": 0.5}
    assert ev.evaluate('$$[variable:first] & " " & Upper($$[variable:last])',
                       variables=variables) == "Ada LOVELACE"
    assert ev.evaluate("Sort($$[variable:items])[1] + $$[variable:rate]",
                       variables=variables) == 1.5  # `rate` finds `Rate`


def test_an_unbound_variable_names_itself_and_its_position(ev: Evaluator) -> None:
    with pytest.raises(FormulaEvalError) as info:
        ev.evaluate('If(true,\n   $$[variable:missing], 1)', variables={"present": 1})
    err = info.value
    assert (err.line, err.column) == (2, 4)
    assert "'missing' is not bound" in str(err) and "'present'" in str(err)
    assert err.details["variable"] == "missing"


def test_an_unbound_variable_fails_even_in_an_untaken_branch(ev: Evaluator) -> None:
    with pytest.raises(FormulaEvalError, match="'later' is not bound"):
        ev.evaluate("If(false, $$[variable:later], 1)")


@pytest.mark.parametrize("variables, fragment", [
    ({"x": float("nan")}, "not finite"),
    ({"x": 2**64}, "64-bit"),
    ({"x": b"bytes"}, "not a JSON value"),
    ({"x": {1: "a"}}, "key that is not text"),
    ({"x": "y" * 1001}, "longer than 1000"),
    ({"x": list(range(51))}, "longer than 50 items"),
    ({"": 1}, "non-empty"),
])
def test_values_that_are_not_json_or_break_a_cap_are_refused(
        ev: Evaluator, variables: dict[Any, Any], fragment: str) -> None:
    with pytest.raises(ArgumentError, match=fragment):
        ev.evaluate("1", variables=variables)


def test_a_cyclic_value_is_refused_not_a_hang(ev: Evaluator) -> None:
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    with pytest.raises(ArgumentError):
        ev.evaluate("1", variables={"x": cyclic})


def test_the_memo_key_holds_the_bound_values_and_the_timezone(ev: Evaluator) -> None:
    formula = "$$[variable:n] * 2"
    assert [ev.evaluate(formula, variables={"n": n}) for n in (1, 2, 1)] == [2, 4, 2]
    key = FormulaMemo.key(formula, None, {}, {"n": 2}, DEFAULT_INVOCATION.cache_scope())
    assert ev.memo.get(key) == (True, 4)
    assert FormulaMemo.key(formula, None, {}, {"n": 1}) != FormulaMemo.key(formula, None, {},
                                                                           {"n": True})
    assert FormulaMemo.key(formula, None, {}, {"n": 1}, ("UTC", "", "")) != \
        FormulaMemo.key(formula, None, {}, {"n": 1}, ("Europe/Oslo", "", ""))


def test_a_callers_later_change_to_its_value_does_not_reach_the_memo(ev: Evaluator) -> None:
    items = [1, 2]
    assert ev.evaluate("Sum($$[variable:items])", variables={"items": items}) == 3
    items.append(100)
    assert ev.evaluate("Sum($$[variable:items])", variables={"items": [1, 2]}) == 3


def test_now_and_today_are_never_memoised() -> None:
    catalog = NoPacks()
    times = iter([FIXED_TIME, FIXED_TIME + 86400, FIXED_TIME + 2 * 86400])
    with Scheduler(catalog) as scheduler:
        clocked = Evaluator(catalog, scheduler, clock=lambda: next(times))
        answers = [clocked.evaluate("Today()") for _ in range(3)]
    assert answers == ["2023-11-14", "2023-11-15", "2023-11-16"]


def test_corral_eval_binds_variables_from_the_command_line(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "host")}
    done = subprocess.run(
        [sys.executable, "-m", "corral", "eval", "--data-dir", str(tmp_path / "data"),
         "--var", "who=Ada", "--var", 'n=[1, 2]', "--timezone", "Asia/Tokyo",
         '=$$[variable:who] & Sum($$[variable:n]) & " " & Today()'],
        capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result.startswith("Ada3 20")
    bad = subprocess.run([sys.executable, "-m", "corral", "eval", "--data-dir",
                          str(tmp_path / "data"), "--var", "novalue", "=1"],
                         capture_output=True, text=True, timeout=120, env=env)
    assert bad.returncode != 0 and "--var takes NAME=VALUE" in bad.stderr
