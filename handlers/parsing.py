"""Bounded parsers for every number and date that arrives typed by a person or carried on a
button. Each answers None for anything it does not take, so the caller shows its usage line
or hint: never an exception, and never a value the database cannot hold (a 30-digit id
overflows PostgreSQL's integer columns; the year 9999 overflows the date arithmetic after it).

``str.isdigit`` is not the test: it is true for "²" and "٣", which ``int`` refuses or reads
as a digit nobody typed on purpose. Only ASCII digits are numbers here.
"""

from __future__ import annotations

import re
from datetime import date, time

# Integer primary keys (requests, residents): PostgreSQL's ``integer``.
MAX_ROW_ID = 2**31 - 1
# Telegram user ids "have at most 52 significant bits" (Bot API, User.id); stored as bigint.
MAX_TELEGRAM_ID = 2**52
# Dates staff may name: nothing the city's records could hold lies outside these.
EARLIEST_DAY = date(2000, 1, 1)
LATEST_DAY = date(2100, 12, 31)

_DIGITS = re.compile(r"[0-9]{1,19}", re.ASCII)
_DAY = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})", re.ASCII)
_CLOCK = re.compile(r"([0-9]{1,2}):([0-9]{2})", re.ASCII)


def parse_int(text: str, *, low: int = 0, high: int = MAX_ROW_ID) -> int | None:
    """A whole number written in ASCII digits, between ``low`` and ``high``."""
    text = text.strip()
    if not _DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if low <= value <= high else None


def parse_row_id(text: str) -> int | None:
    """A database row id (a request's on a button, a page number)."""
    return parse_int(text, low=0, high=MAX_ROW_ID)


def parse_telegram_id(text: str) -> int | None:
    """A Telegram user id, as staff type it in /staff."""
    return parse_int(text, low=1, high=MAX_TELEGRAM_ID)


def parse_day(
    text: str, *, earliest: date = EARLIEST_DAY, latest: date = LATEST_DAY
) -> date | None:
    """A calendar day as YYYY-MM-DD (only that form: ``date.fromisoformat`` also takes week
    dates and other shapes nobody types), within ``earliest``..``latest``."""
    m = _DAY.fullmatch(text.strip())
    if m is None:
        return None
    try:
        day = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None
    return day if earliest <= day <= latest else None


def parse_clock(text: str) -> time | None:
    """A time of day as H:MM or HH:MM."""
    m = _CLOCK.fullmatch(text.strip())
    if m is None:
        return None
    hour, minute = int(m.group(1)), int(m.group(2))
    return time(hour, minute) if hour < 24 and minute < 60 else None
