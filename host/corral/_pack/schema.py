"""Checking guest results against the schemas their manifest declares.

A mismatch is the pack's fault, reported as ``BadOutput`` naming the path, e.g.
``rows[3].author.login: expected string, got null``.
"""

from __future__ import annotations

import math
from typing import Any

from .._errors import BadOutput
from .._pack.manifest import Schema
from .abi import MAX_DEPTH as _MAX_DEPTH
from .hints import hint_problem, normalise


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (bytes, bytearray)):
        return "binary"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def schema_errors(schema: Schema, value: Any, path: str = "result", depth: int = 0) -> list[str]:
    """Every way ``value`` breaks ``schema``, as ``path: expected X, got Y`` strings."""
    if depth > _MAX_DEPTH:
        return [f"{path}: nested deeper than {_MAX_DEPTH} levels"]
    if value is None:
        return [] if schema.nullable or schema.type == "any" else [
            f"{path}: expected {schema.type}, got null"]
    if not _type_matches(schema.type, value):
        return [f"{path}: expected {schema.type}, got {type_name(value)}"]
    errors: list[str] = []
    if schema.hint:
        problem = hint_problem(schema, value)
        if problem:
            errors.append(f"{path}: {problem}")
    if schema.type == "array" and schema.items is not None:
        for i, item in enumerate(value):
            errors += schema_errors(schema.items, item, f"{path}[{i}]", depth + 1)
            if len(errors) > 20:
                break
    elif schema.type == "object" and schema.properties:
        errors += _object_errors(schema, value, path, depth)
    return errors


def _object_errors(schema: Schema, value: dict[str, Any], path: str, depth: int) -> list[str]:
    errors: list[str] = []
    for name in schema.required:
        if name not in value:
            errors.append(f"{path}.{name}: is required but missing")
    for name, child in schema.properties:
        if name in value:
            errors += schema_errors(child, value[name], f"{path}.{name}", depth + 1)
    return errors


def _type_matches(expected: str, value: Any) -> bool:
    if expected == "any":
        return True
    if expected == "string":
        return isinstance(value, str)
    if expected == "boolean":
        return isinstance(value, bool)
    if expected == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if expected == "number":
        return (isinstance(value, (int, float)) and not isinstance(value, bool)
                and math.isfinite(value))
    if expected == "array":
        return isinstance(value, (list, tuple))
    if expected == "object":
        return isinstance(value, dict)
    return False


def check_result(schema: Schema, value: Any, *, pack: str, formula: str,
                 path: str = "result") -> Any:
    """``value`` with its hinted parts in canonical form (see ``_pack.hints``); raises
    ``BadOutput`` naming the first path where it breaks ``schema``."""
    errors = schema_errors(schema, value, path)
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise BadOutput(errors[0] + more, pack=pack, formula=formula, path=errors[0].split(":")[0])
    return normalise(schema, value)
