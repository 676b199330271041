"""Math built-ins beyond the operators: rounding to a factor, powers, logarithms, modulo.

Results stay finite (an overflow is an error, never ``inf``) and whole results stay
exact integers; ``Mod`` and ``Quotient`` follow Coda (and spreadsheets): ``Mod`` takes the
divisor's sign and ``Quotient`` truncates toward zero.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from typing import Any

from .builtin_kit import Builtin, finite, number_arg, numbers, optional, whole_arg
from .values import CallSite, divide, normalize_number

_MAX_DIGITS = 20


def _as_int_if_whole(value: float, site: CallSite) -> int | float:
    finite(value, site)
    return normalize_number(int(value), site) if value.is_integer() else value


def _round_to(site: CallSite, args: list[Any], rounder: Any) -> int | float:
    """Round to ``digits`` decimal places with ``rounder`` (floor, ceil or trunc)."""
    value = number_arg(args[0], site, 1)
    digits = whole_arg(optional(args, 1, 0), site, 2, low=-_MAX_DIGITS, high=_MAX_DIGITS)
    if isinstance(value, int) and digits >= 0:
        return value
    scale = 10.0 ** digits
    try:
        rounded = rounder(value * scale) / scale
    except OverflowError:
        return value  # too large to have a fraction: nothing to round
    return _as_int_if_whole(float(rounded), site) if digits <= 0 else finite(rounded, site)


def _round_up(site: CallSite, args: list[Any]) -> int | float:
    """Away from zero, as Coda's RoundUp."""
    return _round_to(site, args, lambda x: math.ceil(x) if x >= 0 else math.floor(x))


def _round_down(site: CallSite, args: list[Any]) -> int | float:
    """Toward zero, as Coda's RoundDown."""
    return _round_to(site, args, math.trunc)


def _to_factor(site: CallSite, args: list[Any], rounder: Any) -> int | float:
    value = number_arg(args[0], site, 1)
    factor = number_arg(optional(args, 1, 1), site, 2)
    if factor == 0:
        raise site.error("the factor must not be zero", arg=2)
    if isinstance(value, int) and isinstance(factor, int):
        return normalize_number(rounder(value / factor) * factor if abs(value) < 2**52
                                else value, site)
    # In decimal, so Floor(1.27, 0.1) is 1.2 and not 1.2000000000000002.
    try:
        steps = rounder(Decimal(repr(value)) / Decimal(repr(factor)))
        return _as_int_if_whole(float(Decimal(steps) * Decimal(repr(factor))), site)
    except (InvalidOperation, OverflowError):
        return value  # beyond Decimal's precision: already a multiple


def _floor(site: CallSite, args: list[Any]) -> int | float:
    return _to_factor(site, args, math.floor)


def _ceiling(site: CallSite, args: list[Any]) -> int | float:
    return _to_factor(site, args, math.ceil)


def _truncate(site: CallSite, args: list[Any]) -> int | float:
    return _round_down(site, args)


def _power(site: CallSite, args: list[Any]) -> int | float:
    from .values import apply_binary

    number_arg(args[0], site, 1)
    number_arg(args[1], site, 2)
    result: int | float = apply_binary("^", args[0], args[1], site)
    return result


def _sqrt(site: CallSite, args: list[Any]) -> int | float:
    value = number_arg(args[0], site, 1)
    if value < 0:
        raise site.error("the square root of a negative number is not a real number", arg=1)
    if isinstance(value, int):
        root = math.isqrt(value)
        if root * root == value:
            return root
    return math.sqrt(value)


def _mod(site: CallSite, args: list[Any]) -> int | float:
    value, divisor = number_arg(args[0], site, 1), number_arg(args[1], site, 2)
    if divisor == 0:
        raise site.error("division by zero", arg=2)
    if isinstance(value, int) and isinstance(divisor, int):
        return value % divisor
    return finite(value % divisor, site)  # Python's % takes the divisor's sign, as Coda


def _quotient(site: CallSite, args: list[Any]) -> int:
    value, divisor = number_arg(args[0], site, 1), number_arg(args[1], site, 2)
    if divisor == 0:
        raise site.error("division by zero", arg=2)
    if isinstance(value, int) and isinstance(divisor, int):
        quotient = abs(value) // abs(divisor)
        return quotient if (value < 0) == (divisor < 0) else -quotient
    return int(normalize_number(math.trunc(value / divisor), site))


def _positive(site: CallSite, value: Any, arg: int) -> int | float:
    number = number_arg(value, site, arg)
    if number <= 0:
        raise site.error(f"the logarithm needs a positive number, got {number}", arg=arg)
    return number


def _log(site: CallSite, args: list[Any]) -> float:
    value = _positive(site, args[0], 1)
    base = _positive(site, optional(args, 1, 10), 2)
    if base == 1:
        raise site.error("the base must not be 1", arg=2)
    return finite(math.log(value, base), site)


def _ln(site: CallSite, args: list[Any]) -> float:
    return math.log(_positive(site, args[0], 1))


def _exp(site: CallSite, args: list[Any]) -> float:
    try:
        return math.exp(number_arg(args[0], site, 1))
    except OverflowError:
        raise site.error("the result is too large") from None


def _sign(site: CallSite, args: list[Any]) -> int:
    value = number_arg(args[0], site, 1)
    return (value > 0) - (value < 0)


def _pi(site: CallSite, args: list[Any]) -> float:
    return math.pi


def _product(site: CallSite, args: list[Any]) -> int | float:
    result: int | float = 1
    for value in numbers(site, args):
        result = normalize_number(result * value, site)
    return result


def _median(site: CallSite, args: list[Any]) -> int | float:
    values = numbers(site, args)
    if not values:
        raise site.error("needs at least one number")
    ordered = sorted(values)
    half = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[half]
    return divide(ordered[half - 1] + ordered[half], 2, site)


TABLE: tuple[Builtin, ...] = (
    Builtin("RoundUp", _round_up, 1, 2, "RoundUp(number, [digits]): rounded away from zero"),
    Builtin("RoundDown", _round_down, 1, 2, "RoundDown(number, [digits]): rounded toward "
            "zero"),
    Builtin("Truncate", _truncate, 1, 2, "Truncate(number, [digits]): the digits past "
            "digits dropped"),
    Builtin("Floor", _floor, 1, 2, "Floor(number, [factor]): down to a multiple of factor "
            "(default 1)"),
    Builtin("Ceiling", _ceiling, 1, 2, "Ceiling(number, [factor]): up to a multiple of factor "
            "(default 1)"),
    Builtin("Power", _power, 2, 2, "Power(base, exponent): base ^ exponent"),
    Builtin("Sqrt", _sqrt, 1, 1, "Sqrt(number): the square root"),
    Builtin("Mod", _mod, 2, 2, "Mod(number, divisor): the remainder, with the divisor's sign"),
    Builtin("Quotient", _quotient, 2, 2, "Quotient(number, divisor): the whole part of the "
            "division"),
    Builtin("Log", _log, 1, 2, "Log(number, [base]): the logarithm (base 10 by default)"),
    Builtin("Ln", _ln, 1, 1, "Ln(number): the natural logarithm"),
    Builtin("Exp", _exp, 1, 1, "Exp(number): e to the power number"),
    Builtin("Sign", _sign, 1, 1, "Sign(number): -1, 0 or 1"),
    Builtin("Pi", _pi, 0, 0, "Pi(): 3.14159..."),
    Builtin("Product", _product, 1, None, "Product(numbers...): them multiplied"),
    Builtin("Median", _median, 1, None, "Median(numbers...): the middle value"),
)
