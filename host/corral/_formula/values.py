"""Values of the formula language and the operators over them.

Values follow MessagePack's data model: ``None`` (blank), ``bool``, ``int``, ``float``,
``str``, ``bytes``, ``list`` and ``dict``. Booleans are never numbers here (``true + 1``
is an error), integers stay exact up to 64 bits and become floats beyond, and every text
or list an operator produces is checked against :class:`ValueLimits`, and no list may
nest deeper than the one value limit, ``MAX_DEPTH``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import timezone, tzinfo
from typing import Any, Callable, Mapping

from .._errors import FormulaEvalError
from .._pack.abi import MAX_DEPTH, exceeds_depth

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
    #: The caller's timezone: what dates and times without an offset are read in.
    timezone: tzinfo = timezone.utc

    def error(self, message: str, *, arg: int | None = None) -> FormulaEvalError:
        which = f" argument {arg}" if arg is not None else ""
        return FormulaEvalError(f"{self.name}{which}: {message}", line=self.line,
                                column=self.column, function=self.name, argument=arg)


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
        return join_text(",", value, site)
    if isinstance(value, dict):
        try:
            return check_text(json.dumps(value, ensure_ascii=False, separators=(",", ":")), site)
        except (TypeError, ValueError) as exc:
            raise site.error(f"cannot turn this object into text: {exc}") from exc
    raise site.error(f"cannot turn {type_name(value)} into text")


def join_text(separator: str, values: Any, site: CallSite) -> str:
    """The values as text, joined; refused as soon as the total passes the text cap, before
    it is built (a list of one long text repeated would otherwise be joined in full)."""
    limit = site.limits.max_text_chars
    parts: list[str] = []
    total = 0
    for value in values:
        part = to_text(value, site)
        total += len(part) + (len(separator) if parts else 0)
        if total > limit:
            raise site.error(f"would build text longer than {limit} characters")
        parts.append(part)
    return separator.join(parts)


def check_text(text: str, site: CallSite) -> str:
    if len(text) > site.limits.max_text_chars:
        raise site.error(f"would build text longer than {site.limits.max_text_chars} characters")
    return text


def check_list(items: list[Any], site: CallSite) -> list[Any]:
    if len(items) > site.limits.max_list_items:
        raise site.error(f"would build a list longer than {site.limits.max_list_items} items")
    if exceeds_depth(items):
        raise site.error(f"would build a list nested deeper than {MAX_DEPTH} levels "
                         "(max_depth)")
    return items


def check_value(value: Any, site: CallSite) -> Any:
    """A built-in's result, held to the caps whichever built-in made it."""
    if isinstance(value, str):
        return check_text(value, site)
    if isinstance(value, list):
        return check_list(value, site)
    return value


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
        return divide(left, right, site)
    return _power(left, right, site)


def divide(left: int | float, right: int | float, site: CallSite) -> int | float:
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
    return nth(value, index, site)


def nth(items: list[Any], index: Any, site: CallSite, arg: int | None = None) -> Any:
    if isinstance(index, float) and index.is_integer():
        index = int(index)
    if not isinstance(index, int) or isinstance(index, bool):
        raise site.error(f"an index must be a whole number, got {type_name(index)}", arg=arg)
    if index == 0:
        raise site.error("indexes start at 1 (use -1 for the last item)", arg=arg)
    if not -len(items) <= index <= len(items):
        raise site.error(f"index {index} is out of range for a list of {len(items)}", arg=arg)
    return items[index - 1 if index > 0 else index]
