"""Filing a request, as a resident experiences it: what the bot asks and says, and what ends up
stored. Runs on SQLite, and on PostgreSQL too when TEST_DATABASE_URL is set."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from bot.config import Settings
from handlers.dialog.conversation import Conversation, FloodGuard
from handlers.i18n import to_plain
from handlers.types import ButtonKind, Incoming, Kind, Reply
from models.domain.status import Status
from models.domain.tables import EventKind, Request
from models.storage.engine import create_engine, session_factory
from tests.chat import Chat, say, say_n

ADDRESS = "вул. Соборності, 10"
DESCRIPTION = "Не світить ліхтар біля під'їзду вже тиждень"
PHONE_TYPED = "+380 67 123 45 67"
PHONE = "+380671234567"
LIGHTING = "💡 Street lighting"
NUMBER = re.compile(r"^\d{4}-\d{6}$")


@pytest.fixture
def conversation(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> Conversation:
    # These tests type much faster than a person; the flood guard has a test of its own.
    return Conversation(sessions, settings, flood=FloodGuard(limit=100_000))


async def stored(sessions: async_sessionmaker[AsyncSession]) -> list[Request]:
    async with sessions() as session:
        rows = await session.execute(
            select(Request)
            .options(selectinload(Request.events), selectinload(Request.photos))
            .order_by(Request.id)
        )
        return list(rows.scalars())


def prompt(step: str, settings: Settings, lang: str = "en", *, photos: int = 0) -> str:
    """The question the bot asks at a step of the filing flow (for the lighting category)."""
    lim = settings.limits
    if step == "photos":
        if photos:
            return say_n("photos.have", photos, lang, limit=lim.photos_max)
        return say_n("photos.prompt", lim.photos_max, lang)
    return {
        "menu": lambda: say("menu.prompt", lang),
        "category": lambda: say("new.category", lang),
        "subcategory": lambda: say("new.subcategory", lang, category=LIGHTING),
        "address": lambda: say("new.address", lang),
        "description": lambda: say(
            "new.description", lang, min=lim.description_min, max=lim.description_max
        ),
        "phone": lambda: say("new.phone", lang),
        "confirm": lambda: say("new.confirm_question", lang),
    }[step]()


async def drive_to(chat: Chat, step: str, *, photos: tuple[str, ...] = ("p1",)) -> None:
    """A new resident, in English, answers every step up to (not including) ``step``."""
    await chat.command("start")
    await chat.payload("lang:en")
    await chat.payload("menu:new")
    if step == "category":
        return
    await chat.payload("cat:lighting")
    if step == "subcategory":
        return
    await chat.payload("sub:light_off")
    if step == "address":
        return
    await chat.text(ADDRESS)
    if step == "description":
        return
    await chat.text(DESCRIPTION)
    if step == "photos":
        return
    for ref in photos:
        await chat.photo(ref)
    if len(photos) < 5:
        await chat.payload("photos:done")
    if step == "phone":
        return
    await chat.text(PHONE_TYPED)
    assert step == "confirm"


def summary_line(chat: Chat, field: str) -> str:
    """One line of the summary the bot showed last, e.g. summary_line(chat, "Address")."""
    for line in chat.said.splitlines():
        if line.startswith(f"{field}: "):
            return line.removeprefix(f"{field}: ")
    raise AssertionError(f"no {field!r} in {chat.said!r}")


# --- the happy path ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("category", "sub", "department", "shown"),
    [
        ("cat:lighting", "sub:light_off", "lighting", "💡 Street lighting › Street light is off"),
        # A subcategory with a department of its own (bot.toml: transport.stop → roads).
        ("cat:transport", "sub:stop", "roads", "🚋 Public transport › Stop or shelter"),
        # A category without subcategories goes straight to the address.
        ("cat:other", None, "contact_center", "📝 Other question"),
    ],
)
async def test_happy_path_in_english(
    chat: Chat,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    category: str,
    sub: str | None,
    department: str,
    shown: str,
) -> None:
    await chat.command("start")
    assert chat.last == say("language.choose")
    assert chat.payloads() == ["lang:uk", "lang:ru", "lang:en"]
    await chat.payload("lang:en")
    assert "Kryvyi Rih" in chat.said
    assert chat.last == prompt("menu", settings)
    await chat.press("New request")
    assert chat.last == prompt("category", settings)
    await chat.payload(category)
    if sub:
        assert chat.last.endswith("what exactly?")
        await chat.payload(sub)
    assert chat.last == prompt("address", settings)
    kinds = {b.payload: b.kind for b in chat.buttons()}
    assert ButtonKind.REQUEST_LOCATION in kinds.values()
    await chat.text(ADDRESS)
    assert chat.last == prompt("description", settings)
    await chat.text(DESCRIPTION)
    assert chat.last == prompt("photos", settings)
    await chat.photo("photo-1")
    assert chat.last == prompt("photos", settings, photos=1)
    await chat.photo("photo-2")
    await chat.press("Done")
    assert chat.last == prompt("phone", settings)
    assert ButtonKind.REQUEST_CONTACT in {b.kind for b in chat.buttons()}
    await chat.contact("380671234567")
    assert chat.last == prompt("confirm", settings)
    assert summary_line(chat, "Category") == shown
    assert summary_line(chat, "Address") == ADDRESS
    assert summary_line(chat, "Description") == DESCRIPTION
    assert summary_line(chat, "Photos") == "2"
    assert summary_line(chat, "Phone") == PHONE
    await chat.press("Send the request")

    [req] = await stored(sessions)
    assert NUMBER.match(req.number)
    assert req.number.startswith(f"{datetime.now(UTC).year}-")
    dept = settings.department(department)
    assert dept is not None
    assert say("new.submitted", number=req.number, department=dept.name.en) in chat.said
    assert chat.last == prompt("menu", settings)
    assert "menu:continue" not in chat.payloads()  # the draft is gone
    assert req.category == category.removeprefix("cat:")
    assert req.subcategory == (sub.removeprefix("sub:") if sub else None)
    assert req.department == department == settings.route(req.category, req.subcategory)
    assert req.address == ADDRESS
    assert req.latitude is None and req.longitude is None
    assert req.description == DESCRIPTION
    assert [p.file_ref for p in req.photos] == ["photo-1", "photo-2"]
    assert req.phone == PHONE
    assert req.status is Status.NEW
    assert req.language == "en"
    assert [(e.kind, e.new_status) for e in req.events] == [(EventKind.CREATED, Status.NEW)]


async def test_happy_path_in_ukrainian(
    chat: Chat, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    await chat.command("start")
    await chat.payload("lang:uk")
    assert say("language.set", "uk") in chat.said
    assert "Кривий Ріг" in chat.said
    assert chat.last == prompt("menu", settings, "uk")
    await chat.payload("menu:new")
    assert chat.last == prompt("category", settings, "uk")
    assert "💡 Вуличне освітлення" in [b.label for b in chat.buttons()]
    await chat.press("Вуличне освітлення")
    assert chat.last == say("new.subcategory", "uk", category="💡 Вуличне освітлення")
    await chat.press("Не горить ліхтар")
    assert chat.last == prompt("address", settings, "uk")
    await chat.location(47.91, 33.39)
    assert chat.last == prompt("description", settings, "uk")
    await chat.text(DESCRIPTION)
    assert chat.last == prompt("photos", settings, "uk")
    await chat.payload("photos:done")
    assert chat.last == prompt("phone", settings, "uk")
    await chat.text("067 123 45 67")
    assert chat.last == prompt("confirm", settings, "uk")
    assert say("summary.no_phone", "uk") not in chat.said
    assert say("address.pin", "uk", lat="47.91000", lon="33.39000") in chat.said
    await chat.payload("confirm")

    [req] = await stored(sessions)
    assert say("new.submitted", "uk", number=req.number, department="Міське освітлення") in (
        chat.said
    )
    assert NUMBER.match(req.number)
    assert (req.category, req.subcategory, req.department) == ("lighting", "light_off", "lighting")
    # A pin stores its coordinates, not a label frozen in the language it was filed in.
    assert req.address is None
    assert (req.latitude, req.longitude) == (47.91, 33.39)
    assert req.description == DESCRIPTION
    assert req.photos == []
    assert req.phone == PHONE
    assert req.language == "uk"
    assert req.status is Status.NEW
    assert [e.kind for e in req.events] == [EventKind.CREATED]


async def test_anonymous_request_without_photos(
    chat: Chat, sessions: async_sessionmaker[AsyncSession]
) -> None:
    said = await chat.file_request()
    [req] = await stored(sessions)
    assert req.number in said
    assert req.phone is None
    assert req.photos == []


async def test_numbers_are_sequential(
    chat: Chat, sessions: async_sessionmaker[AsyncSession]
) -> None:
    first = await chat.file_request(address="вул. Соборності, 10")
    second = await chat.file_request(address="просп. Металургів, 5")
    year = datetime.now(UTC).year
    assert f"{year}-000001" in first
    assert f"{year}-000002" in second
    assert [(r.number, r.address) for r in await stored(sessions)] == [
        (f"{year}-000001", "вул. Соборності, 10"),
        (f"{year}-000002", "просп. Металургів, 5"),
    ]


async def test_residents_confirming_at_once_get_distinct_consecutive_numbers(
    conversation: Conversation, sessions: async_sessionmaker[AsyncSession]
) -> None:
    chats = [Chat(conversation, f"at-once-{i}") for i in range(12)]
    await asyncio.gather(*(c.file_request() for c in chats))
    year = datetime.now(UTC).year
    numbers = sorted(r.number for r in await stored(sessions))
    assert numbers == [f"{year}-{i:06d}" for i in range(1, 13)]
    for chat in chats:  # each was told their own
        [mine] = [n for n in numbers if n in chat.said]
        assert mine


# --- Back and Cancel at every step -----------------------------------------------------------

ANSWER: dict[str, Callable[[Chat], Awaitable[list[Reply]]]] = {
    "category": lambda c: c.payload("cat:lighting"),
    "subcategory": lambda c: c.payload("sub:light_off"),
    "address": lambda c: c.text("вул. Віталія Матусевича, 7"),
    "description": lambda c: c.text("Ліхтар не горить уже три ночі поспіль"),
    "photos": lambda c: c.payload("photos:done"),
    "phone": lambda c: c.payload("phone:skip"),
}


async def test_back_at_the_first_step_returns_to_the_menu(chat: Chat, settings: Settings) -> None:
    await drive_to(chat, "category")
    await chat.press("Back")
    assert chat.last == prompt("menu", settings)
    assert "menu:continue" not in chat.payloads()


@pytest.mark.parametrize(
    ("step", "previous"),
    [
        ("subcategory", "category"),
        ("address", "subcategory"),
        ("description", "address"),
        ("photos", "description"),
        ("phone", "photos"),
    ],
)
async def test_back_shows_the_previous_step(
    chat: Chat,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    step: str,
    previous: str,
) -> None:
    await drive_to(chat, step)
    assert chat.last == prompt(step, settings, photos=0)
    await chat.press("Back")
    # The photo sent before stepping back is still there, and so is what was typed: shown,
    # with a button to keep it (issue 14, point 3).
    assert chat.last.startswith(prompt(previous, settings, photos=1))
    typed = {"address": ADDRESS, "description": DESCRIPTION}.get(previous)
    if typed is not None:
        assert chat.last.endswith(f"Now: {typed}")
        assert f"keep:{previous}" in chat.payloads()
    await ANSWER[previous](chat)
    assert chat.last == prompt(step, settings, photos=0)
    # Finish; what was typed before stepping back is still in the request.
    while chat.last != prompt("confirm", settings):
        current = next(s for s in ANSWER if chat.last == prompt(s, settings))
        await ANSWER[current](chat)
    await chat.payload("confirm")
    [req] = await stored(sessions)
    assert (req.category, req.subcategory) == ("lighting", "light_off")
    assert req.address in (ADDRESS, "вул. Віталія Матусевича, 7")
    if step in ("photos", "phone"):
        assert req.address == ADDRESS
    if step == "phone":
        assert req.description == DESCRIPTION
        assert [p.file_ref for p in req.photos] == ["p1"]


async def test_back_through_several_steps_keeps_every_answer(
    chat: Chat, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    await drive_to(chat, "phone")
    await chat.press("Back")
    assert chat.last == prompt("photos", settings, photos=1)
    await chat.press("Back")
    assert chat.last.startswith(prompt("description", settings))
    await chat.press("Back")
    assert chat.last.startswith(prompt("address", settings))
    await chat.text("просп. Поштовий, 32")
    # The description and photos were answered already: straight on to the phone.
    assert chat.last == prompt("phone", settings)
    await chat.payload("phone:skip")
    assert summary_line(chat, "Address") == "просп. Поштовий, 32"
    assert summary_line(chat, "Description") == DESCRIPTION
    assert summary_line(chat, "Photos") == "1"
    await chat.payload("confirm")
    [req] = await stored(sessions)
    assert (req.address, req.description) == ("просп. Поштовий, 32", DESCRIPTION)
    assert [p.file_ref for p in req.photos] == ["p1"]


@pytest.mark.parametrize(
    "step", ["category", "subcategory", "address", "description", "photos", "phone", "confirm"]
)
async def test_cancel_deletes_the_draft(
    chat: Chat, sessions: async_sessionmaker[AsyncSession], settings: Settings, step: str
) -> None:
    await drive_to(chat, step)
    assert chat.last == prompt(step, settings)
    await chat.press("Cancel")
    assert say("new.cancelled") in chat.said
    assert chat.last == prompt("menu", settings)
    assert "menu:continue" not in chat.payloads()
    await chat.command("new")  # starts afresh, nothing to resume
    assert chat.last == prompt("category", settings)
    assert await stored(sessions) == []


async def test_cancel_command_deletes_the_draft(chat: Chat, settings: Settings) -> None:
    await drive_to(chat, "description")
    await chat.command("cancel")
    assert say("new.cancelled") in chat.said
    assert chat.last == prompt("menu", settings)
    assert "menu:continue" not in chat.payloads()


# --- editing from the summary ---------------------------------------------------------------


UNCHANGED: dict[str, object] = {
    "category": "lighting",
    "subcategory": "light_off",
    "department": "lighting",
    "address": ADDRESS,
    "description": DESCRIPTION,
    "photos": ["p1"],
    "phone": PHONE,
}

EDITS: list[tuple[str, list[tuple[str, str]], dict[str, str], dict[str, object]]] = [
    # the field edited, what the resident then sends, the summary lines and the stored row after
    (
        "category",
        [("payload", "cat:other")],
        {"Category": "📝 Other question"},
        {"category": "other", "subcategory": None, "department": "contact_center"},
    ),
    (
        "category",
        [("payload", "cat:transport"), ("payload", "sub:stop")],
        {"Category": "🚋 Public transport › Stop or shelter"},
        {"category": "transport", "subcategory": "stop", "department": "roads"},
    ),
    (
        "address",
        [("text", "просп. Металургів, 5")],
        {"Address": "просп. Металургів, 5"},
        {"address": "просп. Металургів, 5"},
    ),
    (
        "description",
        [("text", "Ліхтар блимає всю ніч і гасне")],
        {"Description": "Ліхтар блимає всю ніч і гасне"},
        {"description": "Ліхтар блимає всю ніч і гасне"},
    ),
    (  # the photo there is kept (issue 14, point 1): a new one is added to it…
        "photos",
        [("photo", "p2"), ("payload", "photos:done")],
        {"Photos": "2"},
        {"photos": ["p1", "p2"]},
    ),
    (  # …or, to replace it, removed first
        "photos",
        [("payload", "photos:clear"), ("photo", "p2"), ("photo", "p3"), ("payload", "photos:done")],
        {"Photos": "2"},
        {"photos": ["p2", "p3"]},
    ),
    ("photos", [("payload", "photos:clear"), ("payload", "photos:done")], {}, {"photos": []}),
    (
        "phone",
        [("text", "(067) 765-43-21")],
        {"Phone": "+380677654321"},
        {"phone": "+380677654321"},
    ),
    ("phone", [("payload", "phone:skip")], {"Phone": say("summary.no_phone")}, {"phone": None}),
]


@pytest.mark.parametrize(("field", "answers", "lines", "changed"), EDITS)
async def test_edit_a_field_from_the_summary(
    chat: Chat,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    field: str,
    answers: list[tuple[str, str]],
    lines: dict[str, str],
    changed: dict[str, object],
) -> None:
    await drive_to(chat, "confirm")
    assert chat.last == prompt("confirm", settings)
    await chat.payload(f"edit:{field}")
    # The step's question, saying what is there now (the photo count, the text typed).
    assert chat.last.startswith(prompt(field, settings, photos=1))
    for kind, value in answers:
        await getattr(chat, kind)(value)
    assert chat.last == prompt("confirm", settings)  # straight back to the summary
    for line, value in lines.items():
        assert summary_line(chat, line) == value
    await chat.payload("confirm")
    [req] = await stored(sessions)
    assert {
        "category": req.category,
        "subcategory": req.subcategory,
        "department": req.department,
        "address": req.address,
        "description": req.description,
        "photos": [p.file_ref for p in req.photos],
        "phone": req.phone,
    } == UNCHANGED | changed


@pytest.mark.parametrize("field", ["category", "address", "description", "photos", "phone"])
async def test_back_from_an_edit_keeps_the_summary_as_it_was(
    chat: Chat, sessions: async_sessionmaker[AsyncSession], settings: Settings, field: str
) -> None:
    await drive_to(chat, "confirm", photos=("p1", "p2"))
    before = chat.said
    await chat.payload(f"edit:{field}")
    await chat.press("Back")
    assert chat.last == prompt("confirm", settings)
    assert chat.said == before
    await chat.payload("confirm")
    [req] = await stored(sessions)
    assert [p.file_ref for p in req.photos] == ["p1", "p2"]
    assert (req.address, req.description, req.phone) == (ADDRESS, DESCRIPTION, PHONE)


# --- what a resident may get wrong ------------------------------------------------------------


async def test_sticker_at_the_address_step(chat: Chat, settings: Settings) -> None:
    await drive_to(chat, "address")
    await chat.sticker()
    assert say("hint.address_expected") in chat.said
    assert chat.last == prompt("address", settings)
    await chat.text(ADDRESS)
    assert chat.last == prompt("description", settings)


async def test_text_where_a_button_is_expected(chat: Chat, settings: Settings) -> None:
    await drive_to(chat, "category")
    await chat.text("світло")
    assert say("hint.use_buttons") in chat.said
    assert chat.last == prompt("category", settings)
    await chat.payload("cat:lighting")
    assert chat.last == prompt("subcategory", settings)


async def test_a_typed_button_label_works_like_the_button(chat: Chat, settings: Settings) -> None:
    """Phone keyboards (Telegram reply keyboards, Viber) send the label back as text."""
    await drive_to(chat, "photos")
    await chat.text(say("photos.skip"))
    assert chat.last == prompt("phone", settings)
    await chat.text(say("new.skip_phone"))
    assert chat.last == prompt("confirm", settings)
    assert summary_line(chat, "Phone") == say("summary.no_phone")


async def test_too_long_description_loses_nothing(
    chat: Chat, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    await drive_to(chat, "description")
    await chat.text("x" * 2001)
    assert say("error.description.too_long", limit=2000) in chat.said
    assert say("error.description.length_now", length=2001) in chat.said
    assert chat.last == prompt("description", settings)
    await chat.text("y" * 2000)  # exactly the limit is fine
    assert chat.last == prompt("photos", settings)
    await chat.payload("photos:done")
    await chat.payload("phone:skip")
    assert summary_line(chat, "Address") == ADDRESS  # nothing typed before was lost
    await chat.payload("confirm")
    [req] = await stored(sessions)
    assert (req.address, req.description) == (ADDRESS, "y" * 2000)


async def test_too_short_description(chat: Chat, settings: Settings) -> None:
    await drive_to(chat, "description")
    await chat.text("   Темно   ")
    assert say("error.description.too_short", limit=10) in chat.said
    assert chat.last == prompt("description", settings)


async def test_address_of_digits_only(chat: Chat, settings: Settings) -> None:
    await drive_to(chat, "address")
    await chat.text("12345")
    assert say("error.address.no_letters") in chat.said
    assert chat.last == prompt("address", settings)
    await chat.text("ab")
    assert say("error.address.too_short", limit=3) in chat.said
    await chat.text("вул. " + "Довга" * 60)
    assert say("error.address.too_long", limit=200) in chat.said
    assert chat.last == prompt("address", settings)


async def test_location_outside_the_city(
    chat: Chat, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    await drive_to(chat, "address")
    await chat.location(50.45, 30.52)  # Kyiv
    assert say("error.address.outside_city", city="Kryvyi Rih") in chat.said
    assert chat.last == prompt("address", settings)
    await chat.location(47.91, 33.39)
    assert chat.last == prompt("description", settings)
    await chat.text(DESCRIPTION)
    await chat.payload("photos:done")
    await chat.payload("phone:skip")
    await chat.payload("confirm")
    [req] = await stored(sessions)
    assert (req.latitude, req.longitude) == (47.91, 33.39)


async def test_a_contact_that_is_not_ones_own(chat: Chat, settings: Settings) -> None:
    await drive_to(chat, "phone")
    await chat.contact("0501112233", own=False)
    assert say("error.phone.not_own") in chat.said
    assert chat.last == prompt("phone", settings)
    await chat.text("12")
    assert say("error.phone.bad_phone") in chat.said
    assert chat.last == prompt("phone", settings)
    await chat.contact("+380501112233")
    assert summary_line(chat, "Phone") == "+380501112233"


async def test_stale_button(
    chat: Chat, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    await drive_to(chat, "address")
    await chat.payload("cat:water")  # a button of the category message, pressed now
    assert say("hint.stale_button") in chat.said
    assert chat.last == prompt("address", settings)
    await chat.text(ADDRESS)
    await chat.text(DESCRIPTION)
    await chat.payload("photos:done")
    await chat.payload("phone:skip")
    await chat.payload("confirm")
    [req] = await stored(sessions)
    assert req.category == "lighting"


async def test_unknown_command(chat: Chat, settings: Settings) -> None:
    await drive_to(chat, "description")
    await chat.command("frobnicate")
    assert say("hint.unknown_command") in chat.said
    assert chat.last == prompt("description", settings)
    await chat.text(DESCRIPTION)
    assert chat.last == prompt("photos", settings)


async def test_photo_with_caption_at_the_address_step(
    chat: Chat, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    await drive_to(chat, "address")
    await chat.photo("early", caption="вул. Лермонтова, 3")
    assert chat.last == prompt("description", settings)
    await chat.text(DESCRIPTION)
    assert chat.last == prompt("photos", settings, photos=1)
    await chat.payload("photos:done")
    await chat.payload("phone:skip")
    await chat.payload("confirm")
    [req] = await stored(sessions)
    assert req.address == "вул. Лермонтова, 3"
    assert [p.file_ref for p in req.photos] == ["early"]


async def test_photo_without_caption_at_the_address_step(chat: Chat, settings: Settings) -> None:
    await drive_to(chat, "address")
    await chat.photo("early")
    assert say("photos.kept_early") in chat.said
    assert chat.last == prompt("address", settings)


async def test_sixth_photo_is_refused(
    chat: Chat, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    await drive_to(chat, "photos")
    for i in range(1, 5):
        await chat.photo(f"p{i}")
        assert chat.last == prompt("photos", settings, photos=i)
    await chat.photo("p5")
    assert say_n("photos.full", 5) in chat.said
    assert chat.last == prompt("phone", settings)  # moved on by itself
    await chat.photo("p6")
    assert say("photos.limit", limit=5) in chat.said
    assert chat.last == prompt("phone", settings)
    await chat.payload("phone:skip")
    assert summary_line(chat, "Photos") == "5"
    await chat.payload("confirm")
    [req] = await stored(sessions)
    assert [p.file_ref for p in req.photos] == ["p1", "p2", "p3", "p4", "p5"]


# --- interruptions ----------------------------------------------------------------------------


async def test_restart_mid_dialog(
    chat: Chat, db_url: str, engine: AsyncEngine, settings: Settings
) -> None:
    await drive_to(chat, "description")
    await engine.dispose()
    # The process restarts: a new engine over the same database, a new conversation core.
    new_engine = create_engine(db_url)
    try:
        sessions = session_factory(new_engine)
        again = Chat(Conversation(sessions, settings), chat.user_id)
        await again.text(DESCRIPTION)
        assert again.last == prompt("photos", settings)
        await again.payload("photos:done")
        await again.payload("phone:skip")
        assert summary_line(again, "Address") == ADDRESS
        await again.payload("confirm")
        [req] = await stored(sessions)
        assert (req.address, req.description) == (ADDRESS, DESCRIPTION)
        assert req.number in again.said
    finally:
        await new_engine.dispose()


async def test_two_residents_interleaved(
    conversation: Conversation, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    a, b = Chat(conversation, "1001"), Chat(conversation, "2002")
    steps_a = [
        a.command("start"),
        a.payload("lang:en"),
        a.payload("menu:new"),
        a.payload("cat:lighting"),
        a.payload("sub:light_off"),
        a.text("вул. Соборності, 10"),
        a.text("Ліхтар не горить уже тиждень"),
        a.payload("photos:done"),
        a.payload("phone:skip"),
    ]
    steps_b = [
        b.command("start"),
        b.payload("lang:uk"),
        b.payload("menu:new"),
        b.payload("cat:other"),
        b.text("просп. Металургів, 5"),
        b.text("Питання щодо графіка прийому громадян"),
        b.photo("b-photo"),
        b.payload("photos:done"),
        b.contact("0931234567"),
    ]
    for step_a, step_b in zip(steps_a, steps_b, strict=False):
        await step_a
        await step_b
    assert a.last == prompt("confirm", settings)
    assert b.last == prompt("confirm", settings, "uk")
    await b.payload("confirm")
    await a.payload("confirm")
    first, second = await stored(sessions)
    assert (first.category, first.address, first.language) == (
        "other",
        "просп. Металургів, 5",
        "uk",
    )
    assert [p.file_ref for p in first.photos] == ["b-photo"] and first.phone == "+380931234567"
    assert (second.category, second.address, second.language) == (
        "lighting",
        "вул. Соборності, 10",
        "en",
    )
    assert second.photos == [] and second.phone is None
    assert first.resident_id != second.resident_id
    assert first.number in b.said and second.number in a.said


@pytest.mark.parametrize("how", ["start", "new"])
async def test_unfinished_draft_can_be_continued(
    chat: Chat, sessions: async_sessionmaker[AsyncSession], settings: Settings, how: str
) -> None:
    await drive_to(chat, "description")
    if how == "start":
        await chat.command("start")
        assert chat.last == prompt("menu", settings)
        assert chat.payloads()[0] == "menu:continue"
        assert chat.buttons()[0].label == say("menu.continue")
        await chat.press("Continue")
    else:
        await chat.command("new")
    assert chat.last == prompt("description", settings)  # where the resident stopped
    await chat.text(DESCRIPTION)
    await chat.payload("photos:done")
    await chat.payload("phone:skip")
    await chat.payload("confirm")
    [req] = await stored(sessions)
    assert (req.category, req.subcategory, req.address) == ("lighting", "light_off", ADDRESS)


async def test_new_request_from_the_menu_asks_before_discarding_the_draft(
    chat: Chat, settings: Settings
) -> None:
    """Issue 14, point 2: the address already typed is not thrown away unasked."""
    await drive_to(chat, "description")
    await chat.command("start")
    await chat.payload("menu:new")
    assert chat.last == say("new.draft_exists", category=f"{LIGHTING} › Street light is off")
    assert chat.payloads() == ["menu:continue", "menu:restart"]
    await chat.press("Continue")
    assert chat.last == prompt("description", settings)
    await chat.command("start")
    await chat.payload("menu:new")
    await chat.press("Start over")
    assert chat.last == prompt("category", settings)
    await chat.command("start")
    assert "menu:continue" not in chat.payloads()


async def test_flood_guard(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
    conversation = Conversation(sessions, settings)  # the real guard: 20 events per 10 s
    chat = Chat(conversation, "1001")
    await chat.command("start")
    await chat.payload("lang:en")
    for _ in range(18):
        assert await chat.text("hello?")
        assert say("hint.flood") not in chat.said
    warning = await chat.text("hello?")  # the 21st event
    assert [r.text for r in warning] == [say("hint.flood")]  # in the resident's language
    for _ in range(5):
        assert await chat.text("hello?") == []  # then silence
    other = Chat(conversation, "2002")  # somebody else is not affected
    assert await other.command("start")


async def test_redelivered_event_is_ignored(
    conversation: Conversation, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    start = Incoming("test", "1001", Kind.COMMAND, command="start")
    assert await conversation.handle(start, event_id="7")
    assert await conversation.handle(start, event_id="7") == []
    lang = Incoming("test", "1001", Kind.BUTTON, payload="lang:en")
    await conversation.handle(lang, event_id="8")
    new = Incoming("test", "1001", Kind.BUTTON, payload="menu:new")
    first = await conversation.handle(new, event_id="9")
    assert to_plain(first[-1].text) == say("new.category")
    assert await conversation.handle(new, event_id="9") == []
    # Still at the category step: the repeat did nothing.
    cat = Incoming("test", "1001", Kind.BUTTON, payload="cat:other")
    replies = await conversation.handle(cat, event_id="10")
    assert to_plain(replies[-1].text) == say("new.address")
    async with sessions() as session:
        assert (await session.execute(select(Request))).first() is None


async def test_resident_text_is_shown_as_typed_never_as_markup(
    chat: Chat, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    text = "Ліхтар <b>не</b> горить & темно, 2 < 3"
    await drive_to(chat, "description")
    await chat.text(text)
    await chat.payload("photos:done")
    await chat.payload("phone:skip")
    summary = chat.last_batch[0].text
    assert "&lt;b&gt;не&lt;/b&gt; горить &amp; темно, 2 &lt; 3" in summary
    assert summary_line(chat, "Description") == text
    await chat.payload("confirm")
    [req] = await stored(sessions)
    assert req.description == text
