"""Every built-in that can grow text or lists obeys the caps, whichever built-in it is:
``Upper`` of capped text can still grow it ("ß" is "SS"), ``Join`` of one long text
repeated would be joined in full before a check after the fact."""

from __future__ import annotations

import itertools
from typing import Any, Iterator

import pytest

from corral._errors import FormulaEvalError
from corral._formula.builtins import BUILTINS
from corral._formula.values import CallSite, ValueLimits, join_text, to_text

from .test_builtins import FIXED_TIME, NoPacks
from corral._calls.scheduler import Scheduler
from corral._formula.evaluator import Evaluator

LIMITS = ValueLimits(max_text_chars=1000, max_list_items=50)
SITE = CallSite(name="Test", line=1, column=1, clock=lambda: FIXED_TIME, limits=LIMITS)


@pytest.fixture(scope="module")
def ev() -> Iterator[Evaluator]:
    catalog = NoPacks()
    with Scheduler(catalog) as scheduler:
        yield Evaluator(catalog, scheduler, clock=lambda: FIXED_TIME, limits=LIMITS)


@pytest.mark.parametrize("text", [
    'Upper("' + "ß" * 600 + '")',    # each becomes "SS"
    'Upper("' + "ﬃ" * 400 + '")',    # each becomes "FFI"
    'Lower("' + "İ" * 600 + '")',    # each becomes "i" and a combining dot
    'ToText(Split("' + "a" * 40 + '", ""))' + ' & "' + "x" * 950 + '"',
])
def test_case_mapping_that_grows_text_is_held_to_the_cap(ev: Evaluator, text: str) -> None:
    with pytest.raises(FormulaEvalError, match="longer than 1000 characters"):
        ev.evaluate("=" + text)


def test_text_just_under_the_cap_is_still_mapped(ev: Evaluator) -> None:
    assert ev.evaluate('=Upper("' + "ß" * 500 + '")') == "SS" * 500


def test_joining_stops_as_soon_as_the_total_passes_the_cap() -> None:
    taken = 0

    def endless() -> Iterator[str]:
        nonlocal taken
        while True:
            taken += 1
            yield "x" * 400

    with pytest.raises(FormulaEvalError, match="longer than 1000"):
        join_text(",", endless(), SITE)
    assert taken == 3, "the text was never built past the cap"
    with pytest.raises(FormulaEvalError, match="longer than 1000"):
        to_text(["y" * 600] * 2, SITE)


CANDIDATES: list[Any] = [
    "ß" * 600, "İ" * 600, " " * 10 + "x" * 990, "a" * 1000, "a," * 500,
    list(range(50)), [["z" * 900]] * 50, ["y" * 100] * 50, None, 3, True,
]


@pytest.mark.parametrize("name", sorted(n for n, b in BUILTINS.items() if not b.lazy))
def test_no_builtin_returns_text_or_a_list_over_its_cap(name: str) -> None:
    builtin = BUILTINS[name]
    arities = range(builtin.min_args, (builtin.max_args if builtin.max_args is not None
                                       else builtin.min_args + 3) + 1)
    for count in arities:
        for args in itertools.product(CANDIDATES, repeat=count) if count <= 2 else (
                [c] * count for c in CANDIDATES):
            try:
                value = builtin.call(SITE, list(args))
            except FormulaEvalError:
                continue
            if isinstance(value, str):
                assert len(value) <= LIMITS.max_text_chars, (name, len(value))
            if isinstance(value, list):
                assert len(value) <= LIMITS.max_list_items, (name, len(value))
