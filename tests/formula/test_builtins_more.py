"""The text, math, date and list built-ins beyond the first 28: results with Coda's
semantics (1-based positions, blanks), errors naming function and argument, and caps
that hostile arguments cannot get past."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from corral import Evaluator, FormulaEvalError, Scheduler
from corral._formula.builtins import BUILTINS
from corral._formula.values import ValueLimits

from .test_builtins import FIXED_TIME, NoPacks


@pytest.fixture(scope="module")
def ev() -> Iterator[Evaluator]:
    catalog = NoPacks()
    with Scheduler(catalog) as scheduler:
        yield Evaluator(catalog, scheduler, clock=lambda: FIXED_TIME,
                        limits=ValueLimits(max_text_chars=1000, max_list_items=50))


@pytest.mark.parametrize("text, expected", [
    # text
    ('Left("abcdef", 2)', "ab"), ('Left("ab", 10)', "ab"), ('Left("ab", 0)', ""),
    ('Right("abcdef", 2)', "ef"), ('Right("ab", 0)', ""), ('Right("ab", 9)', "ab"),
    ('Mid("abcdef", 2, 3)', "bcd"), ('Middle("abc", 3, 5)', "c"), ('Mid("abc", 9, 1)', ""),
    ('Substitute("a-b-c", "-", "+")', "a+b+c"), ('Substitute("aaa", "a", "")', ""),
    ('Find("c", "abcabc")', 3), ('Find("c", "abcabc", 4)', 6), ('Find("z", "abc")', -1),
    ('Find("", "abc")', 1),
    ('StartsWith("Corral", "Cor")', True), ('EndsWith("Corral", "al")', True),
    ('StartsWith("a", "ab")', False), ('EndsWith(If(false, 1), "")', True),
    ('Repeat("ab", 3)', "ababab"), ('Repeat("ab", 0)', ""),
    ('Format("{1} of {2}, {1}!", "one", 2)', "one of 2, one!"), ('Format("none")', "none"),
    ('RegexMatch("order-123", "[0-9]+")', True), ('RegexMatch("ABC", "abc")', False),
    ('RegexMatch("ABC", "abc", "i")', True),
    ('RegexExtract("order-123-456", "[0-9]+")', "123"),
    ('RegexExtract("k=v", "k=(\\\\w+)")', "v"),
    ('RegexExtract("a1b22c333", "[0-9]+", "g")', ["1", "22", "333"]),
    ('RegexExtract("abc", "[0-9]")', None),
    ('RegexReplace("2024-05-31", "(\\\\d+)-(\\\\d+)-(\\\\d+)", "$3/$2/$1")', "31/05/2024"),
    ('RegexReplace("a b  c", " +", "_")', "a_b_c"),
    ('IsText("x")', True), ("IsText(1)", False), ("IsNumber(1.5)", True),
    ('IsNumber("1")', False), ("IsNumber(true)", False), ('Length("abc")', 3),
    # math
    ("RoundUp(1.21, 1)", 1.3), ("RoundUp(-1.21, 1)", -1.3), ("RoundUp(1.01)", 2),
    ("RoundDown(1.99)", 1), ("RoundDown(-1.99)", -1), ("RoundDown(1.99, 1)", 1.9),
    ("RoundUp(1234, -2)", 1300), ("Truncate(3.789, 2)", 3.78),
    ("Floor(2.7)", 2), ("Floor(-2.5)", -3), ("Floor(17, 5)", 15), ("Floor(1.27, 0.1)", 1.2),
    ("Ceiling(2.1)", 3), ("Ceiling(17, 5)", 20), ("Ceiling(-2.5)", -2),
    ("Power(2, 10)", 1024), ("Power(9, 0.5)", 3.0), ("Sqrt(16)", 4), ("Sqrt(2)", 2 ** 0.5),
    ("Mod(7, 3)", 1), ("Mod(-7, 3)", 2), ("Mod(7, -3)", -2), ("Mod(7.5, 2)", 1.5),
    ("Quotient(7, 2)", 3), ("Quotient(-7, 2)", -3), ("Quotient(7.9, 2)", 3),
    ("Log(1000)", 2.9999999999999996), ("Log(8, 2)", 3.0), ("Ln(1)", 0.0),
    ("Exp(0)", 1.0), ("Sign(-3)", -1), ("Sign(0)", 0), ("Sign(2.5)", 1),
    ("Round(Pi(), 4)", 3.1416), ("Product(2, [3, 4])", 24), ("Product(1.5, 2)", 3.0),
    ("Median(3, 1, 2)", 2), ("Median(1, 2, 3, 4)", 2.5), ("Median([5, 1])", 3),
    # logic
    ('IfBlank(If(false, 1), "fallback")', "fallback"), ('IfBlank("", "f")', "f"),
    ("IfBlank(0, 9)", 0),
    ('Switch(2, 1, "one", 2, "two", "other")', "two"),
    ('Switch(5, 1, "one", "other")', "other"), ('Switch(5, 1, "one")', None),
    ('IsNotBlank("x")', True), ("IsNotBlank([])", False),
    # dates (UTC)
    ("Date(2024, 5, 31)", "2024-05-31"), ("Date(2024, 13, 1)", "2025-01-01"),
    ("Date(2024, 3, 0)", "2024-02-29"), ("Date(2023, 1, 32)", "2023-02-01"),
    ("Time(9, 5)", "09:05:00"), ("Time(23, 59, 59)", "23:59:59"),
    ("DateTime(2024, 5, 31, 13, 45)", "2024-05-31T13:45:00Z"),
    ('Year("2024-05-31")', 2024), ('Month("2024-05-31T23:00:00Z")', 5),
    ('Day("2024-05-31")', 31), ('Hour("2024-05-31T13:45:10Z")', 13),
    ('Minute("13:45")', 45), ('Second("13:45:10")', 10), ('Hour("9:30")', 9),
    ('Hour("2024-05-31")', 0),
    ('Weekday("2024-06-02")', 1), ('Weekday("2024-06-01")', 7), ('Weekday("2024-06-02", 2)', 7),
    ('WeekNumber("2024-01-01")', 1), ('WeekNumber("2024-01-07")', 2),
    ('WeekNumber("2024-12-31")', 53),
    ('EDate("2024-01-31", 1)', "2024-02-29"), ('EDate("2024-03-31", -1)', "2024-02-29"),
    ('EDate("2024-01-15T10:00:00Z", 12)', "2025-01-15T10:00:00Z"),
    ('RelativeDate("2024-05-31", 3)', "2024-08-31"),
    ('EOMonth("2024-02-10", 0)', "2024-02-29"), ('EOMonth("2024-01-31", -2)', "2023-11-30"),
    ('DateTimeTruncate("2024-05-31T13:45:10Z", "hour")', "2024-05-31T13:00:00Z"),
    ('DateTimeTruncate("2024-05-31T13:45:10Z", "day")', "2024-05-31T00:00:00Z"),
    ('DateTimeTruncate("2024-05-31", "month")', "2024-05-01"),
    ('DateTimeTruncate("2024-05-31", "quarter")', "2024-04-01"),
    ('DateTimeTruncate("2024-05-31", "week")', "2024-05-26"),
    ('DateTimeTruncate("2024-05-31", "years")', "2024-01-01"),
    ('Days("2024-03-01", "2024-02-01")', 29), ('Days("2024-01-01", "2024-01-02")', -1),
    ('Days("2024-01-02T12:00:00Z", "2024-01-01")', 1.5),
    ('Networkdays("2024-05-27", "2024-06-07")', 10), ('Networkdays("2024-06-01", "2024-06-02")', 0),
    ('Networkdays("2024-06-07", "2024-05-27")', -10),
    ('Networkdays("0001-01-01", "9999-12-31")', 2_608_615),
    ('ToDate("2024-05-31T23:30:00Z")', "2024-05-31"), ('ToDate(" 2024-05-31 ")', "2024-05-31"),
    ('ToDateTime("2024-05-31")', "2024-05-31T00:00:00Z"),
    ('ToDateTime("2024-05-31 08:00:00+02:00")', "2024-05-31T06:00:00Z"),
    ('FormatDate("2024-05-31T13:05:09Z", "ddd D MMM YYYY, h:mm A")', "Fri 31 May 2024, 1:05 PM"),
    ('FormatDate("2024-01-02", "DD/MM/YY dddd MMMM")', "02/01/24 Tuesday January"),
    ("EpochToDate(0)", "1970-01-01T00:00:00Z"),
    ("Today()", "2023-11-14"),
    # lists
    ("Slice([1, 2, 3, 4], 2, 3)", [2, 3]), ("Slice([1, 2, 3, 4], 2)", [2, 3, 4]),
    ("Slice([1, 2, 3, 4], -2)", [3, 4]), ("Slice([1, 2], 5, 9)", []),
    ("Sort([3, 1, 2])", [1, 2, 3]), ("Sort([3, 1, 2], false)", [3, 2, 1]),
    ('Sort(["b", "a", If(false, 1)])', ["a", "b", None]),
    ('Sort(["2024-05-31", "2023-01-01"])', ["2023-01-01", "2024-05-31"]),
    ("Unique([1, 2, 1, 3, 2])", [1, 2, 3]), ("Unique([1, true, 1.0])", [1, True]),
    ("Unique([[1], [1], [2]])", [[1], [2]]),
    ("Reverse([1, 2, 3])", [3, 2, 1]), ("Reverse([])", []),
    ("Sequence(1, 5)", [1, 2, 3, 4, 5]), ("Sequence(0, 10, 5)", [0, 5, 10]),
    ("Sequence(3, 1)", [3, 2, 1]), ("Sequence(1, 2, 0.5)", [1, 1.5, 2.0]),
    ("Sequence(1, 5, -1)", []),
    ("In(2, 1, 2, 3)", True), ("In(4, [1, 2, 3])", False), ('In("a", "A")', False),
    ("ListCombine(1, [2, [3, [4]]], [])", [1, 2, 3, 4]),
    ("CountUnique([1, 1, 2], 3, If(false, 1))", 3),
    ("Splice([1, 2, 3, 4], 2, 2, 9)", [1, 9, 4]), ("Splice([1, 2], 9, 1, 3)", [1, 2, 3]),
])
def test_evaluates(ev: Evaluator, text: str, expected: Any) -> None:
    result = ev.evaluate(text)
    assert result == expected and type(result) is type(expected), (text, result)


@pytest.mark.parametrize("text, fragment", [
    ('Left("abc", -1)', "Left argument 2: must be from 0"),
    ('Left("abc", 1.5)', "Left argument 2: expects a whole number"),
    ('Mid("abc", 0, 1)', "Mid argument 2: must be from 1"),
    ('Substitute("abc", "", "x")', "Substitute argument 2: the text to search for is empty"),
    ('Format("{3}", 1)', "names {3} but 1 value(s)"),
    ('RegexMatch("a", "(")', "RegexMatch argument 2: invalid pattern"),
    ('RegexMatch("aa", "(a)\\\\1")', "no backreferences"),
    ('RegexMatch("a", "a", "x")', "RegexMatch argument 3: unknown flag"),
    ("Sqrt(-1)", "not a real number"), ("Mod(1, 0)", "division by zero"),
    ("Quotient(1, 0)", "division by zero"), ("Log(0)", "positive number"),
    ("Log(10, 1)", "must not be 1"), ("Exp(1000)", "too large"),
    ("Floor(1, 0)", "factor must not be zero"), ("RoundUp(1, 99)", "from -20 to 20"),
    ("Power(10, 400.5)", "too large"),
    ('Year("yesterday")', "Year argument 1: 'yesterday' is not an ISO 8601 date"),
    ("Year(2024)", "expects a date as ISO 8601 text"),
    ("Date(10000, 1, 1)", "must be from 1 to 9999"),
    ("Date(9999, 12, 32)", "out of range"),
    ('EDate("9999-12-01", 1)', "out of range"), ('EDate("2024-01-01", 999999999)', "from"),
    ("Time(24, 0)", "Time argument 1: must be from 0 to 23"),
    ('DateTimeTruncate("2024-05-31", "fortnight")', "unknown unit 'fortnight'"),
    ('Hour("25:00")', "not a time of day"),
    ('FormatDate("2024-01-01", Repeat("Y", 300))', "longer than 200"),
    ("Slice([1], 0)", "indexes start at 1"), ('Sort([1, "a"])', "can only sort"),
    ("Sort([[1]])", "can only sort"), ("Sequence(1, 2, 0)", "step must not be zero"),
    ("Switch(1, 2)", "Switch"), ("Sort(1)", "Sort argument 1: expects a list"),
])
def test_errors_name_the_function_and_argument(ev: Evaluator, text: str, fragment: str) -> None:
    with pytest.raises(FormulaEvalError) as info:
        ev.evaluate(text)
    assert fragment in str(info.value), str(info.value)
    assert info.value.line == 1


@pytest.mark.parametrize("text, fragment", [
    ('Repeat("abc", 400)', "longer than 1000 characters"),
    ('Repeat("", 1000000000000)', "must be from 0 to 1000"),
    ('Substitute(Repeat("a", 100), "a", Repeat("b", 20))', "longer than 1000"),
    ('RegexReplace(Repeat("a", 100), "", Repeat("b", 20))', "longer than 1000"),
    ('RegexExtract(Repeat("a", 100), "a", "g")', "longer than 50 items"),
    ("Sequence(1, 1000000000000)", "would build a list of 1000000000000 items"),
    ("Sequence(0, 1, 0.00000001)", "more than 50"),
    ('Format(Repeat("{1}", 300), Repeat("x", 100))', "longer than 1000"),
    ("ListCombine(Sequence(1, 30), Sequence(1, 30))", "longer than 50 items"),
    ("Splice(Sequence(1, 40), 1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)", "longer than 50"),
])
def test_caps_hold_against_hostile_arguments(ev: Evaluator, text: str, fragment: str) -> None:
    with pytest.raises(FormulaEvalError) as info:
        ev.evaluate(text)
    assert fragment in str(info.value), str(info.value)


def test_regex_patterns_are_capped_in_length() -> None:
    catalog = NoPacks()
    with Scheduler(catalog) as scheduler:
        roomy = Evaluator(catalog, scheduler)
        with pytest.raises(FormulaEvalError, match="pattern is longer than 1000"):
            roomy.evaluate('RegexMatch("x", Repeat("a", 1001))')
        assert roomy.evaluate('RegexMatch("x", Repeat("a", 1000))') is False


def test_catastrophic_regex_patterns_run_in_linear_time(ev: Evaluator) -> None:
    # (a+)+$ against a's and a b backtracks for ever in re; RE2 answers at once.
    assert ev.evaluate('RegexMatch(Repeat("a", 900) & "b", "(a+)+$")') is False
    assert ev.evaluate('RegexReplace(Repeat("a", 500) & "!", "(a|aa)*$", "x")') == "a" * 500 + "!x"


def test_dates_and_times_honour_the_callers_timezone(ev: Evaluator) -> None:
    oslo = {"timezone": "Europe/Oslo"}
    assert ev.evaluate("Now()", **oslo) == "2023-11-14T23:13:20+01:00"
    assert ev.evaluate("Today()", timezone="Asia/Tokyo") == "2023-11-15"
    assert ev.evaluate('Hour("2024-05-31T10:00:00Z")', **oslo) == 12  # summer time
    assert ev.evaluate("DateTime(2024, 1, 1, 9)", **oslo) == "2024-01-01T09:00:00+01:00"
    assert ev.evaluate('ToDateTime("2024-07-01 09:00")', **oslo) == "2024-07-01T09:00:00+02:00"
    assert ev.evaluate('ToDate("2024-05-31T23:30:00Z")', **oslo) == "2024-06-01"
    assert ev.evaluate('DateTimeTruncate("2024-05-31T23:30:00Z", "day")', **oslo) == \
        "2024-06-01T00:00:00+02:00"
    assert ev.evaluate('Days("2024-03-31T12:00:00", "2024-03-30T12:00:00")', **oslo) == \
        pytest.approx(23 / 24)  # the night the clocks went forward


def test_a_bad_timezone_is_refused_naming_it(ev: Evaluator) -> None:
    from corral import ArgumentError

    for bad in ("Mars/Olympus", "../etc/passwd", "", "x" * 100):
        with pytest.raises(ArgumentError, match="timezone"):
            ev.evaluate("Now()", timezone=bad)


def test_switch_and_ifblank_pick_without_type_confusion(ev: Evaluator) -> None:
    assert ev.evaluate('Switch(true, 1, "number", true, "boolean")') == "boolean"
    assert ev.evaluate("IfBlank(false, 1)") is False


def test_there_are_at_least_sixty_functions_each_documented() -> None:
    assert len(BUILTINS) >= 60
    for builtin in BUILTINS.values():
        assert builtin.doc.startswith(builtin.name + "("), builtin.name
