"""Built-in functions and operators of the formula language, over plain values.

Values follow MessagePack's data model: ``None`` (blank), ``bool``, ``int``, ``float``,
``str``, ``bytes``, ``list`` and ``dict``. Booleans are never numbers here (``true + 1``
is an error), integers stay exact up to 64 bits and become floats beyond, and every text
or list a built-in produces is checked against :class:`ValueLimits` (in
:meth:`Builtin.call`, for every built-in alike), so ``Split``, ``Upper`` or ``&`` cannot
be used to build a value that eats the host's memory, nor ``List`` one nested past
``MAX_DEPTH``.

``If``, ``And`` and ``Or`` are *lazy*: the evaluator runs them, because only it can
leave an untaken branch's pack calls unstarted. Their entries here carry arity only.
The text, math, date and list functions live in ``builtins_text``, ``builtins_math``,
``builtins_dates`` and ``builtins_lists``; this table gathers them.
"""
from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Mapping

from . import builtins_dates, builtins_lists, builtins_math, builtins_text
from .builtin_kit import Builtin, flatten, list_arg, numbers, text_arg
from .values import (
    CallSite,
    check_list,
    divide,
    is_number,
    join_text,
    normalize_number,
    nth,
    to_text,
    truthy,
    type_name,
    values_equal,
)

__all__ = ["BUILTINS", "GROUPS", "Builtin", "lookup_builtin"]

def _not(site: CallSite, args: list[Any]) -> bool:
    return not truthy(args[0], site, arg=1)


def _concatenate(site: CallSite, args: list[Any]) -> str:
    return join_text("", args, site)


def _len(site: CallSite, args: list[Any]) -> int:
    value = args[0]
    if value is None:
        return 0
    if isinstance(value, (str, list)):
        return len(value)
    raise site.error(f"expects text or a list, got {type_name(value)}", arg=1)


def _upper(site: CallSite, args: list[Any]) -> str:
    return text_arg(args[0], site, 1).upper()


def _lower(site: CallSite, args: list[Any]) -> str:
    return text_arg(args[0], site, 1).lower()


def _trim(site: CallSite, args: list[Any]) -> str:
    return text_arg(args[0], site, 1).strip()


def _split(site: CallSite, args: list[Any]) -> list[str]:
    text = text_arg(args[0], site, 1)
    separator = text_arg(args[1], site, 2)
    limit = site.limits.max_list_items
    if separator == "":
        parts = list(text[:limit + 1])
    else:
        parts = text.split(separator, limit)  # at most limit+1 parts: enough to detect excess
    return check_list(parts, site)


def _join(site: CallSite, args: list[Any]) -> str:
    separator = text_arg(args[0], site, 1)
    values = flatten(args[1:])
    check_list(values, site)
    return join_text(separator, values, site)


def _contains(site: CallSite, args: list[Any]) -> bool:
    container, needle = args
    if isinstance(container, str):
        return text_arg(needle, site, 2) in container
    if isinstance(container, list):
        return any(values_equal(item, needle) for item in container)
    raise site.error(f"expects text or a list, got {type_name(container)}", arg=1)


def _sum(site: CallSite, args: list[Any]) -> int | float:
    values = numbers(site, args)
    return normalize_number(math.fsum(values) if any(isinstance(n, float) for n in values)
                            else sum(values), site)


def _average(site: CallSite, args: list[Any]) -> int | float:
    values = numbers(site, args)
    if not values:
        raise site.error("needs at least one number")
    total = _sum(site, list(values))
    return divide(total, len(values), site)


def _min(site: CallSite, args: list[Any]) -> int | float:
    values = numbers(site, args)
    if not values:
        raise site.error("needs at least one number")
    return min(values)


def _max(site: CallSite, args: list[Any]) -> int | float:
    values = numbers(site, args)
    if not values:
        raise site.error("needs at least one number")
    return max(values)


