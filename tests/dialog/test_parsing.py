"""The bounded parsers every typed or button-borne number and date goes through
(handlers/parsing.py): whatever comes in, the answer is a value the database can hold or
None, never an exception."""

from __future__ import annotations

from datetime import date, time

from hypothesis import example, given
from hypothesis import strategies as st

from handlers.parsing import (
    EARLIEST_DAY,
    LATEST_DAY,
    MAX_ROW_ID,
    MAX_TELEGRAM_ID,
    parse_clock,
    parse_day,
    parse_int,
    parse_row_id,
    parse_telegram_id,
)


@given(st.text(max_size=60))
@example("9" * 30)
@example("²")
@example("٣")
@example("-1")
@example("+5")
@example(" 12 ")
@example("1_000")
def test_a_row_id_is_ascii_digits_within_the_integer_column(text: str) -> None:
    value = parse_row_id(text)
    if value is None:
        return
    assert 0 <= value <= MAX_ROW_ID
    assert text.strip().isascii() and text.strip().isdigit()
    assert value == int(text.strip())


@given(st.integers(min_value=-(10**40), max_value=10**40))
def test_every_number_in_range_is_read_and_none_outside(n: int) -> None:
    assert parse_row_id(str(n)) == (n if 0 <= n <= MAX_ROW_ID else None)
    assert parse_telegram_id(str(n)) == (n if 1 <= n <= MAX_TELEGRAM_ID else None)
    assert parse_int(str(n), low=1, high=5) == (n if 1 <= n <= 5 else None)


@given(st.text(max_size=30))
@example("0001-01-01")
@example("9999-12-31")
@example("2026-W49-4")
@example("20261203")
@example("2026-02-30")
@example("２０２６-１２-０３")
def test_a_day_is_yyyy_mm_dd_within_the_records_years(text: str) -> None:
    day = parse_day(text)
    if day is None:
        return
    assert EARLIEST_DAY <= day <= LATEST_DAY
    assert day.isoformat() == text.strip()


@given(st.dates())
def test_every_real_day_in_range_is_read(day: date) -> None:
    expected = day if EARLIEST_DAY <= day <= LATEST_DAY else None
    assert parse_day(day.isoformat()) == expected


@given(st.text(max_size=12))
@example("99:99")
@example("24:00")
@example("7:05")
def test_a_clock_is_a_real_time_of_day(text: str) -> None:
    value = parse_clock(text)
    if value is not None:
        assert isinstance(value, time)
        assert value.strftime("%H:%M") == text.strip().zfill(5)


def test_the_clock_and_day_examples_staff_type() -> None:
    assert parse_clock("7:05") == time(7, 5)
    assert parse_clock("23:59") == time(23, 59)
    assert parse_clock("24:00") is None
    assert parse_day("2026-12-05") == date(2026, 12, 5)
    assert parse_day("2026-12-5") is None
