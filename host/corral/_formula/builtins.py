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
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Callable, Iterable, Mapping

from .values import (
    CallSite,
    check_list,
    check_value,
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

BuiltinFn = Callable[[CallSite, list[Any]], Any]


@dataclass(frozen=True)
class Builtin:
    name: str
    fn: BuiltinFn | None  # None for the lazy ones the evaluator runs itself
    min_args: int
    max_args: int | None  # None: any number

    @property
    def lazy(self) -> bool:
        return self.fn is None

    def call(self, site: CallSite, args: list[Any]) -> Any:
        """Run the built-in; what it returns is held to the text and list caps (``Upper``
        of capped text can still grow it: "ß" is "SS")."""
        assert self.fn is not None, f"{self.name} is run by the evaluator"
        return check_value(self.fn(site, args), site)

    def check_arity(self, count: int, site: CallSite) -> None:
        if count < self.min_args or (self.max_args is not None and count > self.max_args):
            raise site.error(f"takes {self._arity_text()} arguments, got {count}")

    def _arity_text(self) -> str:
        if self.max_args is None:
            return f"at least {self.min_args}"
        if self.min_args == self.max_args:
            return str(self.min_args)
        return f"{self.min_args} to {self.max_args}"


# -- the functions -----------------------------------------------------------------------


def _text_arg(value: Any, site: CallSite, arg: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise site.error(f"expects text, got {type_name(value)}", arg=arg)
    return value


def _list_arg(value: Any, site: CallSite, arg: int) -> list[Any]:
    if not isinstance(value, list):
        raise site.error(f"expects a list, got {type_name(value)}", arg=arg)
    return value


def _flatten(args: Iterable[Any]) -> list[Any]:
    out: list[Any] = []
    for value in args:
        out.extend(value if isinstance(value, list) else [value])
    return out


def _numbers(site: CallSite, args: list[Any]) -> list[int | float]:
    """Numbers of the arguments, lists flattened one level, blanks skipped."""
    out: list[int | float] = []
    for value in _flatten(args):
        if value is None:
            continue
        if not is_number(value):
            raise site.error(f"expects numbers, got {type_name(value)}")
        out.append(value)
    return out


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
    return _text_arg(args[0], site, 1).upper()


def _lower(site: CallSite, args: list[Any]) -> str:
    return _text_arg(args[0], site, 1).lower()


def _trim(site: CallSite, args: list[Any]) -> str:
    return _text_arg(args[0], site, 1).strip()


def _split(site: CallSite, args: list[Any]) -> list[str]:
    text = _text_arg(args[0], site, 1)
    separator = _text_arg(args[1], site, 2)
    limit = site.limits.max_list_items
    if separator == "":
        parts = list(text[:limit + 1])
    else:
        parts = text.split(separator, limit)  # at most limit+1 parts: enough to detect excess
    return check_list(parts, site)


def _join(site: CallSite, args: list[Any]) -> str:
    separator = _text_arg(args[0], site, 1)
    values = _flatten(args[1:])
    check_list(values, site)
    return join_text(separator, values, site)


def _contains(site: CallSite, args: list[Any]) -> bool:
    container, needle = args
    if isinstance(container, str):
        return _text_arg(needle, site, 2) in container
    if isinstance(container, list):
        return any(values_equal(item, needle) for item in container)
    raise site.error(f"expects text or a list, got {type_name(container)}", arg=1)


def _sum(site: CallSite, args: list[Any]) -> int | float:
    numbers = _numbers(site, args)
    return normalize_number(math.fsum(numbers) if any(isinstance(n, float) for n in numbers)
                            else sum(numbers), site)


def _average(site: CallSite, args: list[Any]) -> int | float:
    numbers = _numbers(site, args)
    if not numbers:
        raise site.error("needs at least one number")
    total = _sum(site, list(numbers))
    return divide(total, len(numbers), site)


def _min(site: CallSite, args: list[Any]) -> int | float:
    numbers = _numbers(site, args)
    if not numbers:
        raise site.error("needs at least one number")
    return min(numbers)


def _max(site: CallSite, args: list[Any]) -> int | float:
    numbers = _numbers(site, args)
    if not numbers:
        raise site.error("needs at least one number")
    return max(numbers)


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
    return sum(1 for value in _flatten(args) if value is not None)


def _first(site: CallSite, args: list[Any]) -> Any:
    items = _list_arg(args[0], site, 1)
    return items[0] if items else None


def _last(site: CallSite, args: list[Any]) -> Any:
    items = _list_arg(args[0], site, 1)
    return items[-1] if items else None


def _nth_fn(site: CallSite, args: list[Any]) -> Any:
    return nth(_list_arg(args[0], site, 1), args[1], site, arg=2)


def _list(site: CallSite, args: list[Any]) -> list[Any]:
    return check_list(list(args), site)


def _is_blank(site: CallSite, args: list[Any]) -> bool:
    return args[0] is None or args[0] == "" or args[0] == []


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


def _now(site: CallSite, args: list[Any]) -> str:
    moment = datetime.fromtimestamp(site.clock(), tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _today(site: CallSite, args: list[Any]) -> str:
    return datetime.fromtimestamp(site.clock(), tz=timezone.utc).strftime("%Y-%m-%d")


_TABLE: tuple[Builtin, ...] = (
    Builtin("If", None, 2, 3),
    Builtin("And", None, 1, None),
    Builtin("Or", None, 1, None),
    Builtin("Not", _not, 1, 1),
    Builtin("Concatenate", _concatenate, 0, None),
    Builtin("Len", _len, 1, 1),
    Builtin("Upper", _upper, 1, 1),
    Builtin("Lower", _lower, 1, 1),
    Builtin("Trim", _trim, 1, 1),
    Builtin("Split", _split, 2, 2),
    Builtin("Join", _join, 1, None),
    Builtin("Contains", _contains, 2, 2),
    Builtin("Sum", _sum, 0, None),
    Builtin("Average", _average, 1, None),
    Builtin("Min", _min, 1, None),
    Builtin("Max", _max, 1, None),
    Builtin("Round", _round, 1, 2),
    Builtin("Abs", _abs, 1, 1),
    Builtin("Count", _count, 0, None),
    Builtin("First", _first, 1, 1),
    Builtin("Last", _last, 1, 1),
    Builtin("Nth", _nth_fn, 2, 2),
    Builtin("List", _list, 0, None),
    Builtin("IsBlank", _is_blank, 1, 1),
    Builtin("ToText", _to_text, 1, 1),
    Builtin("ToNumber", _to_number, 1, 1),
    Builtin("Now", _now, 0, 0),
    Builtin("Today", _today, 0, 0),
)

BUILTINS: Mapping[str, Builtin] = {b.name.lower(): b for b in _TABLE}
"""Built-ins by lower-cased name: function names are case-insensitive."""


def lookup_builtin(name: str) -> Builtin | None:
    return BUILTINS.get(name.lower())