def _round(site: CallSite, args: list[Any]) -> int | float:
    if not is_number(args[0]):
        raise site.error(f"expects a number, got {type_name(args[0])}", arg=1)
    value: int | float = args[0]
    digits = args[1] if len(args) > 1 else 0
    if not isinstance(digits, int) or isinstance(digits, bool) or not -20 <= digits <= 20:
        raise site.error("the number of digits must be a whole number from -20 to 20", arg=2)
    try:
        rounded = Decimal(repr(value) if isinstance(value, float) else value).quantize(
            Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    except InvalidOperation:  # more digits than Decimal's context holds: nothing to round
        return value
    return normalize_number(int(rounded) if digits <= 0 else float(rounded), site)


def _abs(site: CallSite, args: list[Any]) -> int | float:
    if not is_number(args[0]):
        raise site.error(f"expects a number, got {type_name(args[0])}", arg=1)
    return normalize_number(abs(args[0]), site)


def _count(site: CallSite, args: list[Any]) -> int:
    return sum(1 for value in flatten(args) if value is not None)


def _first(site: CallSite, args: list[Any]) -> Any:
    items = list_arg(args[0], site, 1)
    return items[0] if items else None


def _last(site: CallSite, args: list[Any]) -> Any:
    items = list_arg(args[0], site, 1)
    return items[-1] if items else None


def _nth_fn(site: CallSite, args: list[Any]) -> Any:
    return nth(list_arg(args[0], site, 1), args[1], site, arg=2)


def _list(site: CallSite, args: list[Any]) -> list[Any]:
    return check_list(list(args), site)


def _is_blank(site: CallSite, args: list[Any]) -> bool:
    return args[0] is None or args[0] == "" or args[0] == []


def _is_not_blank(site: CallSite, args: list[Any]) -> bool:
    return not _is_blank(site, args)


def _if_blank(site: CallSite, args: list[Any]) -> Any:
    return args[1] if _is_blank(site, args[:1]) else args[0]


def _switch(site: CallSite, args: list[Any]) -> Any:
    """``Switch(value, case1, result1, ..., [default])``: the result of the first equal case."""
    value, rest = args[0], args[1:]
    for i in range(0, len(rest) - 1, 2):
        if values_equal(value, rest[i]):
            return rest[i + 1]
    return rest[-1] if len(rest) % 2 else None


def _to_text(site: CallSite, args: list[Any]) -> str:
    return to_text(args[0], site)


_NUMBER_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def _to_number(site: CallSite, args: list[Any]) -> int | float:
    value = args[0]
    if value is None:
        return 0
    if isinstance(value, bool):
        return int(value)
    if is_number(value):
        return normalize_number(value, site)
    if isinstance(value, str):
        text = value.strip().replace(",", "")
        if _NUMBER_RE.match(text):
            digits = text.lstrip("+-")
            if digits.isdigit() and len(digits) <= 18:
                return int(text)
            return normalize_number(float(text), site)
        raise site.error(f"{value[:40]!r} is not a number", arg=1)
    raise site.error(f"expects text or a number, got {type_name(value)}", arg=1)


_CORE: tuple[Builtin, ...] = (
    Builtin("If", None, 2, 3, "If(condition, then, [else]): then or else; only the branch "
            "taken runs"),
    Builtin("And", None, 1, None, "And(a, b, ...): true if every one is; stops at the first "
            "false"),
    Builtin("Or", None, 1, None, "Or(a, b, ...): true if any one is; stops at the first true"),
    Builtin("Not", _not, 1, 1, "Not(value): the opposite boolean"),
    Builtin("Concatenate", _concatenate, 0, None, "Concatenate(a, b, ...): the values as "
            "text, joined"),
    Builtin("Len", _len, 1, 1, "Len(text or list): characters in text, items in a list"),
    Builtin("Length", _len, 1, 1, "Length(text or list): the same as Len"),
    Builtin("Upper", _upper, 1, 1, "Upper(text): in upper case"),
    Builtin("Lower", _lower, 1, 1, "Lower(text): in lower case"),
    Builtin("Trim", _trim, 1, 1, "Trim(text): without leading and trailing whitespace"),
    Builtin("Split", _split, 2, 2, "Split(text, separator): a list of the parts"),
    Builtin("Join", _join, 1, None, "Join(separator, values...): the values as text, "
            "separated"),
    Builtin("Contains", _contains, 2, 2, "Contains(text or list, value): whether it holds "
            "value"),
    Builtin("Sum", _sum, 0, None, "Sum(numbers...): their total; lists count, blanks do not"),
    Builtin("Average", _average, 1, None, "Average(numbers...): their mean"),
    Builtin("Min", _min, 1, None, "Min(numbers...): the smallest"),
    Builtin("Max", _max, 1, None, "Max(numbers...): the largest"),
    Builtin("Round", _round, 1, 2, "Round(number, [digits]): rounded half away from zero"),
    Builtin("Abs", _abs, 1, 1, "Abs(number): without its sign"),
    Builtin("Count", _count, 0, None, "Count(values...): how many are not blank"),
    Builtin("First", _first, 1, 1, "First(list): its first item, or blank"),
    Builtin("Last", _last, 1, 1, "Last(list): its last item, or blank"),
    Builtin("Nth", _nth_fn, 2, 2, "Nth(list, n): item n, counting from 1 (-1 is the last)"),
    Builtin("List", _list, 0, None, "List(values...): a list of them"),
    Builtin("IsBlank", _is_blank, 1, 1, "IsBlank(value): whether it is blank, empty text or "
            "an empty list"),
    Builtin("IsNotBlank", _is_not_blank, 1, 1, "IsNotBlank(value): the opposite of IsBlank"),
    Builtin("IfBlank", _if_blank, 2, 2, "IfBlank(value, fallback): value, or fallback if it "
            "is blank"),
    Builtin("Switch", _switch, 3, None, "Switch(value, case1, result1, ..., [default]): the "
            "result of the first case equal to value"),
    Builtin("ToText", _to_text, 1, 1, "ToText(value): the value as text"),
    Builtin("ToNumber", _to_number, 1, 1, "ToNumber(value): text or a boolean as a number"),
)

GROUPS: tuple[tuple[str, tuple[Builtin, ...]], ...] = (
    ("Logic, core text, numbers and lists", _CORE),
    ("Text", builtins_text.TABLE),
    ("Math", builtins_math.TABLE),
    ("Dates and times", builtins_dates.TABLE),
    ("Lists", builtins_lists.TABLE),
)
"""Every built-in, by the group the reference lists it under."""

_TABLE = tuple(builtin for _, group in GROUPS for builtin in group)

BUILTINS: Mapping[str, Builtin] = {b.name.lower(): b for b in _TABLE}
"""Built-ins by lower-cased name: function names are case-insensitive."""

assert len(BUILTINS) == len(_TABLE), "two built-ins share a name"


def lookup_builtin(name: str) -> Builtin | None:
    return BUILTINS.get(name.lower())
