"""Reading a date or date-time argument into the one form a guest receives.

Coda hands a pack a JavaScript ``Date``: an instant, with millisecond precision. Corral
hands the guest that instant as the string ``Date.prototype.toISOString()`` writes, so
every SDK (and a JavaScript guest's ``new Date(s)``) reads it the same way::

    YYYY-MM-DDTHH:MM:SS.sssZ        always UTC, always 24 characters

What a caller may send:

- ISO 8601 / RFC 3339, extended or basic: ``2026-12-02``, ``2026-12-02T10:00:00Z``,
  ``2026-12-02T10:00:00.5+01:00``, ``20261202T100000Z``, a space for the ``T``
  (``2026-12-02 10:00``), a lower-case ``t`` or ``z``;
- an HTTP / e-mail date (RFC 5322): ``Wed, 02 Dec 2026 10:00:00 GMT``;
- a number: seconds since the Unix epoch (``1796205600``, fractions kept to the ms);
- from Python, a ``datetime.datetime`` or ``datetime.date`` (TOML's native dates too).

A date alone means midnight UTC of that day, and a time without an offset is read as UTC
(Coda reads both in the document's timezone; a call's timezone is not part of this
conversion). Finer than a millisecond is truncated. Years run from 0001 to 9999.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import math
import re
from typing import Any

#: What `canonical_datetime` returns, as a pattern (for the SDK docs and tests).
CANONICAL_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_BASIC = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:[Tt ](\d{2})(\d{2})(\d{2})?(\.\d+)?"
                    r"(Z|z|[+-]\d{2}:?\d{2})?)?$")
_FORMS = ("an ISO 8601 date or date-time (2026-12-02, 2026-12-02T10:00:00Z), "
          "an HTTP date, or seconds since 1970")


def canonical_datetime(value: Any) -> str:
    """``value`` as ``YYYY-MM-DDTHH:MM:SS.sssZ``; ValueError/TypeError says what was wrong."""
    return format_instant(read_instant(value))


def format_instant(moment: dt.datetime) -> str:
    utc = moment.astimezone(dt.UTC)
    # By hand: strftime's %Y does not pad years before 1000 on every platform.
    return (f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:"
            f"{utc.second:02d}.{utc.microsecond // 1000:03d}Z")


def read_instant(value: Any) -> dt.datetime:
    """An aware datetime for any accepted form (see the module docstring)."""
    if isinstance(value, bool):
        raise TypeError("got a boolean")
    if isinstance(value, dt.datetime):
        return _aware(value)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    if isinstance(value, (int, float)):
        return _from_epoch(value)
    if isinstance(value, str):
        return _from_text(value.strip())
    raise TypeError(f"got {type(value).__name__}; expected {_FORMS}")


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _from_epoch(seconds: float) -> dt.datetime:
    if not math.isfinite(seconds):
        raise ValueError(f"{seconds!r} is not a time")
    try:
        # Whole milliseconds, so a float's binary fraction cannot round a value down.
        return _EPOCH + dt.timedelta(milliseconds=math.floor(seconds * 1000 + 1e-6))
    except OverflowError:
        raise ValueError(f"{seconds!r} seconds since 1970 is outside years 1-9999") from None


def _from_text(text: str) -> dt.datetime:
    if not text:
        raise ValueError(f"got an empty string; expected {_FORMS}")
    if len(text) > 64:
        raise ValueError(f"{text[:64]!r}... is too long for a date")
    try:
        return _aware(dt.datetime.fromisoformat(_iso_ready(text)))
    except ValueError:
        pass  # not extended ISO 8601: the forms below are tried next
    basic = _BASIC.match(text)
    if basic:
        return _from_basic(text, basic)
    try:
        return _aware(email.utils.parsedate_to_datetime(text))
    except (TypeError, ValueError, IndexError):
        raise ValueError(f"{text!r} is not a date; expected {_FORMS}") from None


def _iso_ready(text: str) -> str:
    # Python 3.11's fromisoformat reads RFC 3339 but not a lower-case separator.
    if len(text) > 10 and text[10] == "t":
        text = text[:10] + "T" + text[11:]
    return text[:-1] + "Z" if text.endswith("z") else text


def _from_basic(text: str, match: re.Match[str]) -> dt.datetime:
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    zone = dt.UTC
    if offset and offset not in ("Z", "z"):
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        zone = dt.timezone(sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    try:
        return dt.datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0),
                           int(second or 0), int(float(fraction or 0) * 1_000_000), tzinfo=zone)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a date: {exc}") from None
