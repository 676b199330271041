"""Formula abuse through ``host.evaluate``: deep nesting, huge lists, exponential
expressions and pathological strings."""

from __future__ import annotations

from typing import Any, Callable

from ..harness import Attack, Bench, Observation


def _evaluate(text: str, deadline_s: float | None = None) -> Callable[[Bench], Any]:
    return lambda b: b.host.evaluate(text, deadline_s=deadline_s)


def _identical_calls(bench: Bench) -> Any:
    before = bench.host.scheduler.stats().started
    name = bench.unique_name("same")
    value = bench.host.evaluate("=Count(List(" + ", ".join([f'hello.Greet("{name}")'] * 700)
                                + "))")
    return {"value": value, "started": bench.host.scheduler.stats().started - before}


def _ran_once(bench: Bench, seen: Observation) -> str | None:
    if seen.value["started"] != 1:
        return f"{seen.value['started']} pack calls ran for 700 identical ones"
    return None


def _formula(title: str, expected: str, text: str, *, quick: bool = False,
             deadline_s: float | None = None) -> Attack:
    return Attack(title, "formula", expected, _evaluate(text, deadline_s), quick=quick,
                  language="formula")


def attacks() -> list[Attack]:
    many_spins = "=List(" + ", ".join(f"zdeadline.Burn({10**12 + i})" for i in range(24)) + ")"
    return [
        Attack("9,999 nested parentheses (grouping adds no depth)", "formula", "ok",
               _evaluate("=" + "(" * 9999 + "1" + ")" * 9999), quick=True, language="formula",
               verify=lambda b, s: None if s.value == 1 else f"evaluated to {s.value!r}"),
        _formula("5,000 nested unary minus", "formula_syntax", "=" + "-" * 5000 + "1"),
        _formula("2,000 nested List calls", "formula_syntax",
                 "=" + "List(" * 2000 + "1" + ")" * 2000),
        _formula("1 MB formula", "formula_syntax", "=" + "1+" * 500_000 + "1"),
        _formula("list of 180,000 items from a 9,000-character formula", "formula_eval",
                 '=Len(Split(Join("' + "," * 20 + '", Split("' + "a" * 9000 + '", "")), ","))',
                 quick=True),
        _formula("98 MB of text from a 20,000-character formula", "formula_eval",
                 '=Join("' + "x" * 9900 + '", Split("' + "a" * 9900 + '", ""))'),
        _formula("19,000-digit number literal", "formula_syntax", "=" + "9" * 19_000),
        _formula("exponential power tower 9^9^9^9", "formula_eval", "=9^9^9^9", quick=True),
        _formula("float overflow 1e308 * 10", "formula_eval", "=1e308 * 10"),
        Attack("700 identical pack calls run once", "formula", "ok", _identical_calls,
               verify=_ran_once, language="formula"),
        _formula("unterminated string of 19,000 backslashes", "formula_syntax",
                 '="' + "\\" * 19_000),
        _formula("lone UTF-16 surrogate escape", "formula_syntax", '="\\uD800"'),
        _formula("unknown escape", "formula_syntax", '="\\q"'),
        _formula("NUL and control characters in a string", "ok", '="a\\u0000b\\u001b[2J"'),
        _formula("24 parallel pack calls past their deadline", "timeout", many_spins,
                 deadline_s=2.0),
        _formula("unknown function", "formula_eval", "=Eval(\"import os\")"),
        _formula("connection reference outside a pack call", "formula_eval",
                 "=$$[packConnectionReference:x:zhostile]"),
    ]
