"""Deadline arithmetic: across weekends, holidays and daylight-saving changes in Europe/Kyiv."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.domain.deadlines.spans import (
    LEGAL_MAXIMUM,
    Span,
    WorkingHours,
    due,
    remind_at,
    resume,
    working_between,
)

KYIV = ZoneInfo("Europe/Kyiv")
OFFICE = WorkingHours(
    time(8), time(17), frozenset({1, 2, 3, 4, 5}), frozenset({date(2026, 12, 25)})
)


def local(year: int, month: int, day: int, hour: int) -> datetime:
    return datetime(year, month, day, hour, tzinfo=KYIV)


def test_days_keep_the_local_time_across_the_spring_change() -> None:
    # Kyiv moves clocks forward on 2026-03-29 at 03:00.
    assert due(local(2026, 3, 27, 10), Span.parse("7d"), KYIV, None).astimezone(KYIV) == local(
        2026, 4, 3, 10
    )


def test_hours_are_elapsed_time_across_the_autumn_change() -> None:
    # 2026-10-25 04:00 → 03:00: 24 hours after 10:00 the day before is 09:00 local.
    got = due(local(2026, 10, 24, 10), Span.parse("24h"), KYIV, None).astimezone(KYIV)
    assert got == local(2026, 10, 25, 9)


def test_working_hours_skip_the_night_and_the_weekend() -> None:
    friday_afternoon = local(2026, 11, 27, 15)
    assert due(friday_afternoon, Span.parse("4h"), KYIV, OFFICE).astimezone(KYIV) == local(
        2026, 11, 30, 10
    )
    assert due(friday_afternoon, Span.parse("2d"), KYIV, OFFICE).astimezone(KYIV) == local(
        2026, 12, 1, 15
    )


def test_a_holiday_does_not_count() -> None:
    thursday = local(2026, 12, 24, 16)  # Friday the 25th is a holiday
    assert due(thursday, Span.parse("2h"), KYIV, OFFICE).astimezone(KYIV) == local(2026, 12, 28, 9)


def test_filed_at_night_starts_counting_in_the_morning() -> None:
    assert due(local(2026, 12, 1, 23), Span.parse("1h"), KYIV, OFFICE).astimezone(KYIV) == local(
        2026, 12, 2, 9
    )


def test_the_legal_maximum_caps_every_deadline() -> None:
    start = local(2026, 12, 1, 12)
    assert due(start, Span.parse("30d"), KYIV, OFFICE) <= start + LEGAL_MAXIMUM


def test_reminder_at_three_quarters_of_working_time() -> None:
    start = local(2026, 11, 30, 8)  # Monday 08:00, 4 working hours → 12:00
    deadline = due(start, Span.parse("4h"), KYIV, OFFICE)
    assert remind_at(start, deadline, 0.75, KYIV, OFFICE).astimezone(KYIV) == local(
        2026, 11, 30, 11
    )


def test_the_clock_stops_and_resumes() -> None:
    start = local(2026, 11, 30, 8)
    deadline = due(start, Span.parse("8h"), KYIV, OFFICE)  # Monday 16:00
    paused = local(2026, 11, 30, 10)  # needs info: 6 working hours remain
    remaining = working_between(paused, deadline, KYIV, OFFICE)
    assert remaining == timedelta(hours=6)
    answered = local(2026, 12, 2, 14)  # Wednesday 14:00
    assert resume(answered, remaining, KYIV, OFFICE).astimezone(KYIV) == local(2026, 12, 3, 11)


@pytest.mark.parametrize("text", ["", "0h", "-1d", "3w", "h", "1.5.2d"])
def test_bad_spans_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="deadline"):
        Span.parse(text)


moments = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
)
spans = st.builds(
    Span, st.integers(min_value=1, max_value=72).map(float), st.sampled_from(["h", "d"])
)


@settings(max_examples=200, deadline=None)
@given(start=moments, span=spans, hours=st.sampled_from([None, OFFICE]))
def test_properties(start: datetime, span: Span, hours: WorkingHours | None) -> None:
    deadline = due(start, span, KYIV, hours)
    assert start < deadline <= start + LEGAL_MAXIMUM
    if span.unit == "h" and deadline < start + LEGAL_MAXIMUM:
        # Exactly the span of counted time lies between filing and the deadline.
        assert working_between(start, deadline, KYIV, hours) == timedelta(hours=span.amount)
    reminder = remind_at(start, deadline, 0.75, KYIV, hours)
    assert start <= reminder <= deadline
