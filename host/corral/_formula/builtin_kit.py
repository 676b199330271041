"""What every built-in module shares: the :class:`Builtin` entry and argument readers.

Each reader names the argument it refuses (``Left argument 2: expects a whole number``),
and whole-number readers take a range, so a count or an index can never ask the host
for more than the value caps allow.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .values import CallSite, check_value, is_number, type_name

BuiltinFn = Callable[[CallSite, list[Any]], Any]


@dataclass(frozen=True)
class Builtin:
    name: str
    fn: BuiltinFn | None  # None for the lazy ones the evaluator runs itself
    min_args: int
    max_args: int | None  # None: any number
    doc: str = ""
    """``Signature(args): what it returns`` - one line, listed in docs/reference.md."""

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


def text_arg(value: Any, site: CallSite, arg: int) -> str:
    """Text; blank reads as empty text."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise site.error(f"expects text, got {type_name(value)}", arg=arg)
    return value


def list_arg(value: Any, site: CallSite, arg: int) -> list[Any]:
    if not isinstance(value, list):
        raise site.error(f"expects a list, got {type_name(value)}", arg=arg)
    return value


def number_arg(value: Any, site: CallSite, arg: int) -> int | float:
    if not is_number(value):
        raise site.error(f"expects a number, got {type_name(value)}", arg=arg)
    number: int | float = value
    return number


def whole_arg(value: Any, site: CallSite, arg: int, *, low: int, high: int) -> int:
    """A whole number (a float with no fraction counts) from ``low`` to ``high``."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise site.error(f"expects a whole number, got {type_name(value)}"
                         + (f" {value}" if is_number(value) else ""), arg=arg)
    if not low <= value <= high:
        raise site.error(f"must be from {low} to {high}, got {value}", arg=arg)
    return value


def bool_arg(value: Any, site: CallSite, arg: int) -> bool:
    if not isinstance(value, bool):
        raise site.error(f"expects a boolean, got {type_name(value)}", arg=arg)
    return value


def optional(args: list[Any], index: int, default: Any) -> Any:
    """Argument ``index`` (0-based) if given and not blank, else ``default``."""
    return args[index] if len(args) > index and args[index] is not None else default


def flatten(args: Iterable[Any]) -> list[Any]:
    """The arguments with lists opened one level."""
    out: list[Any] = []
    for value in args:
        out.extend(value if isinstance(value, list) else [value])
    return out


def numbers(site: CallSite, args: list[Any]) -> list[int | float]:
    """Numbers of the arguments, lists flattened one level, blanks skipped."""
    out: list[int | float] = []
    for value in flatten(args):
        if value is None:
            continue
        if not is_number(value):
            raise site.error(f"expects numbers, got {type_name(value)}")
        out.append(value)
    return out


def finite(value: float, site: CallSite) -> float:
    if not math.isfinite(value):
        raise site.error("the result is not a finite number")
    return value
