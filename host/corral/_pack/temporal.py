"""Reading dates, times, date-times and durations into one canonical text form each.

The forms a pack (or a caller) naturally writes are read; anything else is refused with
a :class:`TemporalError` saying what was expected. The canonical forms:

- date: ``YYYY-MM-DD``, the calendar day as written (a time or offset given with it is
  dropped: converting ``2024-03-03T23:00-08:00`` to UTC would move it to the 4th).
- date-time: ``YYYY-MM-DDTHH:MM:SSZ`` in UTC, with ``.fff`` or ``.ffffff`` only when the
  instant has a fraction of a second. A date-time without an offset is read as UTC.
- time: ``HH:MM:SS`` (24-hour), with a fraction only when there is one; a time given with an
  offset is converted to UTC, one without is kept as written.
- duration: ISO 8601 ``PnDTnHnMnS`` (zero parts left out, ``PT0S`` for nothing, a leading
  ``-`` when negative), its largest unit days unless told otherwise. Years and months are
  refused: they have no fixed length.

Numbers are Coda's numeric forms: seconds since the Unix epoch for dates, times and
date-times (:func:`epoch_problem` checks the range), days for durations.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from functools import lru_cache

#: Longest text read as a date, time or duration (the longest natural form is far shorter).
MAX_TEXT = 100
#: The units a duration's largest part may be, largest first, in seconds.
DURATION_UNITS = {"days": 86400, "hours": 3600, "minutes": 60, "seconds": 1}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MIN_EPOCH_S = (datetime(1, 1, 1, tzinfo=UTC) - _EPOCH).total_seconds()
_MAX_EPOCH_S = (datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC) - _EPOCH).total_seconds()

# Month-name forms ("March 3, 2024", "3 Mar 2024", "Mar 3 2024 5:24 PM"); numeric day/month
# orders like 03/04/2024 are refused, since they mean different days in different countries.
_DATE_FORMS = ("%B %d, %Y", "%b %d, %Y", "%B %d %Y", "%b %d %Y", "%d %B %Y", "%d %b %Y",
               "%Y/%m/%d")
_TIME_FORMS = ("%H:%M", "%H:%M:%S", "%H:%M:%S.%f", "%I:%M %p", "%I:%M%p", "%I:%M:%S %p",
               "%I:%M:%S%p", "%I %p", "%I%p")

# "Sun, 03 Mar 2024 17:24:00 GMT"; checked first, since the e-mail parser skips what it
# does not understand ("5:24 PM" would lose its PM).
_RFC_2822 = re.compile(r"(?:[A-Za-z]{3},\s*)?\d{1,2}\s+[A-Za-z]{3}\s+\d{4}\s+\d{1,2}:\d{2}"
                       r"(?::\d{2})?(?:\s+(?:[A-Za-z]{1,5}|[+-]\d{4}))?")
_ISO_DURATION = re.compile(
    r"(?P<sign>-)?P(?!$)(?:(?P<weeks>\d+(?:[.,]\d+)?)W)?(?:(?P<days>\d+(?:[.,]\d+)?)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+(?:[.,]\d+)?)H)?(?:(?P<minutes>\d+(?:[.,]\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:[.,]\d+)?)S)?)?", re.IGNORECASE)
_CLOCK_DURATION = re.compile(r"(?P<sign>-)?(?P<h>\d+):(?P<m>[0-5]\d)(?::(?P<s>[0-5]\d(?:\.\d+)?))?")
_WORD_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]+)")
_WORD_UNITS = {
    **dict.fromkeys(("w", "wk", "wks", "week", "weeks"), 7 * 86400),
    **dict.fromkeys(("d", "day", "days"), 86400),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60),
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1),
}
_WORD_GLUE = re.compile(r"[\s,]+|\band\b")


class TemporalError(ValueError):
    """A text that is not the date, time, date-time or duration it should be."""


@lru_cache(maxsize=4096)  # a value is checked, then normalised: read once
def canonical_date(text: str) -> str:
    """``text`` as ``YYYY-MM-DD``, the calendar day as written."""
    return _read_datetime(text, "date").date().isoformat()


@lru_cache(maxsize=4096)  # a value is checked, then normalised: read once
def canonical_datetime(text: str) -> str:
    """``text`` as a UTC instant, ``YYYY-MM-DDTHH:MM:SS[.fff]Z``."""
    moment = _read_datetime(text, "date-time")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S") + _fraction(utc.microsecond) + "Z"


@lru_cache(maxsize=4096)  # a value is checked, then normalised: read once
def canonical_time(text: str) -> str:
    """``text`` as a time of day, ``HH:MM:SS[.fff]`` (UTC when an offset is given)."""
    clock = _read_time(text)
    return clock.strftime("%H:%M:%S") + _fraction(clock.microsecond)


@lru_cache(maxsize=4096)  # a value is checked, then normalised: read once
def canonical_duration(text: str, largest: str = "days") -> str:
    """``text`` as an ISO 8601 duration whose largest part is ``largest`` (a DURATION_UNITS key)."""
    return format_duration(duration_seconds(text), largest)


def epoch_problem(seconds: float) -> str | None:
    """Why ``seconds`` since the epoch is no date (years 1 to 9999), or None."""
    if not _MIN_EPOCH_S <= seconds <= _MAX_EPOCH_S:
        return f"{seconds!r} seconds since 1970 is outside the years 1 to 9999"
    return None


def duration_seconds(text: str) -> Decimal:
    """The length of a duration text in seconds: ISO 8601 (``PT1H30M``), a clock
    (``1:30`` is an hour and a half, ``1:30:15``) or words (``3 days 4 hours``, ``1.5 hrs``)."""
    stripped = _bounded(text, "duration").strip()
    if stripped.upper().lstrip("-").startswith("P"):
        return _iso_duration(stripped)
    clock = _CLOCK_DURATION.fullmatch(stripped)
    if clock:
        total = (int(clock["h"]) * 3600 + int(clock["m"]) * 60
                 + Decimal(clock["s"] or 0))
        return -total if clock["sign"] else total
    return _word_duration(stripped)


def format_duration(seconds: Decimal, largest: str = "days") -> str:
    """Seconds as ``[-]PnDTnHnMnS``, no part larger than ``largest``; microsecond precision."""
    sign = "-" if seconds < 0 else ""
    rest = abs(seconds).quantize(Decimal("0.000001"))
    parts: dict[str, Decimal] = {}
    units = list(DURATION_UNITS.items())
    for name, size in units[list(DURATION_UNITS).index(largest):]:
        if size == 1:
            parts[name] = rest
        else:
            parts[name], rest = divmod(rest, size)
    day = f"{parts['days']:f}D" if parts.get("days") else ""
    clock = "".join(f"{_plain(parts[name])}{letter}" for name, letter in
                    (("hours", "H"), ("minutes", "M"), ("seconds", "S")) if parts.get(name))
    if not day and not clock:
        return "PT0S"
    return f"{sign}P{day}" + (f"T{clock}" if clock else "")


def _plain(amount: Decimal) -> str:
    text = f"{amount:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _fraction(microsecond: int) -> str:
    if not microsecond:
        return ""
    return f".{microsecond // 1000:03d}" if microsecond % 1000 == 0 else f".{microsecond:06d}"


def _bounded(text: str, what: str) -> str:
    if len(text) > MAX_TEXT:
        raise TemporalError(f"is longer than {MAX_TEXT} characters, too long for a {what}")
    return text


def _read_datetime(text: str, what: str) -> datetime:
    stripped = _bounded(text, what).strip()
    try:
        return datetime.fromisoformat(stripped)
    except ValueError:
        pass  # not ISO 8601: the looser forms below are tried next
    found = _month_name_form(stripped)
    if found is None and _RFC_2822.fullmatch(stripped):
        try:
            found = parsedate_to_datetime(stripped)  # e-mail and HTTP dates
        except (TypeError, ValueError, IndexError):
            pass  # shaped like one but not a date: refused below with the others
    if found is None:
        raise TemporalError(f"is not a {what} (write ISO 8601, e.g. "
                            f"{'2024-03-03' if what == 'date' else '2024-03-03T17:24:00Z'})")
    return found


def _month_name_form(text: str) -> datetime | None:
    """ "March 3, 2024", optionally followed by a time ("March 3, 2024 5:24 PM")."""
    if not re.search(r"[A-Za-z]{3}|/", text):
        return None
    for form in _DATE_FORMS:
        for suffix in ("", *(" " + t for t in _TIME_FORMS), *(" at " + t for t in _TIME_FORMS)):
            try:
                return datetime.strptime(text, form + suffix)
            except ValueError:
                continue
    return None


def _read_time(text: str) -> time:
    stripped = _bounded(text, "time").strip()
    for form in _TIME_FORMS:
        try:
            return datetime.strptime(stripped.upper(), form).time()
        except ValueError:
            continue
    try:
        clock = time.fromisoformat(stripped)  # also "17:24:05Z", "17:24+02:00"
    except ValueError:
        try:
            moment = _read_datetime(stripped, "time")
        except TemporalError:
            raise TemporalError("is not a time (write HH:MM:SS, e.g. 17:24:00)") from None
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC)
        return moment.time().replace(tzinfo=None)
    if clock.tzinfo is not None:
        anchored = datetime.combine(date(2000, 1, 1), clock).astimezone(UTC)
        return anchored.time().replace(tzinfo=None)
    return clock


def _iso_duration(text: str) -> Decimal:
    found = _ISO_DURATION.fullmatch(text)
    if not found:
        if re.search(r"\d(?:[.,]\d+)?[YM]", text.upper().split("T")[0]):
            raise TemporalError("has years or months, which have no fixed length; "
                                "give days, hours, minutes and seconds")
        raise TemporalError("is not an ISO 8601 duration (e.g. P3DT4H or PT40M30S)")
    total = Decimal(0)
    sizes = {"weeks": 7 * 86400, **DURATION_UNITS}
    for name, size in sizes.items():
        if found[name]:
            total += Decimal(found[name].replace(",", ".")) * size
    return -total if found["sign"] else total


def _word_duration(text: str) -> Decimal:
    lowered = text.lower()
    sign = -1 if lowered.startswith("-") else 1
    lowered = lowered.lstrip("-").strip()
    total, end = Decimal(0), 0
    for part in _WORD_PART.finditer(lowered):
        between = lowered[end:part.start()]
        unit = _WORD_UNITS.get(part[2])
        if _WORD_GLUE.sub("", between) or unit is None:
            break
        try:
            total += Decimal(part[1]) * unit
        except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
            break
        end = part.end()
    else:
        if end and not _WORD_GLUE.sub("", lowered[end:]):
            return total * sign
    raise TemporalError("is not a duration (write e.g. 3 days 4 hours, 1:30 or PT1H30M)")

