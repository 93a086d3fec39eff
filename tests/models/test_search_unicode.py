"""/find by address text: a substring in any letter case, Cyrillic included, on both backends
(SQLite through the FTS5 trigram table of migration 0005, PostgreSQL through ILIKE); newest
first, within the department's scope; and the SQLite search table follows every change of an
address (insert, edit, deletion, anonymisation)."""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from handlers.desk.engine import StaffDesk
from handlers.dialog.conversation import Conversation
from handlers.i18n import to_plain, translator
from models.domain.residents import forget_resident
from models.domain.tables import Request, Resident
from models.storage import desk_queries
from models.storage.desk_queries import rare_trigrams, search
from tests.desk_data import Desk, add_request
from tests.desk_settings import ADMIN, desk_settings

Sessions = async_sessionmaker[AsyncSession]


async def find(sessions: Sessions, text_: str, department: str | None = None) -> list[str]:
    async with sessions() as session:
        return [r.address or "" for r in await search(session, text_, department, phone=None)]


async def file(
    sessions: Sessions, cfg: Settings, address: str, now: datetime | None = None
) -> Request:
    return await add_request(
        sessions, cfg, resident=f"9{len(address)}", category="lighting", address=address, now=now
    )


async def fts_rows(sessions: Sessions) -> set[tuple[int, str]] | None:
    """SQLite: the search table's (rowid, address); None on PostgreSQL."""
    async with sessions() as session:
        if session.get_bind().dialect.name != "sqlite":
            return None
        rows = await session.execute(text("SELECT rowid, address FROM requests_fts"))
        return {(int(i), str(a)) for i, a in rows}


async def addresses(sessions: Sessions) -> set[tuple[int, str]]:
    async with sessions() as session:
        rows = await session.execute(
            select(Request.id, Request.address).where(Request.address.is_not(None))
        )
        return {(int(i), str(a)) for i, a in rows}


async def assert_in_step(sessions: Sessions) -> None:
    indexed = await fts_rows(sessions)
    if indexed is not None:
        assert indexed == await addresses(sessions)


async def test_any_letter_case_finds_a_cyrillic_address(
    sessions: Sessions, settings: Settings
) -> None:
    cfg = desk_settings(settings)
    for address in (
        "вул. Соборності, 12, кв. 5",
        "ПРОСП. МЕТАЛУРГІВ, 40",
        "вул. Їжакевича, 3",
        "Ґалаґанівська, 7",
        "Soborna street, 9",
    ):
        await file(sessions, cfg, address)
    assert await find(sessions, "соборності") == ["вул. Соборності, 12, кв. 5"]
    assert await find(sessions, "СОБОРНОСТІ, 12") == ["вул. Соборності, 12, кв. 5"]
    assert await find(sessions, "металургів") == ["ПРОСП. МЕТАЛУРГІВ, 40"]
    assert await find(sessions, "ЇЖАКЕВ") == ["вул. Їжакевича, 3"]
    assert await find(sessions, "ґалаґ") == ["Ґалаґанівська, 7"]
    assert await find(sessions, "SOBORNA") == ["Soborna street, 9"]
    assert await find(sessions, "Соборності, 13") == []
    # Shorter than a trigram (/find asks for 3 characters; other callers may not).
    assert await find(sessions, "ґа") == ["Ґалаґанівська, 7"]
    assert sorted(await find(sessions, "40")) == ["ПРОСП. МЕТАЛУРГІВ, 40"]
    # The staff command, as an operator types it.
    desk = Desk(StaffDesk(sessions, cfg, translator()), Conversation(sessions, cfg))
    answer = to_plain("\n".join(await desk.command(ADMIN, "/find вул. соборності")))
    assert "Соборності" in answer


async def test_quotes_and_wildcards_are_plain_text(sessions: Sessions, settings: Settings) -> None:
    cfg = desk_settings(settings)
    tricky = 'вул. Соборності, 10, під\'їзд "2"'
    for address in (tricky, "вул. Зарічна, 112", "вул. Зарічна, 1_2", "100% Зарічна"):
        await file(sessions, cfg, address)
    assert await find(sessions, 'під\'ЇЗД "2"') == [tricky]
    assert await find(sessions, '"2"') == [tricky]
    assert await find(sessions, "1_2") == ["вул. Зарічна, 1_2"]
    assert await find(sessions, "0%") == ["100% Зарічна"]
    assert await find(sessions, "%") == ["100% Зарічна"]
    assert await find(sessions, "OR") == []  # not an FTS5 operator either
    assert await find(sessions, "* OR вул") == []


