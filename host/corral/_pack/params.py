"""The parameter types a pack may declare, beyond the value types results share.

Coda's packs-sdk has nine scalar parameter types, each also as an array and as a sparse
array (27 in all). Corral declares them in ``pack.toml`` as::

    { name = "when", type = "date" }
    { name = "tags", type = "array", items = "email" }
    { name = "cells", type = "array", items = "number", sparse = true }

``string number boolean`` (and Corral's ``integer``) are coerced by
:mod:`corral._pack.coerce`; this module holds the rest: ``date`` (see
:mod:`corral._pack.datetimes`), ``html`` and ``markdown`` (text, coerced as strings),
``image`` and ``file`` (absolute ``http``/``https`` URLs; blob references once the host
stores blobs), and ``email`` (an RFC 5322 addr-spec, checked by the ``email-validator``
package without any DNS look-up). A plain array refuses a null item; a sparse array keeps
nulls where the caller left cells empty.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from typing import Any

from .datetimes import canonical_datetime
from .manifest import VALUE_TYPES

#: Types given to the guest as text, coerced like ``string``.
TEXT_TYPES = ("html", "markdown")
#: Parameter-only types (not result schema types: a result says "date" with a hint).
EXTRA_TYPES = ("date", "html", "image", "file", "markdown", "email")
#: Every type a parameter may declare.
PARAM_TYPES = VALUE_TYPES + EXTRA_TYPES
#: Every type an array parameter's ``items`` may name.
ITEM_TYPES = tuple(t for t in PARAM_TYPES if t != "array")

#: The order the reference lists them in: Coda's scalars, Corral's integer, then the rest.
PARAM_TYPES_IN_ORDER = ("string", "number", "integer", "boolean", "date", "html", "markdown",
                        "image", "file", "email", "array", "object", "any")

#: One example per parameter type, for the generated reference and `corral new`.
EXAMPLES: dict[str, str] = {
    "string": '{ name = "city", type = "string", suggested = "Lisbon" }',
    "number": '{ name = "amount", type = "number", default = 1.5 }',
    "integer": '{ name = "count", type = "integer", optional = true }',
    "boolean": '{ name = "exact", type = "boolean", default = false }',
    "date": '{ name = "since", type = "date", suggested = 2026-12-02 }',
    "html": '{ name = "body", type = "html" }',
    "markdown": '{ name = "notes", type = "markdown" }',
    "image": '{ name = "logo", type = "image" }',
    "file": '{ name = "attachment", type = "file" }',
    "email": '{ name = "to", type = "email" }',
    "array": '{ name = "cells", type = "array", items = "number", sparse = true }',
    "object": '{ name = "options", type = "object" }',
    "any": '{ name = "value", type = "any" }',
}
#: What the guest receives for each type (ABI.md §3.1 holds the same table).
RECEIVED: dict[str, str] = {
    "string": "str", "number": "int or float", "integer": "int", "boolean": "bool",
    "date": "str `YYYY-MM-DDTHH:MM:SS.sssZ` (UTC)", "html": "str", "markdown": "str",
    "image": "str (an http/https URL)", "file": "str (an http/https URL)",
    "email": "str (the address, its domain normalised)", "array": "array",
    "object": "map", "any": "any value",
}
#: What the caller may send for each type beyond the obvious.
ACCEPTED: dict[str, str] = {
    "string": "a string; a number or boolean becomes its text",
    "number": "a number, or a string holding one",
    "integer": "a whole number, or a string holding one",
    "boolean": "true/false, or the strings \"true\"/\"false\"",
    "date": "ISO 8601 (`2026-12-02`, `2026-12-02T10:00:00Z`, `2026-12-02 10:00`, offsets), "
            "an HTTP date, or seconds since 1970; no offset means UTC",
    "html": "a string", "markdown": "a string",
    "image": "an absolute http or https URL", "file": "an absolute http or https URL",
    "email": "an e-mail address (RFC 5322 addr-spec; no DNS check)",
    "array": "an array; `items` types each element, `sparse = true` allows nulls",
    "object": "a table / JSON object", "any": "anything",
}

_MAX_URL = 8192


def type_label(kind: str, items: str | None, sparse: bool) -> str:
    """How errors name a parameter's type: ``date``, ``array of email``, ``sparse array of number``."""
    if kind != "array":
        return kind
    label = f"array of {items}" if items else "array"
    return f"sparse {label}" if sparse else label


def url(value: Any) -> str:
    """An absolute http(s) URL, as given (surrounding whitespace dropped)."""
    if not isinstance(value, str):
        raise TypeError(f"got {type(value).__name__}; expected a URL")
    text = value.strip()
    if len(text) > _MAX_URL:
        raise ValueError(f"a URL of {len(text)} characters is longer than {_MAX_URL}")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7f for c in text):
        raise ValueError(f"{text[:80]!r} holds whitespace or a control character")
    try:
        parts = urllib.parse.urlsplit(text)
        parts.port  # noqa: B018 -- reading it validates the port
    except ValueError as exc:
        raise ValueError(f"{text[:80]!r} is not a URL: {exc}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{text[:80]!r} is not an absolute http or https URL")
    return text


def email(value: Any) -> str:
    """The address with its domain normalised (lower case, IDNA), local part as given."""
    if not isinstance(value, str):
        raise TypeError(f"got {type(value).__name__}; expected an e-mail address")
    import email_validator  # lazily: `import corral` stays cheap

    try:
        checked = email_validator.validate_email(value.strip(), check_deliverability=False)
    except email_validator.EmailNotValidError as exc:
        raise ValueError(f"{value[:80]!r} is not an e-mail address: {exc}") from None
    return str(checked.normalized)


#: The coercer of each parameter-only type that is not text.
COERCERS: dict[str, Callable[[Any], Any]] = {
    "date": canonical_datetime, "image": url, "file": url, "email": email,
}
