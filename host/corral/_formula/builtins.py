"""Built-in functions and operators of the formula language, over plain values.

Values follow MessagePack's data model: ``None`` (blank), ``bool``, ``int``, ``float``,
``str``, ``bytes``, ``list`` and ``dict``. Booleans are never numbers here (``true + 1``
is an error), integers stay exact up to 64 bits and become floats beyond, and every text
or list a built-in produces is checked against :class:`ValueLimits`, so ``Split`` or
``&`` cannot be used to build a value that eats the host's memory.

``If``, ``And`` and ``Or`` are *lazy*: the evaluator runs them, because only it can
leave an untaken branch's pack calls unstarted. Their entries here carry arity only.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Callable, Iterable, Mapping

from .._errors import FormulaEvalError

_INT_LIMIT = 2**63


@dataclass(frozen=True)
class ValueLimits:
    """Caps on values a formula may build (pack results are capped by the sandbox)."""

    max_text_chars: int = 1_000_000
    max_list_items: int = 100_000


@dataclass(frozen=True)
class CallSite:
    """Where a built-in or operator runs: its name and position, the clock, the caps."""

    name: str
    line: int
    column: int
    clock: Callable[[], float] = field(default=lambda: 0.0)
    limits: ValueLimits = field(default_factory=ValueLimits)

    def error(self, message: str, *, arg: int | None = None) -> FormulaEvalError:
        which = f" argument {arg}" if arg is not None else ""
        return FormulaEvalError(f"{self.name}{which}: {message}", line=self.line,
                                column=self.column, function=self.name, argument=arg)


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

    def check_arity(self, count: int, site: CallSite) -> None:
        if count < self.min_args or (self.max_args is not None and count > self.max_args):
            raise site.error(f"takes {self._arity_text()} arguments, got {count}")

    def _arity_text(self) -> str:
        if self.max_args is None:
            return f"at least {self.min_args}"
        if self.min_args == self.max_args:
            return str(self.min_args)
        return f"{self.min_args} to {self.max_args}"


# -- value helpers -----------------------------------------------------------------------


def type_name(value: Any) -> str:
    if value is None:
        return "blank"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, bytes):
        return "bytes"
    return type(value).__name__


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def normalize_number(value: int | float, site: CallSite) -> int | float:
    """Keep integers within 64 bits (MessagePack's range) and refuse inf/nan."""
    if isinstance(value, int):
        return value if -_INT_LIMIT <= value < _INT_LIMIT else float(value)
    if not math.isfinite(value):
        raise site.error("the result is not a finite number")
    return value


def truthy(value: Any, site: CallSite, arg: int | None = None) -> bool:
    """Booleans as they are; blank is false; a number is true unless zero."""
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if is_number(value):
        return bool(value)
    raise site.error(f"expects a boolean, got {type_name(value)}", arg=arg)


def to_text(value: Any, site: CallSite) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return check_text(",".join(to_text(item, site) for item in value), site)
    if isinstance(value, dict):
        try:
            return check_text(json.dumps(value, ensure_ascii=False, separators=(",", ":")), site)
        except (TypeError, ValueError) as exc:
            raise site.error(f"cannot turn this object into text: {exc}") from exc
    raise site.error(f"cannot turn {type_name(value)} into text")


def check_text(text: str, site: CallSite) -> str:
    if len(text) > site.limits.max_text_chars:
        raise site.error(f"would build text longer than {site.limits.max_text_chars} characters")
    return text


def check_list(items: list[Any], site: CallSite) -> list[Any]:
    if len(items) > site.limits.max_list_items:
        raise site.error(f"would build a list longer than {site.limits.max_list_items} items")
    return items


def values_equal(left: Any, right: Any) -> bool:
    """Equality without Python's ``True == 1``: a boolean only equals a boolean."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if is_number(left) and is_number(right):
        return bool(left == right)
    if isinstance(left, (list, tuple)) and isinstance(right, (list, tuple)):
        return len(left) == len(right) and all(map(values_equal, left, right))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(values_equal(left[k], right[k]) for k in left)
    return type(left) is type(right) and bool(left == right)


# -- operators ---------------------------------------------------------------------------


def apply_unary(op: str, value: Any, site: CallSite) -> Any:
    if not is_number(value):
        raise site.error(f"expects a number, got {type_name(value)}")
    return normalize_number(-value if op == "-" else value, site)


def apply_binary(op: str, left: Any, right: Any, site: CallSite) -> Any:
    if op == "&":
        return check_text(to_text(left, site) + to_text(right, site), site)
    if op == "=":
        return values_equal(left, right)
    if op == "!=":
        return not values_equal(left, right)
    if op in ("<", "<=", ">", ">="):
        return _compare(op, left, right, site)
    return _arithmetic(op, left, right, site)


def _compare(op: str, left: Any, right: Any, site: CallSite) -> bool:
    comparable = (is_number(left) and is_number(right)) or (
        isinstance(left, str) and isinstance(right, str))
    if not comparable:
        raise site.error(f"cannot compare {type_name(left)} with {type_name(right)}")
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


def _arithmetic(op: str, left: Any, right: Any, site: CallSite) -> Any:
    for arg, value in ((1, left), (2, right)):
        if not is_number(value):
            hint = "; use & to join text" if op == "+" and isinstance(value, str) else ""
            raise site.error(f"expects numbers, got {type_name(value)}{hint}", arg=arg)
    if op == "+":
        return normalize_number(left + right, site)
    if op == "-":
        return normalize_number(left - right, site)
    if op == "*":
        return normalize_number(left * right, site)
    if op == "/":
        return _divide(left, right, site)
    return _power(left, right, site)


def _divide(left: int | float, right: int | float, site: CallSite) -> int | float:
    if right == 0:
        raise site.error("division by zero")
    if isinstance(left, int) and isinstance(right, int) and left % right == 0:
        return left // right
    return normalize_number(left / right, site)


def _power(base: int | float, exponent: int | float, site: CallSite) -> int | float:
    exact = (isinstance(base, int) and isinstance(exponent, int) and 0 <= exponent
             and (abs(base) <= 1 or exponent * math.log2(abs(base)) < 63))
    if exact:
        return int(int(base) ** int(exponent))
    if base == 0 and exponent < 0:
        raise site.error("division by zero")
    try:
        result = math.pow(base, exponent)
    except OverflowError:
        raise site.error("the result is too large") from None
    except ValueError:
        raise site.error("the result is not a real number") from None
    return normalize_number(result, site)


# -- property access and indexing --------------------------------------------------------


def get_property(value: Any, name: str, site: CallSite) -> Any:
    """``value.Name``: exact key, then a unique case-insensitive one; maps over lists."""
    if isinstance(value, list):
        return [get_property(item, name, site) for item in value]
    if not isinstance(value, dict):
        raise site.error(f"cannot read property {name!r} of {type_name(value)}")
    found, result = _lookup_key(value, name)
    if not found:
        keys = ", ".join(repr(k) for k in list(value)[:10])
        raise site.error(f"has no property {name!r} (it has {keys or 'none'})")
    return result


def _lookup_key(mapping: Mapping[Any, Any], name: str) -> tuple[bool, Any]:
    if name in mapping:
        return True, mapping[name]
    folded = [k for k in mapping if isinstance(k, str) and k.lower() == name.lower()]
    if len(folded) == 1:
        return True, mapping[folded[0]]
    return False, None


def get_index(value: Any, index: Any, site: CallSite) -> Any:
    """``list[n]`` counts from 1 (``-1`` is the last item); ``object["key"]`` reads a key."""
    if isinstance(value, dict):
        if not isinstance(index, str):
            raise site.error(f"an object is indexed by text, got {type_name(index)}")
        found, result = _lookup_key(value, index)
        if not found:
            raise site.error(f"has no key {index!r}")
        return result
    if not isinstance(value, list):
        raise site.error(f"cannot index {type_name(value)}")
    return _nth(value, index, site)


def _nth(items: list[Any], index: Any, site: CallSite, arg: int | None = None) -> Any:
    if isinstance(index, float) and index.is_integer():
        index = int(index)
    if not isinstance(index, int) or isinstance(index, bool):
        raise site.error(f"an index must be a whole number, got {type_name(index)}", arg=arg)
    if index == 0:
        raise site.error("indexes start at 1 (use -1 for the last item)", arg=arg)
    if not -len(items) <= index <= len(items):
        raise site.error(f"index {index} is out of range for a list of {len(items)}", arg=arg)
    return items[index - 1 if index > 0 else index]


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
    return check_text("".join(to_text(value, site) for value in args), site)


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
    return check_text(separator.join(to_text(value, site) for value in values), site)


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
    return _divide(total, len(numbers), site)


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
    return _nth(_list_arg(args[0], site, 1), args[1], site, arg=2)


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
