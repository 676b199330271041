"""Date and time built-ins, in the caller's timezone (``CallSite.timezone``, IANA).

Dates are ISO 8601 text: a date is ``2024-05-31``, a time ``13:45:00``, a date and time
``2024-05-31T13:45:00+02:00`` (``Z`` in UTC). A date and time given without an offset
is read in the caller's timezone, and every one a function answers is written in it.
Years stay from 1 to 9999 (an overflow is an error naming the function), weekdays count
from 1 for Sunday as in Coda, and spans (``Networkdays``) are counted arithmetically,
never day by day.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from .builtin_kit import Builtin, number_arg, optional, text_arg, whole_arg
from .values import CallSite, normalize_number, type_name

Moment = date | datetime  # a datetime is also a date: test for datetime first
_MAX_DATE_TEXT = 64
_MAX_FORMAT_CHARS = 200
_TIME_OF_DAY = re.compile(r"\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?")


# -- reading and writing ------------------------------------------------------------------


def read_moment(value: Any, site: CallSite, arg: int) -> Moment:
    """A date or an aware datetime from ISO 8601 text (no offset: the caller's zone)."""
    if not isinstance(value, str):
        raise site.error(f"expects a date as ISO 8601 text, got {type_name(value)}", arg=arg)
    text = value.strip()
    if len(text) > _MAX_DATE_TEXT:
        raise site.error(f"a date is at most {_MAX_DATE_TEXT} characters", arg=arg)
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise site.error(f"{text[:40]!r} is not an ISO 8601 date or date and time "
                         "(2024-05-31 or 2024-05-31T13:45:00+02:00)", arg=arg) from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=site.timezone)
    return moment.astimezone(site.timezone)


def read_date(value: Any, site: CallSite, arg: int) -> date:
    moment = read_moment(value, site, arg)
    return moment.date() if isinstance(moment, datetime) else moment


def read_clock(value: Any, site: CallSite, arg: int) -> time:
    """The time of day of a datetime, a time (``13:45[:00]``) or a date (midnight)."""
    if isinstance(value, str) and _TIME_OF_DAY.fullmatch(value.strip()):
        text = value.strip()
        try:
            return time.fromisoformat("0" + text if text.index(":") == 1 else text)
        except ValueError:
            raise site.error(f"{text!r} is not a time of day", arg=arg) from None
    moment = read_moment(value, site, arg)
    return moment.timetz() if isinstance(moment, datetime) else time()


def write(moment: Moment) -> str:
    if isinstance(moment, datetime):
        text = moment.isoformat(timespec="seconds")
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    return moment.isoformat()


def _local(site: CallSite, year: int, month: int, day: int, hour: int = 0, minute: int = 0,
           second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=site.timezone)


def _guard(site: CallSite, build: Any) -> Any:
    try:
        return build()
    except (ValueError, OverflowError) as exc:
        raise site.error(f"the date is out of range (years 1 to 9999): {exc}") from None


# -- now, construction ----------------------------------------------------------------------


def _now(site: CallSite, args: list[Any]) -> str:
    return write(datetime.fromtimestamp(site.clock(), tz=site.timezone).replace(microsecond=0))


def _today(site: CallSite, args: list[Any]) -> str:
    return datetime.fromtimestamp(site.clock(), tz=site.timezone).date().isoformat()


def _ymd(site: CallSite, args: list[Any]) -> date:
    """Year, month and day; months and days past their end roll over, as in Coda."""
    year = whole_arg(args[0], site, 1, low=1, high=9999)
    month = whole_arg(args[1], site, 2, low=-120_000, high=120_000)
    day = whole_arg(args[2], site, 3, low=-4_000_000, high=4_000_000)
    moved: date = _guard(site, lambda: _add_months(date(year, 1, 1), month - 1)
                         + timedelta(days=day - 1))
    return moved


def _date(site: CallSite, args: list[Any]) -> str:
    return write(_ymd(site, args))


def _time(site: CallSite, args: list[Any]) -> str:
    hour = whole_arg(args[0], site, 1, low=0, high=23)
    minute = whole_arg(optional(args, 1, 0), site, 2, low=0, high=59)
    second = whole_arg(optional(args, 2, 0), site, 3, low=0, high=59)
    return time(hour, minute, second).isoformat()


def _datetime(site: CallSite, args: list[Any]) -> str:
    day = _ymd(site, args)
    hour = whole_arg(optional(args, 3, 0), site, 4, low=0, high=23)
    minute = whole_arg(optional(args, 4, 0), site, 5, low=0, high=59)
    second = whole_arg(optional(args, 5, 0), site, 6, low=0, high=59)
    return write(_local(site, day.year, day.month, day.day, hour, minute, second))


def _to_date(site: CallSite, args: list[Any]) -> str:
    return write(read_date(args[0], site, 1))


