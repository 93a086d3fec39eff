"""Deadline arithmetic in the city's time zone.

Rules (documented in the README):
- ``"4h"``: hours of elapsed time; ``"7d"``: calendar days, due at the same local wall-clock
  time (so a deadline never shifts by an hour across a daylight-saving change).
- When the responsible department has working hours, the deadline is counted in working time
  only: nights, days off and holidays do not count. ``"Nd"`` then means N working days, i.e.
  N times the length of a working day.
- No deadline is ever later than the legal maximum for a citizen's appeal (30 days).
- While a request waits for the resident (needs info) the clock stops: the remaining time is
  kept and counted again from the moment the resident answers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_SPEC = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([hd])\s*$")
LEGAL_MAXIMUM = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class Span:
    """How long a department has: an amount in hours or (calendar / working) days."""

    amount: float
    unit: str  # "h" or "d"

    @classmethod
    def parse(cls, text: str) -> Span:
        m = _SPEC.match(text)
        if not m or float(m.group(1)) <= 0:
            raise ValueError(
                f"deadline {text!r}: use a positive number of hours or days, e.g. 4h or 7d"
            )
        return cls(float(m.group(1)), m.group(2))

    def hours(self) -> float:
        """Nominal length in hours (a day counted as 24)."""
        return self.amount * (24 if self.unit == "d" else 1)

    def __str__(self) -> str:
        amount = int(self.amount) if self.amount.is_integer() else self.amount
        return f"{amount}{self.unit}"


@dataclass(frozen=True, slots=True)
class WorkingHours:
    start: time
    end: time
    days: frozenset[int]  # ISO weekdays, 1 = Monday
    holidays: frozenset[date] = frozenset()

    def day_length(self) -> timedelta:
        return datetime.combine(date.min, self.end) - datetime.combine(date.min, self.start)

    def is_working_day(self, day: date) -> bool:
        return day.isoweekday() in self.days and day not in self.holidays


def _local(day: date, at: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def _add_working(start: datetime, amount: timedelta, tz: ZoneInfo, hours: WorkingHours) -> datetime:
    remaining = amount
    cursor = start.astimezone(UTC)
    day = cursor.astimezone(tz).date()
    for _ in range(3 * 366):  # bounded: a year with no working day is a configuration error
        if hours.is_working_day(day):
            opens, closes = _local(day, hours.start, tz), _local(day, hours.end, tz)
            begin = max(cursor, opens)
            if begin < closes:
                available = closes - begin
                if remaining <= available:
                    return begin + remaining
                remaining -= available
        day += timedelta(days=1)
        cursor = _local(day, time(0), tz)
    raise ValueError("no working time found within three years: check working hours")


def working_between(
    a: datetime, b: datetime, tz: ZoneInfo, hours: WorkingHours | None
) -> timedelta:
    """Time that counts between ``a`` and ``b`` (b after a): all of it, or working time only."""
    a, b = a.astimezone(UTC), b.astimezone(UTC)
    if b <= a:
        return timedelta(0)
    if hours is None:
        return b - a
    total = timedelta(0)
    day = a.astimezone(tz).date()
    last = b.astimezone(tz).date()
    while day <= last:
        if hours.is_working_day(day):
            opens, closes = _local(day, hours.start, tz), _local(day, hours.end, tz)
            lo, hi = max(a, opens), min(b, closes)
            if lo < hi:
                total += hi - lo
        day += timedelta(days=1)
    return total


def due(start: datetime, span: Span, tz: ZoneInfo, hours: WorkingHours | None) -> datetime:
    """When a request filed at ``start`` (aware) is due."""
    start = start.astimezone(UTC)
    if hours is not None:
        amount = (
            timedelta(hours=span.amount) if span.unit == "h" else hours.day_length() * span.amount
        )
        result = _add_working(start, amount, tz, hours)
    elif span.unit == "h":
        result = start + timedelta(hours=span.amount)
    else:
        local = start.astimezone(tz)
        whole = int(span.amount)
        naive = local.replace(tzinfo=None) + timedelta(days=whole)
        result = naive.replace(tzinfo=tz).astimezone(UTC)
        result += timedelta(days=span.amount - whole)
    return min(result, start + LEGAL_MAXIMUM)


def resume(
    now: datetime, remaining: timedelta, tz: ZoneInfo, hours: WorkingHours | None
) -> datetime:
    """The new deadline when the clock starts again with ``remaining`` time left."""
    if hours is None:
        return now.astimezone(UTC) + remaining
    return _add_working(now, remaining, tz, hours)


def remind_at(
    start: datetime, deadline: datetime, share: float, tz: ZoneInfo, hours: WorkingHours | None
) -> datetime:
    """The moment ``share`` of the counted time until the deadline has passed."""
    counted = working_between(start, deadline, tz, hours)
    return resume(start, counted * share, tz, hours)