async def test_newest_first_limited_and_scoped(sessions: Sessions, settings: Settings) -> None:
    cfg = desk_settings(settings)
    start = datetime(2026, 5, 1, 8, tzinfo=UTC)
    made = [
        await file(sessions, cfg, f"вул. Зарічна, {n}", now=start + timedelta(hours=n))
        for n in range(1, 24)
    ]
    roads = await add_request(
        sessions,
        cfg,
        resident="77",
        category="roads",
        address="вул. Зарічна, 99",
        now=start + timedelta(days=5),
    )
    async with sessions() as session:
        found = await search(session, "ЗАРІЧНА", None, phone=None)
        assert [r.id for r in found] == [roads.id] + [r.id for r in made[::-1][:19]]
        lighting = await search(session, "зарічна", "lighting", phone=None)
        assert [r.id for r in lighting] == [r.id for r in made[::-1][:20]]
        assert [r.id for r in await search(session, "зарічна", "roads", phone=None)] == [roads.id]
        assert await search(session, "зарічна, 99", "lighting", phone=None) == []


def test_a_whole_address_is_looked_up_by_its_rare_trigrams() -> None:
    """Numbers and long words, not "вул" or ", к", which are in nearly every address."""
    picked = rare_trigrams("вул. володимира великого, 88, кв. 166")
    assert picked[:2] == ["166", " 88"]
    assert not {"вул", "ул.", ", к", " кв", "кв."} & set(picked)
    assert rare_trigrams("соборності")[:3] == ["соб", "орн", "ост"]  # apart, not overlapping
    assert rare_trigrams("abc") == ["abc"]


async def test_a_whole_address_with_a_flat_number(sessions: Sessions, settings: Settings) -> None:
    """Found by its rarest parts (the numbers), then checked whole: a longer flat number
    contains it, another house does not."""
    cfg = desk_settings(settings)
    for address in ("вул. Зарічна, 12, кв. 166", "вул. Зарічна, 12, кв. 1660"):
        await file(sessions, cfg, address)
    await file(sessions, cfg, "вул. Зарічна, 121, кв. 166")
    assert sorted(await find(sessions, "ЗАРІЧНА, 12, КВ. 166")) == [
        "вул. Зарічна, 12, кв. 166",
        "вул. Зарічна, 12, кв. 1660",
    ]
    assert await find(sessions, "зарічна, 12, кв. 167") == []


