"""Nothing personal leaves: the blanking functions' properties, and every answer of the API
(both formats) and of the page (every language, the search) searched for a planted name, phone,
e-mail, flat and chat id."""

from __future__ import annotations

import re

from aiohttp import web
from aiohttp.test_utils import TestClient
from hypothesis import given
from hypothesis import strategies as st

from models.domain.privacy import MASK, blank_personal, public_address
from tests.web.seed import EMAIL, FLAT, NAME, PHONE, PHONE_WRITTEN, Seeded

Client = TestClient[web.Request, web.Application]

words = st.text(
    alphabet=st.characters(categories=["L"], max_codepoint=0x4FF), min_size=1, max_size=8
)
prose = st.lists(words, max_size=6).map(" ".join)
digit = st.sampled_from("0123456789")


@st.composite
def phones(draw: st.DrawFn) -> str:
    """Ukrainian numbers as people write them: +380…, 0XX…, with spaces, dashes, brackets."""
    operator = "".join(draw(st.lists(digit, min_size=2, max_size=2)))
    rest = "".join(draw(st.lists(digit, min_size=7, max_size=7)))
    style = draw(st.integers(0, 4))
    if style == 0:
        return f"+380{operator}{rest}"
    if style == 1:
        return f"+380 {operator} {rest[:3]} {rest[3:5]} {rest[5:]}"
    if style == 2:
        return f"0{operator}-{rest[:3]}-{rest[3:5]}-{rest[5:]}"
    if style == 3:
        return f"(0{operator}) {rest[:3]} {rest[3:]}"
    return f"0{operator}{rest}"


emails = st.builds(
    "{}@{}.{}".format,
    st.from_regex(r"[a-z][a-z0-9._+-]{0,12}", fullmatch=True),
    st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True),
    st.sampled_from(["com", "ua", "org", "gov.ua"]),
)


@given(prose, phones(), prose)
def test_a_phone_in_text_is_blanked(before: str, phone: str, after: str) -> None:
    out = blank_personal(f"{before} {phone} {after}")
    assert out is not None
    assert sum(ch.isdigit() for ch in out) < 6, out
    assert MASK in out


@given(prose, emails, prose)
def test_an_email_in_text_is_blanked(before: str, email: str, after: str) -> None:
    out = blank_personal(f"{before} {email}, {after}")
    assert out is not None and "@" not in out and email not in out


@given(prose)
def test_text_without_digits_or_at_signs_is_unchanged(text: str) -> None:
    assert blank_personal(text) == text


@given(prose, phones(), emails)
def test_blanking_twice_changes_nothing_more(text: str, phone: str, email: str) -> None:
    once = blank_personal(f"{text} {phone} {email}")
    assert blank_personal(once) == once


@given(st.integers(2020, 2099), st.integers(1, 999_999), st.integers(1, 28), st.integers(1, 12))
def test_request_numbers_and_dates_stay(year: int, seq: int, day: int, month: int) -> None:
    text = f"See {year}-{seq:06d} from {day:02d}.{month:02d}.{year}, house 12"
    assert blank_personal(text) == text


@given(
    prose,
    st.sampled_from(
        [
            "kv.",
            "kv",
            "apt",
            "flat",
            "\u043a\u0432.",
            "\u043a\u0432\u0430\u0440\u0442\u0438\u0440\u0430",
        ]
    ),
    st.integers(1, 999),
)
def test_the_flat_is_dropped_from_an_address(street: str, word: str, flat: int) -> None:
    address = f"vul. {street or 'Soborna'}, 12, {word} {flat}"
    out = public_address(address)
    assert out is not None and out.endswith("12") and str(flat) not in out.rsplit("12", 1)[1]


@given(st.sampled_from(["Ivan Petrenko", "Olena", "Mariia Kovalenko-Shevchenko"]))
def test_a_known_name_is_blanked_whole_and_in_parts(name: str) -> None:
    first = name.split()[0]
    out = blank_personal(f"{name} says hi. Regards, {first}", known=[name])
    assert out is not None and first not in out


def leaks(text: str) -> list[str]:
    digits = re.sub(r"\D", "", text)
    found = [v for v in (EMAIL, FLAT, PHONE, PHONE_WRITTEN, "5001") if v in text]
    found += [part for part in NAME.split() if part.lower() in text.lower()]
    if PHONE.removeprefix("+") in digits or "671234567" in digits:
        found.append("phone digits")
    return found


async def test_no_answer_carries_personal_data(client: Client, seeded: Seeded) -> None:
    planted = seeded.numbers["planted"]
    paths = [
        f"/open311/v2/{what}.{fmt}{query}"
        for fmt in ("json", "xml")
        for what, query in (
            ("discovery", ""),
            ("services", ""),
            ("services/roads.pothole", ""),
            ("requests", ""),
            ("requests", "?status=closed"),
            (f"requests/{planted}", ""),
            ("requests", f"?service_request_id={planted}"),
        )
    ]
    paths += ["/", "/uk", "/ru", "/en"]
    paths += [f"/{lang}?number={planted}" for lang in ("uk", "ru", "en")]
    for path in paths:
        resp = await client.get(path)
        assert resp.status == 200, path
        text = await resp.text()
        assert not leaks(text), (path, leaks(text))
    # The planted request is published, blanked, not hidden.
    resp = await client.get(f"/open311/v2/requests/{planted}.json")
    assert "Pothole. Call ***" in await resp.text()
