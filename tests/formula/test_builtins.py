"""Built-in functions and operators, evaluated from formula text."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from corral import (CallRequest, Evaluator, FormulaEvalError, NotFoundError, ResolvedFormula,
                    Scheduler)
from corral._formula.builtins import BUILTINS
from corral._formula.values import ValueLimits

FIXED_TIME = 1_700_000_000.5  # 2023-11-14T22:13:20Z


class NoPacks:
    """A catalog with no packs: these formulas only use built-ins."""

    def resolve(self, pack: str, formula: str) -> ResolvedFormula:
        raise NotFoundError(f"no pack named {pack!r}")

    def invoke(self, call: CallRequest, resolved: ResolvedFormula, *,
               deadline: float | None) -> Any:
        raise AssertionError("no pack call was expected")


@pytest.fixture(scope="module")
def ev() -> Iterator[Evaluator]:
    catalog = NoPacks()
    with Scheduler(catalog) as scheduler:
        yield Evaluator(catalog, scheduler, clock=lambda: FIXED_TIME,
                        limits=ValueLimits(max_text_chars=1000, max_list_items=50))


@pytest.mark.parametrize("text, expected", [
    # arithmetic
    ("1 + 2 * 3", 7), ("(1 + 2) * 3", 9), ("7 - 10", -3), ("6 / 3", 2), ("7 / 2", 3.5),
    ("2 ^ 10", 1024), ("2 ^ -1", 0.5), ("-2 ^ 2", -4), ("4 ^ 0.5", 2.0), ("-(3)", -3),
    ("0.1 + 0.2", 0.30000000000000004), ("2 ^ 62 * 4", 1.8446744073709552e19),
    # comparison and equality
    ("1 < 2", True), ("2 <= 2", True), ('"b" > "a"', True), ("1 >= 2", False),
    ("1 = 1.0", True), ('"a" = "A"', False), ("true = 1", False), ("[1, 2] = [1, 2]", True),
    ("1 != 2", True), ("1 <> 1", False),
    # text
    ('"a" & 1 & true', "a1true"), ('"x" & 2.50', "x2.5"), ('"n" & 3.0', "n3"),
    ('Concatenate("a", "b", 3)', "ab3"), ("Concatenate()", ""),
    ('Len("héllo")', 5), ("Len([1, 2, 3])", 3), ('Upper("abc")', "ABC"), ('lower("ÀB")', "àb"),
    ('Trim("  x  ")', "x"), ('Split("a,b,,c", ",")', ["a", "b", "", "c"]),
    ('Split("abc", "")', ["a", "b", "c"]), ('Join("-", "a", [1, 2], true)', "a-1-2-true"),
    ('Contains("haystack", "st")', True), ("Contains([1, 2], 3)", False),
    ('Contains([1, "2"], "2")', True),
    # numbers
    ("Sum(1, 2, [3, 4])", 10), ("Sum()", 0), ("Sum(0.1, 0.2)", 0.30000000000000004),
    ("Average(1, 2, 3, 4)", 2.5), ("Average([2, 4])", 3), ("Min(3, [1, 2])", 1),
    ("Max(3, [1, 7])", 7), ("Round(2.5)", 3), ("Round(-2.5)", -3), ("Round(3.14159, 2)", 3.14),
    ("Round(1234, -2)", 1200), ("Round(1.005, 2)", 1.01), ("Abs(-4)", 4),
    ('ToNumber("42")', 42), ('ToNumber(" -1.5e2 ")', -150.0), ('ToNumber("1,000")', 1000),
    ("ToNumber(true)", 1), ("ToText(3.0)", "3"), ("ToText([1, \"a\"])", "1,a"),
    ('ToText(Split("a b", " "))', "a,b"),
    # logic
    ("Not(false)", True), ("And(true, 1, true)", True), ("And(true, false)", False),
    ("Or(false, 0, true)", True), ("Or(false, false)", False),
    ("If(true, 1, 2)", 1), ("If(0, 1, 2)", 2), ("If(false, 1)", None),
    ("IsBlank(If(false, 1))", True), ('IsBlank("")', True), ("IsBlank([])", True),
    ("IsBlank(0)", False),
    # lists
    ("List(1, \"a\", [2])", [1, "a", [2]]), ("Count(1, [2, 3], If(false, 1))", 3),
    ("First([4, 5])", 4), ("Last([4, 5])", 5), ("First([])", None),
    ("Nth([4, 5, 6], 2)", 5), ("Nth([4, 5, 6], -1)", 6),
    ("[10, 20, 30][1]", 10), ("[10, 20, 30][-1]", 30), ("[[1, 2], [3]][1][2]", 2),
    # clock
    ("Now()", "2023-11-14T22:13:20Z"), ("Today()", "2023-11-14"),
    # names are case-insensitive
    ("SUM(1, 2)", 3), ("iF(TRUE, \"y\", \"n\")", "y"), ("upper(\"q\")", "Q"),
])
def test_evaluates(ev: Evaluator, text: str, expected: Any) -> None:
    result = ev.evaluate(text)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize("text, fragment, column", [
    ('1 + "a"', "operator + argument 2: expects numbers, got text; use & to join text", 3),
    ("true * 2", "operator * argument 1: expects numbers, got boolean", 6),
    ("1 / 0", "division by zero", 3),
    ("1 / (2 - 2)", "division by zero", 3),
    ('1 < "a"', "cannot compare number with text", 3),
    ('-"a"', "unary -: expects a number, got text", 1),
    ('Len(5)', "Len argument 1: expects text or a list, got number", 1),
    ('Upper(1)', "Upper argument 1: expects text, got number", 1),
    ('If("yes", 1, 2)', "If argument 1: expects a boolean, got text", 1),
    ('And(true, "x")', "And argument 2: expects a boolean, got text", 1),
    ('Sum(1, "2")', "Sum: expects numbers, got text", 1),
    ("Average()", "Average: takes at least 1 arguments, got 0", 1),
    ("Average([])", "Average: needs at least one number", 1),
    ("Nth([1], 2)", "Nth argument 2: index 2 is out of range for a list of 1", 1),
    ("Nth([1], 0)", "indexes start at 1", 1),
    ('[1][1.5]', "an index must be a whole number", 4),
    ('[1]["a"]', "an index must be a whole number", 4),
    ("Round(1, 1.5)", "Round argument 2: the number of digits must be a whole number", 1),
    ('ToNumber("abc")', "ToNumber argument 1: 'abc' is not a number", 1),
    ("Not(1, 2)", "Not: takes 1 arguments, got 2", 1),
    ("Now(1)", "Now: takes 0 arguments, got 1", 1),
    ("Frobnicate(1)", "unknown function 'Frobnicate'", 1),
    ("  2 ^ 5000.5", "too large", 5),
    ("10 ^ 300 * 10 ^ 300", "not a finite number", 10),
    ('First("abc")', "First argument 1: expects a list, got text", 1),
    ('[1, 2].Name', "cannot read property 'Name' of number", 8),
])
def test_type_and_value_errors_name_function_and_position(ev: Evaluator, text: str,
                                                          fragment: str, column: int) -> None:
    with pytest.raises(FormulaEvalError) as info:
        ev.evaluate(text)
    assert fragment in str(info.value)
    assert (info.value.line, info.value.column) == (1, column)


def test_unknown_function_is_reported_before_anything_runs(ev: Evaluator) -> None:
    with pytest.raises(FormulaEvalError, match="unknown function 'Nope'"):
        ev.evaluate('If(false, Nope(1), 1)')


@pytest.mark.parametrize("text, fragment", [
    ('Split("' + "a," * 60 + '", ",")', "longer than 50 items"),
    ('Split("' + "a" * 60 + '", "")', "longer than 50 items"),
    ('List(' + ", ".join(["1"] * 51) + ')', "longer than 50 items"),
    ('[' + ", ".join(["1"] * 51) + ']', "longer than 50 items"),
    ('"' + "x" * 600 + '" & "' + "y" * 600 + '"', "longer than 1000 characters"),
    ('Concatenate("' + "x" * 600 + '", "' + "y" * 600 + '")', "longer than 1000 characters"),
    ('Join("' + "-" * 40 + '", Split("' + "a" * 40 + '", ""))', "longer than 1000 characters"),
])
def test_value_bombs_fail_cleanly(ev: Evaluator, text: str, fragment: str) -> None:
    with pytest.raises(FormulaEvalError, match=fragment):
        ev.evaluate(text)


def test_huge_integers_become_floats_not_bignums(ev: Evaluator) -> None:
    assert ev.evaluate("2 ^ 63") == 2.0 ** 63
    assert ev.evaluate("2 ^ 62") == 2 ** 62
    with pytest.raises(FormulaEvalError, match="too large"):
        ev.evaluate("9 ^ 9 ^ 9")


def test_every_builtin_named_in_the_issue_exists() -> None:
    wanted = ("If And Or Not Concatenate Len Upper Lower Trim Split Join Contains Sum Average "
              "Min Max Round Abs Count First Last Nth List IsBlank ToText ToNumber Now Today")
    assert {name.lower() for name in wanted.split()} <= set(BUILTINS)
