"""Enforcing value hints on results: each hint's rule, and the canonical form a value takes.

:func:`hint_problem` says how a value breaks its schema's hint (``schema_errors`` reports it
as ``result.when: hint datetime: 'definitely not a date' is not a date-time ...``);
:func:`normalise` returns a checked value with every hinted part in its canonical form
(dates, times, date-times and durations rewritten, e-mail domains lower-cased, whole scale
values made integers). The rules are listed with each hint in
:mod:`corral._pack.hint_options`; an empty string is a blank value and passes every text
hint, as in Coda.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from decimal import Decimal
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email

from .hint_options import option
from .manifest import Schema
from .temporal import (
    TemporalError,
    canonical_date,
    canonical_datetime,
    canonical_duration,
    canonical_time,
    epoch_problem,
)


class HintBroken(ValueError):
    """A value that breaks its hint; the message says how."""


_PHONE = re.compile(r"\+?[0-9().\- ]*[0-9][0-9().\- ]*(?:\s*(?:x|ext\.?)\s*[0-9]+)?",
                    re.IGNORECASE)
_URL_BREAKERS = re.compile(r"[\s\x00-\x1f\x7f]")
_DATA_URL = re.compile(r"data:(?P<type>[a-z0-9.+-]+/[a-z0-9.+-]+)?[^,]*,", re.IGNORECASE)


def hint_problem(schema: Schema, value: Any) -> str | None:
    """``hint <name>: <value> <what is wrong>``, or None when ``value`` keeps the hint."""
    try:
        conform(schema, value)
    except HintBroken as exc:
        return f"hint {schema.hint}: {_shown(value)} {exc}"
    return None


def conform(schema: Schema, value: Any) -> Any:
    """``value`` (already of the schema's type, not null) in its hint's canonical form."""
    check = _CHECKS.get(schema.hint or "")
    return value if check is None else check(schema, value)


def normalise(schema: Schema, value: Any) -> Any:
    """A value that passed ``schema_errors``, with every hinted part in canonical form.

    Parts that do not change are returned as they are (the same objects)."""
    if value is None or not _may_rewrite(schema):
        return value
    if schema.hint in _REWRITING:
        value = conform(schema, value)
    if schema.type == "array" and schema.items is not None:
        items = [normalise(schema.items, item) for item in value]
        return value if all(a is b for a, b in zip(items, value)) else items
    if schema.type == "object" and schema.properties:
        changed = {name: normalise(child, value[name]) for name, child in schema.properties
                   if name in value}
        if any(changed[name] is not value[name] for name in changed):
            return {**value, **changed}
    return value


def blank_update_problem(schema: Schema, new: dict[str, Any], fields: list[str]) -> str | None:
    """``<field>: ...`` when an edited property marked ``require_for_updates`` is blank."""
    for name in fields:
        prop = schema.property(name)
        if (prop is not None and option(prop, "require_for_updates")
                and new.get(name) in (None, "")):
            return f"{name}: hint {prop.hint}: may not be blank in an update (require_for_updates)"
    return None


_MAY_REWRITE: dict[int, tuple[Schema, bool]] = {}


def _may_rewrite(schema: Schema) -> bool:
    """Whether any part of ``schema`` has a hint that may rewrite a value (remembered per
    schema object)."""
    known = _MAY_REWRITE.get(id(schema))
    if known is not None and known[0] is schema:
        return known[1]
    found = (schema.hint in _REWRITING
             or (schema.items is not None and _may_rewrite(schema.items))
             or any(_may_rewrite(child) for _, child in schema.properties))
    if len(_MAY_REWRITE) > 4096:  # dynamic schemas come and go; keep the memory bounded
        _MAY_REWRITE.clear()
    _MAY_REWRITE[id(schema)] = (schema, found)  # holding the schema keeps its id unique
    return found


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# -- the rules, one per hint ------------------------------------------------------------------


def _temporal(reader: Callable[[str], str]) -> Callable[[Schema, Any], Any]:
    def check(schema: Schema, value: Any) -> Any:
        if isinstance(value, str):
            if not value:
                return value
            try:
                return reader(value)
            except TemporalError as exc:
                raise HintBroken(str(exc)) from None
        if epoch_problem(value):
            raise HintBroken("is outside the years 1 to 9999 (a number is seconds since 1970)")
        return value
    return check


def _duration(schema: Schema, value: Any) -> Any:
    if not isinstance(value, str) or not value:
        return value  # a number is a count of days, any finite one
    try:
        return canonical_duration(value, option(schema, "max_unit", "days"))
    except TemporalError as exc:
        raise HintBroken(str(exc)) from None


@lru_cache(maxsize=4096)
def canonical_email(value: str) -> str:
    """``value`` as a normalised address (domain lower-cased), else :class:`HintBroken`."""
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise HintBroken(f"is not an e-mail address: {exc}") from None


def _email(schema: Schema, value: str) -> str:
    return canonical_email(value) if value else value


def url_problem(value: str, *, data: str | None = None) -> str | None:
    """Why ``value`` is not an absolute http(s) URL, or None. ``data`` admits ``data:`` URLs
    too: ``"image/"`` those of images, ``""`` any."""
    # remembered, as a value is checked and then normalised; not a long data: URL, though
    return _remembered_url_problem(value, data) if len(value) <= 2048 else _url_problem(value,
                                                                                         data)


@lru_cache(maxsize=4096)
def _remembered_url_problem(value: str, data: str | None) -> str | None:
    return _url_problem(value, data)


def _url_problem(value: str, data: str | None) -> str | None:
    if _URL_BREAKERS.search(value):
        return "is not a URL: it holds spaces or control characters"
    if data is not None and value[:5].lower() == "data:":
        found = _DATA_URL.match(value)
        if not found:
            return "is not a data: URL (data:<type>[;base64],<data>)"
        if data and not (found["type"] or "").lower().startswith(data):
            return f"is a data: URL of {found['type'] or 'text/plain'}, not of {data}*"
        return None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - a bad port raises here
    except ValueError as exc:
        return f"is not a URL: {exc}"
    if parts.scheme.lower() not in ("http", "https"):
        allowed = "http or https" + (" (or data:)" if data is not None else "")
        return f"is not an {allowed} URL"
    if not parts.hostname:
        return "is not a URL: it has no host"
    return None


def _url(data: str | None = None) -> Callable[[Schema, Any], Any]:
    def check(schema: Schema, value: str) -> str:
        problem = url_problem(value, data=data) if value else None
        if problem:
            raise HintBroken(problem)
        return value
    return check


def _phone(schema: Schema, value: str) -> str:
    if value and not (_PHONE.fullmatch(value.strip())
                      and sum(c.isdigit() for c in value) >= 3):
        raise HintBroken("is not a phone number (digits, spaces, + - . ( ), an extension)")
    return value


def _range(schema: Schema, value: float) -> float:
    low, high = option(schema, "minimum", 0), option(schema, "maximum")
    step = option(schema, "step")
    if value < low:
        raise HintBroken(f"is below the minimum {low}")
    if high is not None and value > high:
        raise HintBroken(f"is above the maximum {high}")
    if step is not None:
        steps = (Decimal(repr(value)) - Decimal(repr(low))) / Decimal(repr(step))
        if abs(steps - steps.to_integral_value()) > Decimal("1e-9"):
            raise HintBroken(f"is not on a step of {step} from {low}")
    return value


def _scale(schema: Schema, value: float) -> int:
    if not float(value).is_integer():
        raise HintBroken("is not a whole number of icons")
    high = option(schema, "maximum")
    if value < 0:
        raise HintBroken("is below 0")
    if high is not None and value > high:
        raise HintBroken(f"is above the maximum {high}")
    return int(value)


def _select(schema: Schema, value: Any) -> Any:
    choices = option(schema, "options")
    if (isinstance(value, str) and value and choices and not option(schema, "allow_new_values")
            and value not in {v for _, v in choices}):
        listed = ", ".join(repr(v) for _, v in choices[:10]) + (", ..." if len(choices) > 10
                                                                 else "")
        raise HintBroken(f"is not one of the options ({listed})")
    return value


def _person(schema: Schema, value: dict[str, Any]) -> dict[str, Any]:
    key = schema.id_property or ""
    address = value.get(key)
    if not isinstance(address, str) or not address:
        raise HintBroken(f"has no e-mail address in its id property {key!r}")
    normal = canonical_email(address)
    return value if normal == address else {**value, key: normal}


def _reference(schema: Schema, value: dict[str, Any]) -> dict[str, Any]:
    key, shown = schema.id_property or "", schema.display_property or ""
    ident = value.get(key)
    if ident is None or ident == "" or isinstance(ident, bool) or (
            isinstance(ident, float) and not math.isfinite(ident)):
        raise HintBroken(f"has no id in {key!r} (a reference names a row of "
                         f"{option(schema, 'identity')})")
    if value.get(shown) is None:
        raise HintBroken(f"has no {shown!r} (the referenced row's display value)")
    return value


#: The hints whose canonical form may differ from the value given; the others only check.
_REWRITING = frozenset({"date", "time", "datetime", "duration", "email", "person", "scale"})

_CHECKS: dict[str, Callable[[Schema, Any], Any]] = {
    "date": _temporal(canonical_date),
    "time": _temporal(canonical_time),
    "datetime": _temporal(canonical_datetime),
    "duration": _duration,
    "email": _email,
    "person": _person,
    "image": _url(data="image/"),
    "image_attachment": _url(data="image/"),
    "url": _url(),
    "embed": _url(),
    "attachment": _url(data=""),
    "reference": _reference,
    "slider": _range,
    "progress_bar": _range,
    "scale": _scale,
    "select_list": _select,
    "phone": _phone,
    # percent, currency, toggle: the schema's type is the rule (a finite number, a boolean);
    # markdown, html, code, coda_internal_rich_text: any text.
}
