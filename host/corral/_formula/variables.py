"""Values a caller binds to a formula's ``$$[variable:NAME]`` references.

A variable's value is a JSON value - text, a number, a boolean, null, or a list or
object of those - held to the same caps as any value a formula builds. Names are
matched exactly, then by a unique case-insensitive match, as properties are.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from .._errors import ArgumentError, FormulaEvalError
from .._pack.abi import MAX_DEPTH, exceeds_depth
from .nodes import Node, Variable, walk
from .values import ValueLimits

MAX_VARIABLES = 1000


def bind_variables(variables: Mapping[str, Any] | None,
                   limits: ValueLimits) -> dict[str, Any]:
    """A checked copy of ``variables``; :class:`ArgumentError` naming the bad one."""
    if variables is None:
        return {}
    if not isinstance(variables, Mapping):
        raise ArgumentError(f"variables must be an object of name -> value, got "
                            f"{type(variables).__name__}", field="variables")
    if len(variables) > MAX_VARIABLES:
        raise ArgumentError(f"at most {MAX_VARIABLES} variables may be bound, got "
                            f"{len(variables)}", field="variables")
    bound: dict[str, Any] = {}
    for name, value in variables.items():
        if not isinstance(name, str) or not name.strip():
            raise ArgumentError(f"a variable name must be non-empty text, got {name!r}",
                                field="variables")
        bound[name] = _checked(name, value, limits)
    return bound


def _checked(name: str, value: Any, limits: ValueLimits) -> Any:
    problem = _json_problem(value, limits)
    if problem is None and exceeds_depth(value):
        problem = f"nests deeper than {MAX_DEPTH} levels"
    if problem is not None:
        raise ArgumentError(f"variable {name!r}: {problem}", field="variables", variable=name)
    # A copy, so a caller that changes its value afterwards cannot change a memoised answer.
    return json.loads(json.dumps(value))


def _json_problem(value: Any, limits: ValueLimits) -> str | None:
    stack = [value]
    seen = 0
    while stack:
        item = stack.pop()
        seen += 1
        if seen > limits.max_list_items * 10:
            return "is too large"
        if item is None or isinstance(item, (bool, int)):
            if isinstance(item, int) and not isinstance(item, bool) and abs(item) >= 2**63:
                return "holds an integer outside the 64-bit range"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return "holds a number that is not finite"
        elif isinstance(item, str):
            if len(item) > limits.max_text_chars:
                return f"holds text longer than {limits.max_text_chars} characters"
        elif isinstance(item, list):
            if len(item) > limits.max_list_items:
                return f"holds a list longer than {limits.max_list_items} items"
            stack.extend(item)
        elif isinstance(item, dict):
            if not all(isinstance(key, str) for key in item):
                return "holds an object with a key that is not text"
            stack.extend(item.values())
        else:
            return f"is not a JSON value (got {type(item).__name__})"
    return None


def check_bound(tree: Node, bound: Mapping[str, Any]) -> None:
    """Every variable the formula reads is bound; else an error naming it and where."""
    for node in walk(tree):
        if isinstance(node, Variable) and lookup(bound, node.name) is _UNBOUND:
            known = ", ".join(repr(k) for k in list(bound)[:10]) or "none"
            raise FormulaEvalError(f"variable {node.name!r} is not bound (bound: {known}); "
                                   "pass its value in variables", line=node.line,
                                   column=node.column, variable=node.name)


_UNBOUND = object()


def lookup(bound: Mapping[str, Any], name: str) -> Any:
    """The value bound to ``name`` (exact, then a unique case-insensitive match)."""
    if name in bound:
        return bound[name]
    folded = [key for key in bound if key.lower() == name.lower()]
    return bound[folded[0]] if len(folded) == 1 else _UNBOUND


def memo_part(bound: Mapping[str, Any]) -> str:
    """The bound values as canonical JSON: part of a memoised answer's key."""
    return json.dumps(bound, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
