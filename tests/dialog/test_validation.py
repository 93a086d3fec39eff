"""Property tests of what residents type: addresses, descriptions, comments, phone numbers,
and request numbers. Whatever arrives, the validators answer (never crash), and what they
accept is clean and within the limits."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from handlers.validation import (
    Invalid,
    clean_line,
    clean_multiline,
    normalize_phone,
    validate_address,
    validate_comment,
    validate_description,
)
from models.domain.requests import format_number, parse_number

# Arbitrary text, plus text made mostly of the characters that make cleaning interesting.
TRICKY = (
    " \t\n\r\x00\x0b\x0c\x1f\x7f\x85\u00a0\u1680\u2000\u200b\u200e\u2028\u2029\u202f\u3000\ufeff"
)
text = st.one_of(
    st.text(),
    st.text(alphabet=st.sampled_from(list(TRICKY + "aбВ1.,-№/\"'«»()#😀")), max_size=60),
    st.text(min_size=150, max_size=2100),
)
limits = st.integers(min_value=1, max_value=50).flatmap(
    lambda lo: st.tuples(st.just(lo), st.integers(min_value=lo, max_value=2100))
)

PHONE_RE = re.compile(r"\+[0-9]{8,15}")


# --- cleaning ---------------------------------------------------------------------------------


@given(text)
def test_clean_line_is_idempotent_and_one_line(value: str) -> None:
    once = clean_line(value)
    assert clean_line(once) == once
    assert once == once.strip()
    assert "\n" not in once and "\r" not in once and "\t" not in once
    assert "  " not in once


@given(text)
def test_clean_multiline_is_idempotent(value: str) -> None:
    once = clean_multiline(value)
    assert clean_multiline(once) == once
    assert once == once.strip()
    assert "\n\n\n" not in once
    assert "\r" not in once and "\x00" not in once


# --- addresses, descriptions, comments --------------------------------------------------------


@given(text, limits)
@example("   вул. Соборності,\t10  ", (3, 200))
@example("12345", (3, 200))
def test_validate_address(value: str, lim: tuple[int, int]) -> None:
    lo, hi = lim
    result = validate_address(value, lo, hi)
    if isinstance(result, Invalid):
        assert result.code in ("too_short", "too_long", "no_letters", "bad_chars")
        return
    assert lo <= len(result) <= hi
    assert result == clean_line(value) == clean_line(result)
    assert any(ch.isalpha() for ch in result)
    assert validate_address(result, lo, hi) == result  # accepting again changes nothing


@given(text, limits)
def test_validate_description(value: str, lim: tuple[int, int]) -> None:
    lo, hi = lim
    result = validate_description(value, lo, hi)
    if isinstance(result, Invalid):
        assert result.code in ("too_short", "too_long")
        assert result.limit == (lo if result.code == "too_short" else hi)
        return
    assert lo <= len(result) <= hi
    assert result == clean_multiline(value) == clean_multiline(result)
    assert validate_description(result, lo, hi) == result


@given(text, st.integers(min_value=1, max_value=2100))
def test_validate_comment(value: str, hi: int) -> None:
    result = validate_comment(value, hi)
    if isinstance(result, Invalid):
        assert result.code in ("too_short", "too_long")
        return
    assert 1 <= len(result) <= hi
    assert result == clean_multiline(result)
    assert validate_comment(result, hi) == result


def test_examples() -> None:
    assert validate_address("  вул.  Соборності,\u00a010 ") == "вул. Соборності, 10"
    assert validate_address("12345") == Invalid("no_letters")
    assert validate_address("ab") == Invalid("too_short", 3)
    assert validate_address("вул. <script>") == Invalid("bad_chars")
    assert validate_description("x" * 2001) == Invalid("too_long", 2000)
    assert validate_description("Тьма\n\n\n\nй") == Invalid("too_short", 10)
    assert validate_description("Темно\n\n\n\nзовсім темно") == "Темно\n\nзовсім темно"
    assert validate_comment(" \n\t ") == Invalid("too_short", 1)


# --- phone numbers ----------------------------------------------------------------------------

OPERATORS = ["39", "50", "63", "66", "67", "68", "73", "91", "92", "93", "94", "95", "96", "97"]
OPERATORS += ["98", "99"]


@st.composite
def ukrainian_mobile(draw: st.DrawFn) -> tuple[str, str, str]:
    op = draw(st.sampled_from(OPERATORS))
    sub = draw(st.text(alphabet="0123456789", min_size=7, max_size=7))
    return op, sub, f"+380{op}{sub}"


@given(ukrainian_mobile())
def test_every_usual_spelling_of_a_mobile_gives_the_same_number(
    mobile: tuple[str, str, str],
) -> None:
    op, sub, expected = mobile
    spellings = [
        f"0{op}{sub}",
        f"380{op}{sub}",
        f"+380{op}{sub}",
        f"+380 {op} {sub[:3]} {sub[3:5]} {sub[5:]}",
        f"(0{op}) {sub[:3]}-{sub[3:5]}-{sub[5:]}",
        f"+38 (0{op}) {sub[:3]}-{sub[3:5]}-{sub[5:]}",
        f"00380{op}{sub}",
        f"8 0{op} {sub[:3]} {sub[3:5]} {sub[5:]}",  # the old long-distance prefix
        f"  0{op}.{sub[:3]}.{sub[3:5]}.{sub[5:]}  ",
    ]
    for spelling in spellings:
        assert normalize_phone(spelling) == expected, spelling


@given(text)
@example("+")
@example("+0671234567")
@example("٠٦٧١٢٣٤٥٦٧")
@example("３８０６７１２３４５６７")
def test_normalize_phone_never_crashes(value: str) -> None:
    result = normalize_phone(value)
    if isinstance(result, Invalid):
        assert result.code == "bad_phone"
    else:
        assert PHONE_RE.fullmatch(result), result
        assert normalize_phone(result) == result


@pytest.mark.parametrize(
    "value", ["", "12", "hello", "067 123 45", "+380 67 123 45 678", "3806712345", "0671234567x"]
)
def test_not_a_phone(value: str) -> None:
    assert normalize_phone(value) == Invalid("bad_phone")


# --- request numbers --------------------------------------------------------------------------


@given(st.integers(min_value=2000, max_value=9999), st.integers(min_value=1, max_value=999_999))
def test_request_number_round_trip(year: int, seq: int) -> None:
    number = format_number(year, seq)
    assert re.fullmatch(r"[0-9]{4}-[0-9]{6}", number)
    assert parse_number(number) == (year, seq)
    assert parse_number(f"  {number}\n") == (year, seq)


@settings(max_examples=300)
@given(st.one_of(text, st.from_regex(r"[0-9]{1,5}[-–/ ]?[0-9]{0,8}", fullmatch=True)))
@example("2026-000123")
@example("٢٠٢٦-٠٠٠١٢٣")  # Arabic-Indic digits
@example("２０２６-０００１２３")  # full-width digits
def test_parse_number_accepts_only_real_numbers(value: str) -> None:
    parsed = parse_number(value)
    if re.fullmatch(r"[0-9]{4}-[0-9]{6,}", value.strip()):
        year, seq = value.strip().split("-")
        assert parsed == (int(year), int(seq))
    else:
        assert parsed is None


@pytest.mark.parametrize(
    "garbage",
    ["", "2026", "2026-", "2026-12345", "26-000001", "2026/000001", "2026-00000a", "№2026-000001"],
)
def test_parse_number_rejects_garbage(garbage: str) -> None:
    assert parse_number(garbage) is None