async def test_many_candidates_are_read_in_rounds_then_by_phrase(
    backend: str, sessions: Sessions, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rare trigrams of "Зарічна, 7" are in every "Зарічна, 7x" too: the candidates are
    checked round after round, and past the cap the phrase query answers, with the same rows."""
    cfg = desk_settings(settings)
    start = datetime(2026, 5, 1, 8, tzinfo=UTC)
    for n in range(70, 80):
        await file(sessions, cfg, f"вул. Зарічна, {n}", now=start + timedelta(hours=n))
    wanted = await file(sessions, cfg, "вул. Зарічна, 7", now=start)
    monkeypatch.setattr(desk_queries, "FTS_BATCH", 3)
    assert await find(sessions, "ЗАРІЧНА, 7") == [
        f"вул. Зарічна, {n}" for n in range(79, 69, -1)
    ] + [wanted.address]
    assert await find(sessions, "зарічна, 7,") == []
    monkeypatch.setattr(desk_queries, "FTS_MAX_CANDIDATES", 4)  # the phrase takes over
    assert (await find(sessions, "Зарічна, 7"))[-1] == wanted.address


async def test_the_search_follows_every_change_of_an_address(
    sessions: Sessions, settings: Settings
) -> None:
    cfg = desk_settings(settings)
    first = await file(sessions, cfg, "вул. Лермонтова, 5")
    second = await file(sessions, cfg, "вул. Лісового, 8")
    await file(sessions, cfg, "мкр. Сонячний, 2")
    await assert_in_step(sessions)
    async with sessions() as session, session.begin():
        await session.execute(
            update(Request).where(Request.id == first.id).values(address="просп. Миру, 1")
        )
        await session.execute(update(Request).where(Request.id == second.id).values(address=None))
    assert await find(sessions, "лермонтова") == []
    assert await find(sessions, "миру, 1") == ["просп. Миру, 1"]
    assert await find(sessions, "лісового") == []
    await assert_in_step(sessions)
    async with sessions() as session, session.begin():
        await session.execute(update(Request).where(Request.id == second.id).values(address="Б"))
        await session.execute(delete(Request).where(Request.id == first.id))
    assert await find(sessions, "миру") == []
    assert await find(sessions, "б") == ["Б"]
    await assert_in_step(sessions)


async def test_a_forgotten_residents_request_stays_findable_by_address(
    sessions: Sessions, settings: Settings
) -> None:
    """/forget erases the person, not the city's record of the place: the request keeps its
    address, and the search its row."""
    cfg = desk_settings(settings)
    req = await add_request(
        sessions,
        cfg,
        resident="4242",
        category="lighting",
        address="вул. Корабельна, 14",
        phone="+380671112233",
    )
    async with sessions() as session, session.begin():
        resident = await session.get(Resident, req.resident_id)
        assert resident is not None
        assert await forget_resident(session, resident) == 1
    async with sessions() as session:
        found = await search(session, "корабельна", None, phone=None)
        assert [(r.id, r.phone, r.resident_id) for r in found] == [(req.id, None, None)]
    await assert_in_step(sessions)


LETTERS = "абвгґдеєжзиіїйклмнопрстуфхцчшщьюяАБВГҐДЕЄЖЗИІЇЙКЛМНОПРСТУФХЦЧШЩЬЮЯ"
ALPHABET = LETTERS + string.ascii_letters + string.digits + " .,'\"-%_"


@st.composite
def address_and_piece(draw: st.DrawFn) -> tuple[str, str]:
    address = draw(st.text(ALPHABET, min_size=3, max_size=30))
    start = draw(st.integers(0, len(address) - 3))
    end = draw(st.integers(start + 3, min(len(address), start + 8)))
    return address, address[start:end]


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(case=address_and_piece(), flip=st.booleans())
async def test_a_substring_in_other_letter_case_is_found(
    sessions: Sessions, case: tuple[str, str], flip: bool
) -> None:
    """Whatever the address, a piece of it (3 characters or more: see the test above for
    less) in other letter case finds it, and a text that is not in it in any case does not."""
    address, needle = case
    needle = needle.swapcase() if flip else needle.lower()
    async with sessions() as session, session.begin():
        req = Request(
            number="2026-999999",
            channel="telegram",
            language="uk",
            category="lighting",
            department="lighting",
            address=address,
        )
        session.add(req)
    try:
        assert await find(sessions, needle) == [address]
        assert await find(sessions, needle + "Ъ") == []  # "Ъ" is not in the alphabet
    finally:
        async with sessions() as session, session.begin():
            await session.execute(delete(Request).where(Request.number == "2026-999999"))
    async with sessions() as session:
        assert (await session.execute(select(func.count()).select_from(Request))).scalar() == 0


async def test_text_no_address_can_hold_finds_nothing_and_never_fails(
    sessions: Sessions, settings: Settings
) -> None:
    """/find with NUL bytes (refused by SQLite's FTS5 and by PostgreSQL) or one huge word
    (the trigram picker was quadratic: 100 KB took over a minute of the event loop)."""
    await file(sessions, settings, "вул. Соборності, 12")
    for hostile in ("Соб\x00орн", "\x00\x00\x00", "a" * 4090, "я" * 100_000, "12\x07ab"):
        assert await find(sessions, hostile) == []
    assert await find(sessions, "соборності") == ["вул. Соборності, 12"]


@given(st.text(alphabet=string.ascii_letters + string.digits + " ,.-/ія", max_size=60))
def test_rare_trigrams_are_trigrams_of_the_text(needle: str) -> None:
    grams = rare_trigrams(needle)
    assert len(grams) == len(set(grams)) <= 6
    assert all(len(g) == 3 and g in needle for g in grams)


@given(st.text(alphabet="ab1 ,", max_size=40))
def test_each_position_knows_the_length_of_its_word(text_: str) -> None:
    def naive(at: int) -> int:
        if not text_[at].isalnum():
            return 0
        start = end = at
        while start > 0 and text_[start - 1].isalnum():
            start -= 1
        while end < len(text_) and text_[end].isalnum():
            end += 1
        return end - start

    assert desk_queries._word_lengths(text_) == [naive(i) for i in range(len(text_))]