def _to_datetime(site: CallSite, args: list[Any]) -> str:
    moment = read_moment(args[0], site, 1)
    if not isinstance(moment, datetime):
        moment = _local(site, moment.year, moment.month, moment.day)
    return write(moment)


# -- parts ----------------------------------------------------------------------------------


def _part(name: str) -> Any:
    def read(site: CallSite, args: list[Any]) -> int:
        value: int = getattr(read_date(args[0], site, 1), name)
        return value
    return read


def _clock_part(name: str) -> Any:
    def read(site: CallSite, args: list[Any]) -> int:
        value: int = getattr(read_clock(args[0], site, 1), name)
        return value
    return read


def _weekday(site: CallSite, args: list[Any]) -> int:
    """1 for Sunday to 7 for Saturday (``start`` 2: 1 for Monday to 7 for Sunday)."""
    day = read_date(args[0], site, 1)
    start = whole_arg(optional(args, 1, 1), site, 2, low=1, high=2)
    return day.isoweekday() % 7 + 1 if start == 1 else day.isoweekday()


def _week_number(site: CallSite, args: list[Any]) -> int:
    """The week of the year; week 1 holds 1 January and weeks start on Sunday."""
    day = read_date(args[0], site, 1)
    first = date(day.year, 1, 1)
    return (day.toordinal() - first.toordinal() + first.isoweekday() % 7) // 7 + 1


# -- arithmetic -----------------------------------------------------------------------------


def _add_months(moment: Any, months: int) -> Any:
    total = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(total, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1]) if 1 <= year <= 9999 \
        else moment.day
    return moment.replace(year=year, month=month + 1, day=day)


def _months_arg(args: list[Any], site: CallSite) -> int:
    return whole_arg(args[1], site, 2, low=-120_000, high=120_000)


def _edate(site: CallSite, args: list[Any]) -> str:
    moment = read_moment(args[0], site, 1)
    months = _months_arg(args, site)
    return write(_guard(site, lambda: _add_months(moment, months)))


def _eomonth(site: CallSite, args: list[Any]) -> str:
    day = read_date(args[0], site, 1)
    months = _months_arg(args, site)
    moved = _guard(site, lambda: _add_months(day.replace(day=1), months))
    return write(moved.replace(day=calendar.monthrange(moved.year, moved.month)[1]))


_UNITS = ("year", "quarter", "month", "week", "day", "hour", "minute", "second")


def _truncate(site: CallSite, args: list[Any]) -> str:
    moment = read_moment(args[0], site, 1)
    unit = text_arg(args[1], site, 2).lower().rstrip("s")
    if unit not in _UNITS:
        raise site.error(f"unknown unit {unit!r}; use one of {', '.join(_UNITS)}", arg=2)
    day = moment.date() if isinstance(moment, datetime) else moment
    start_of = {"year": lambda: day.replace(month=1, day=1),
                "quarter": lambda: day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1),
                "month": lambda: day.replace(day=1),
                "week": lambda: day - timedelta(days=day.isoweekday() % 7)}
    if unit in start_of:
        truncated = _guard(site, start_of[unit])
        if isinstance(moment, datetime):
            return write(_local(site, truncated.year, truncated.month, truncated.day))
        return write(truncated)
    if not isinstance(moment, datetime):
        return write(moment)
    keep = _UNITS.index(unit) - _UNITS.index("day")  # 0 day, 1 hour, 2 minute, 3 second
    parts = [moment.hour, moment.minute, moment.second][:keep]
    return write(_local(site, moment.year, moment.month, moment.day, *parts))


