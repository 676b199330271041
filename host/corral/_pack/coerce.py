"""Coercing call arguments to a formula's declared parameter types."""

from __future__ import annotations

import math
from typing import Any, Sequence

from .._errors import ArgumentError
from .._pack.manifest import FormulaDef, ParamDef
from .params import COERCERS, TEXT_TYPES, type_label


def coerce_args(formula: FormulaDef, args: Sequence[Any], *, pack: str) -> tuple[Any, ...]:
    """Check arity, fill defaults and coerce each argument; errors name the parameter."""
    fixed, vararg, required = formula.signature
    where = f"{pack}.{formula.name}"
    if len(args) < required:
        missing = fixed[len(args)].name
        raise ArgumentError(f"{where} takes at least {required} argument(s), got {len(args)}: "
                            f"parameter {missing!r} is missing", pack=pack, formula=formula.name,
                            parameter=missing)
    if vararg is None and len(args) > len(fixed):
        raise ArgumentError(f"{where} takes at most {len(fixed)} argument(s), got {len(args)}",
                            pack=pack, formula=formula.name)
    out: list[Any] = []
    for i, param in enumerate(fixed):
        if i < len(args) and args[i] is not None:
            out.append(coerce_value(param, args[i], where=where))
        elif param.has_default:
            out.append(param.default)
        else:
            out.append(None)
    if vararg is not None:
        out += [coerce_value(vararg, a, where=where) for a in args[len(fixed):]]
    return tuple(out)


def coerce_value(param: ParamDef, value: Any, *, where: str) -> Any:
    try:
        if type(value) is float and param.type == "number" and math.isfinite(value):
            return value  # the commonest case, without the general dispatch
        return convert(param, value)
    except (ValueError, TypeError, OverflowError) as exc:
        label = type_label(param.type, param.items, param.sparse)
        raise ArgumentError(f"{where}: parameter {param.name!r} expects {label}: {exc}",
                            parameter=param.name) from None


def convert(param: ParamDef, value: Any) -> Any:
    """``value`` as ``param``'s type; ValueError/TypeError/OverflowError say what was wrong."""
    return _coerce(param.type, value, param.items, param.sparse)


def _coerce(kind: str, value: Any, items: str | None, sparse: bool = False) -> Any:
    if kind == "any":
        return value
    if kind in COERCERS:
        return COERCERS[kind](value)
    if kind in TEXT_TYPES:
        kind = "string"
    if kind == "string":
        if isinstance(value, (dict, list, bytes)):
            raise TypeError(f"got {type(value).__name__}")
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)
    if kind in ("number", "integer"):
        return _number(kind, value)
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise TypeError(f"got {value!r}")
    if kind == "array":
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"got {type(value).__name__}")
        return [_item(items, i, v, sparse) for i, v in enumerate(value)] if items else list(value)
    if kind == "object":
        if not isinstance(value, dict):
            raise TypeError(f"got {type(value).__name__}")
        return value
    raise TypeError(f"unknown type {kind}")


def _item(kind: str, index: int, value: Any, sparse: bool) -> Any:
    if value is None and kind != "any":
        if sparse:
            return None
        raise ValueError(f"item {index} is null (a sparse array, `sparse = true`, allows nulls)")
    try:
        return _coerce(kind, value, None)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ValueError(f"item {index}: {exc}") from None


def _number(kind: str, value: Any) -> int | float:
    if isinstance(value, bool):
        raise TypeError("got a boolean")
    if isinstance(value, str):
        value = float(value.strip()) if value.strip() else math.nan
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TypeError(f"got {value!r}")
    if kind == "integer":
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"{value!r} is not a whole number")
        return int(value)
    return value
