"""How the command line reads JSON arguments and prints JSON results, for every command."""

from __future__ import annotations

import json
from typing import Any


def json_arg(text: str) -> Any:
    """A CLI argument as JSON; a bare word that is not JSON is taken as a string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def to_json(value: Any) -> str:
    """One line of JSON; bytes are written as ``{"$binary": "<hex>"}``."""
    return json.dumps(value, ensure_ascii=False, default=_json_default)


def print_json(value: Any) -> None:
    print(to_json(value))


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return {"$binary": bytes(value).hex()}
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
