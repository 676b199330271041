"""The date, time, date-time and duration readers behind the temporal hints (shared with
anything else that takes such values, e.g. date parameters)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from corral._pack.temporal import (
    MAX_TEXT,
    TemporalError,
    canonical_date,
    canonical_datetime,
    canonical_duration,
    canonical_time,
    duration_seconds,
    epoch_problem,
    format_duration,
)


@pytest.mark.parametrize(("text", "date", "instant"), [
    ("2024-03-03T17:24:00Z", "2024-03-03", "2024-03-03T17:24:00Z"),
    ("2024-03-03T17:24:00+05:30", "2024-03-03", "2024-03-03T11:54:00Z"),
    ("2024-03-03T01:00:00+02:00", "2024-03-03", "2024-03-02T23:00:00Z"),
    ("20240303T172400Z", "2024-03-03", "2024-03-03T17:24:00Z"),
    ("Sun, 03 Mar 2024 17:24:00 GMT", "2024-03-03", "2024-03-03T17:24:00Z"),
    ("03 Mar 2024 17:24:00 +0200", "2024-03-03", "2024-03-03T15:24:00Z"),
    ("Mar 3 2024 at 5:24pm", "2024-03-03", "2024-03-03T17:24:00Z"),
    ("  2024-03-03  ", "2024-03-03", "2024-03-03T00:00:00Z"),
])
def test_dates_and_instants(text: str, date: str, instant: str) -> None:
    assert canonical_date(text) == date
    assert canonical_datetime(text) == instant


@pytest.mark.parametrize("text", ["tomorrow", "03/04/2024", "2024-02-30", "12", "", "x" * 101])
def test_what_is_no_date_is_refused(text: str) -> None:
    with pytest.raises(TemporalError):
        canonical_datetime(text)


def test_times() -> None:
    assert canonical_time("5:24:30 am") == "05:24:30"
    assert canonical_time("12 AM") == "00:00:00"
    assert canonical_time("23:59:59.999") == "23:59:59.999"
    assert canonical_time("01:00-03:00") == "04:00:00"
    with pytest.raises(TemporalError, match="is not a time"):
        canonical_time("24:01")


def test_durations_read_every_form_into_seconds() -> None:
    assert duration_seconds("P1DT1H1M1.5S") == Decimal("90061.5")
    assert duration_seconds("PT0,5H") == Decimal("1800.0")
    assert duration_seconds("1 week 2 days") == 9 * 86400
    assert duration_seconds("-1:00") == -3600
    assert duration_seconds("90 mins") == 5400
    assert format_duration(Decimal("90061.5")) == "P1DT1H1M1.5S"
    assert format_duration(Decimal("90061.5"), "minutes") == "PT1501M1.5S"
    assert format_duration(Decimal("0.0000001")) == "PT0S"  # below a microsecond
    assert canonical_duration("PT1H", "seconds") == "PT3600S"
    with pytest.raises(TemporalError, match="years or months"):
        duration_seconds("P1Y2M")
    with pytest.raises(TemporalError, match=f"longer than {MAX_TEXT}"):
        duration_seconds("1 day " * 30)


def test_epoch_range() -> None:
    assert epoch_problem(0) is None and epoch_problem(253402300799) is None
    assert epoch_problem(253402300800) is not None and epoch_problem(-62135596801) is not None