def _days(site: CallSite, args: list[Any]) -> int | float:
    """``Days(end, start)``: days from start to end (fractional for dates and times)."""
    end, start = read_moment(args[0], site, 1), read_moment(args[1], site, 2)
    if isinstance(end, datetime) or isinstance(start, datetime):
        # In UTC: Python subtracts two times of one zone by the wall clock, ignoring DST.
        seconds = (_aware(end, site).astimezone(UTC)
                   - _aware(start, site).astimezone(UTC)).total_seconds()
        return normalize_number(int(seconds // 86400) if seconds % 86400 == 0
                                else seconds / 86400, site)
    return (end - start).days


def _aware(moment: Moment, site: CallSite) -> datetime:
    if isinstance(moment, datetime):
        return moment
    return _local(site, moment.year, moment.month, moment.day)


def _networkdays(site: CallSite, args: list[Any]) -> int:
    """Monday-to-Friday days from start to end, both counted; negative if end is earlier."""
    start, end = read_date(args[0], site, 1), read_date(args[1], site, 2)
    if end < start:
        return -_weekdays_between(end, start)
    return _weekdays_between(start, end)


def _weekdays_between(start: date, end: date) -> int:
    span = (end - start).days + 1
    weeks, rest = divmod(span, 7)
    first = start.weekday()  # Monday 0
    return weeks * 5 + sum(1 for i in range(rest) if (first + i) % 7 < 5)


# -- formatting -----------------------------------------------------------------------------

_FORMAT_TOKEN = re.compile(r"YYYY|YY|MMMM|MMM|MM|M|DD|D|dddd|ddd|HH|H|hh|h|mm|ss|A|a")


def _format_date(site: CallSite, args: list[Any]) -> str:
    """``FormatDate(date, "DD MMM YYYY HH:mm")``: tokens replaced, other text kept."""
    moment = read_moment(args[0], site, 1)
    pattern = text_arg(args[1], site, 2)
    if len(pattern) > _MAX_FORMAT_CHARS:
        raise site.error(f"the format is longer than {_MAX_FORMAT_CHARS} characters", arg=2)
    clock = moment.timetz() if isinstance(moment, datetime) else time()
    hour12 = clock.hour % 12 or 12
    values = {
        "YYYY": f"{moment.year:04d}", "YY": f"{moment.year % 100:02d}",
        "MMMM": calendar.month_name[moment.month], "MMM": calendar.month_abbr[moment.month],
        "MM": f"{moment.month:02d}", "M": str(moment.month), "DD": f"{moment.day:02d}",
        "D": str(moment.day), "dddd": calendar.day_name[moment.weekday()],
        "ddd": calendar.day_abbr[moment.weekday()], "HH": f"{clock.hour:02d}",
        "H": str(clock.hour), "hh": f"{hour12:02d}", "h": str(hour12),
        "mm": f"{clock.minute:02d}", "ss": f"{clock.second:02d}",
        "A": "AM" if clock.hour < 12 else "PM", "a": "am" if clock.hour < 12 else "pm"}
    return _FORMAT_TOKEN.sub(lambda m: values[m.group(0)], pattern)


def _epoch_to_date(site: CallSite, args: list[Any]) -> str:
    seconds = number_arg(args[0], site, 1)
    return write(_guard(site, lambda: datetime.fromtimestamp(seconds, tz=site.timezone)
                        .replace(microsecond=0)))


TABLE: tuple[Builtin, ...] = (
    Builtin("Now", _now, 0, 0, "Now(): the date and time now, in the caller's timezone"),
    Builtin("Today", _today, 0, 0, "Today(): today's date in the caller's timezone"),
    Builtin("Date", _date, 3, 3, "Date(year, month, day): a date (months and days roll "
            "over)"),
    Builtin("Time", _time, 1, 3, "Time(hour, [minute], [second]): a time of day"),
    Builtin("DateTime", _datetime, 3, 6, "DateTime(year, month, day, [hour], [minute], "
            "[second]): a date and time in the caller's timezone"),
    Builtin("ToDate", _to_date, 1, 1, "ToDate(text): the date of an ISO 8601 date or date "
            "and time"),
    Builtin("ToDateTime", _to_datetime, 1, 1, "ToDateTime(text): an ISO 8601 date and time "
            "(no offset: the caller's timezone)"),
    Builtin("EpochToDate", _epoch_to_date, 1, 1, "EpochToDate(seconds): the date and time "
            "that many seconds after 1970-01-01 UTC"),
    Builtin("Year", _part("year"), 1, 1, "Year(date): its year"),
    Builtin("Month", _part("month"), 1, 1, "Month(date): its month, 1 to 12"),
    Builtin("Day", _part("day"), 1, 1, "Day(date): its day of the month"),
    Builtin("Hour", _clock_part("hour"), 1, 1, "Hour(datetime or time): its hour, 0 to 23"),
    Builtin("Minute", _clock_part("minute"), 1, 1, "Minute(datetime or time): its minute"),
    Builtin("Second", _clock_part("second"), 1, 1, "Second(datetime or time): its second"),
    Builtin("Weekday", _weekday, 1, 2, "Weekday(date, [start]): 1 (Sunday) to 7; start 2 "
            "counts from Monday"),
    Builtin("WeekNumber", _week_number, 1, 1, "WeekNumber(date): its week of the year "
            "(week 1 holds 1 January; weeks start on Sunday)"),
    Builtin("EDate", _edate, 2, 2, "EDate(date, months): the same day months later (or "
            "earlier)"),
    Builtin("RelativeDate", _edate, 2, 2, "RelativeDate(date, months): the same as EDate"),
    Builtin("EOMonth", _eomonth, 2, 2, "EOMonth(date, months): the last day of the month "
            "months away"),
    Builtin("DateTimeTruncate", _truncate, 2, 2, "DateTimeTruncate(date, unit): the start "
            "of its year, quarter, month, week, day, hour, minute or second"),
    Builtin("Days", _days, 2, 2, "Days(end, start): the days from start to end"),
    Builtin("Networkdays", _networkdays, 2, 2, "Networkdays(start, end): Monday-to-Friday "
            "days between them, both counted"),
    Builtin("FormatDate", _format_date, 2, 2, "FormatDate(date, format): written with tokens "
            "YYYY MM MMM MMMM DD D dddd ddd HH hh mm ss A"),
)
