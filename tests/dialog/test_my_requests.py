"""My requests: the list, a request's detail and history, adding to it, withdrawing it; that
nobody sees anybody else's requests; and /forget. Runs on SQLite, and on PostgreSQL too when
TEST_DATABASE_URL is set."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from bot.config import Settings
from handlers.dialog.conversation import Conversation, FloodGuard
from handlers.outbound.notifications import render_notification
from models.domain.outbox import OutboxMessage
from models.domain.status import Status
from models.domain.tables import EventKind, Request, Resident
from tests.chat import Chat, say, say_n
from tests.desk_settings import desk_settings


@pytest.fixture
def conversation(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> Conversation:
    # These tests type much faster than a person; the flood guard is tested elsewhere.
    return Conversation(sessions, settings, flood=FloodGuard(limit=100_000))


async def stored(sessions: async_sessionmaker[AsyncSession]) -> list[Request]:
    async with sessions() as session:
        rows = await session.execute(
            select(Request)
            .options(selectinload(Request.events), selectinload(Request.photos))
            .order_by(Request.id)
        )
        return list(rows.scalars())


async def residents(sessions: async_sessionmaker[AsyncSession]) -> list[Resident]:
    async with sessions() as session:
        return list((await session.execute(select(Resident).order_by(Resident.id))).scalars())


async def staff_sets_status(
    sessions: async_sessionmaker[AsyncSession], number: str, status: Status
) -> None:
    """Stands in for a department changing the status."""
    async with sessions() as session, session.begin():
        await session.execute(update(Request).where(Request.number == number).values(status=status))


async def open_request(chat: Chat, number: str) -> None:
    await chat.command("my")
    await chat.text(number)


def detail_prompt() -> str:
    return say("my.detail_actions")


# --- the list -------------------------------------------------------------------------------


async def test_empty_list(chat: Chat) -> None:
    await chat.command("start")
    await chat.payload("lang:en")
    await chat.payload("menu:my")
    assert chat.last == say("my.empty")
    assert chat.payloads() == ["menu:new", "nav:menu"]
    await chat.payload("menu:new")
    assert chat.last == say("new.category")


async def test_list_is_newest_first_and_paged(
    chat: Chat, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    for i in range(1, 8):
        await chat.file_request(address=f"вул. Тестова, {i}")
    numbers = [r.number for r in await stored(sessions)]
    assert len(numbers) == 7
    size = settings.limits.page_size
    assert size == 5

    await chat.payload("menu:my")
    assert chat.last == say_n("my.list", 7, page=1, pages=2)
    items = [b for b in chat.buttons() if b.payload.startswith("req:")]
    assert [b.label.split(" · ")[0] for b in items] == numbers[::-1][:size]
    assert items[0].label == f"{numbers[6]} · {say('status.new')} · вул. Тестова, 7"
    assert "◀️" not in " ".join(chat.labels())
    await chat.press(say("my.next"))
    assert chat.last == say_n("my.list", 7, page=2, pages=2)
    items = [b for b in chat.buttons() if b.payload.startswith("req:")]
    assert [b.label.split(" · ")[0] for b in items] == numbers[1::-1]
    assert say("my.next") not in chat.labels()
    await chat.press(say("my.prev"))
    assert chat.last == say_n("my.list", 7, page=1, pages=2)
    await chat.press(say("nav.menu"))
    assert chat.last == say("menu.prompt")


async def test_detail_with_history(chat: Chat, sessions: async_sessionmaker[AsyncSession]) -> None:
    await chat.file_request(photos=("p1", "p2"), phone="0671234567")
    [req] = await stored(sessions)
    await chat.payload("menu:my")
    await chat.press(req.number)
    said = chat.said
    assert f"Request {req.number}" in said
    assert f"Status: {say('status.new')}" in said
    assert "Category: 💡 Street lighting › Street light is off" in said
    assert f"Address: {req.address}" in said
    assert f"Description: {req.description}" in said
    assert "Photos: 2" in said
    history = said.split("History", 1)[1]
    assert history.count(say("status.new")) == 1
    assert chat.last == detail_prompt()
    assert set(chat.payloads()) == {"detail:add", "detail:cancel", "detail:list", "nav:menu"}
    await chat.press(say("my.back_to_list"))
    assert chat.last == say_n("my.list", 1, page=1, pages=1)


async def test_open_by_typing_the_number(
    chat: Chat, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await chat.file_request()
    [req] = await stored(sessions)
    await chat.command("my")
    await chat.text(f"  {req.number} ")
    assert f"Request {req.number}" in chat.said
    await chat.command("my")
    await chat.text("2020-999999")
    assert say("my.not_found") in chat.said
    await chat.text("what?")
    assert say("hint.use_buttons_or_number") in chat.said
    assert chat.last == say_n("my.list", 1, page=1, pages=1)


# --- adding details -------------------------------------------------------------------------


async def test_add_comment_and_photo(
    chat: Chat, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await chat.file_request(photos=("p1",))
    [req] = await stored(sessions)
    await open_request(chat, req.number)
    await chat.press(say("my.add_info"))
    assert chat.last == say("my.add_info_prompt")
    await chat.text("   ")
    assert say("error.comment.too_short") in chat.said
    await chat.sticker()
    assert say("hint.text_or_photo_expected") in chat.said
    assert chat.last == say("my.add_info_prompt")
    await chat.text("Світло досі не горить, а вже темно о п'ятій")
    assert say("my.info_added", number=req.number) in chat.said
    assert "your comment: Світло досі не горить" in chat.said  # the history shows it at once
    assert chat.last == detail_prompt()

    await chat.press(say("my.add_info"))
    await chat.photo("extra")
    assert say("my.info_added", number=req.number) in chat.said
    assert "you added a photo" in chat.said
    assert "Photos: 2" in chat.said

    await chat.press(say("my.add_info"))
    await chat.photo("extra-2", caption="Ось так виглядає опора")
    assert "your comment: Ось так виглядає опора" in chat.said
    assert "Photos: 3" in chat.said

    await chat.press(say("my.add_info"))
    await chat.press(say("nav.back"))
    assert chat.last == detail_prompt()

    [req] = await stored(sessions)
    assert [p.file_ref for p in req.photos] == ["p1", "extra", "extra-2"]
    kinds = [(e.kind, e.text) for e in req.events]
    assert kinds[0][0] is EventKind.CREATED
    assert (EventKind.COMMENT, "Світло досі не горить, а вже темно о п'ятій") in kinds
    assert (EventKind.COMMENT, "Ось так виглядає опора") in kinds
    assert [e.kind for e in req.events].count(EventKind.PHOTO) == 2
    assert req.status is Status.NEW


async def test_nothing_can_be_added_to_a_closed_request(
    chat: Chat, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await chat.file_request()
    [req] = await stored(sessions)
    await open_request(chat, req.number)
    await chat.press(say("my.add_info"))
    await staff_sets_status(sessions, req.number, Status.CLOSED)
    await chat.text("Ще одна деталь")
    assert say("my.closed_now") in chat.said
    assert f"Status: {say('status.closed')}" in chat.said
    assert "detail:add" not in chat.payloads()
    [req] = await stored(sessions)
    assert [e.kind for e in req.events] == [EventKind.CREATED]


# --- withdrawing ----------------------------------------------------------------------------


async def test_cancel_while_new(chat: Chat, sessions: async_sessionmaker[AsyncSession]) -> None:
    await chat.file_request()
    [req] = await stored(sessions)
    await open_request(chat, req.number)
    await chat.press(say("my.cancel_request"))
    assert chat.last == say("my.cancel_confirm")
    await chat.press(say("my.cancel_no"))
    assert f"Status: {say('status.new')}" in chat.said
    await chat.press(say("my.cancel_request"))
    await chat.press(say("my.cancel_yes"))
    assert say("my.cancelled", number=req.number) in chat.said
    assert f"Status: {say('status.cancelled')}" in chat.said
    history = chat.said.split("History", 1)[1]
    assert say("status.cancelled") in history
    assert "detail:cancel" not in chat.payloads()
    assert "detail:add" not in chat.payloads()

    [req] = await stored(sessions)
    assert req.status is Status.CANCELLED
    assert [(e.kind, e.old_status, e.new_status) for e in req.events] == [
        (EventKind.CREATED, None, Status.NEW),
        (EventKind.STATUS, Status.NEW, Status.CANCELLED),
    ]


async def test_cannot_cancel_once_the_department_took_it(
    chat: Chat, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await chat.file_request()
    [req] = await stored(sessions)
    await open_request(chat, req.number)
    assert "detail:cancel" in chat.payloads()
    await staff_sets_status(sessions, req.number, Status.IN_PROGRESS)
    # The button was on the screen before the department acted.
    await chat.press(say("my.cancel_request"))
    await chat.press(say("my.cancel_yes"))
    assert say("my.cannot_cancel") in chat.said
    assert f"Status: {say('status.in_progress')}" in chat.said
    assert "detail:cancel" not in chat.payloads()
    assert "detail:add" in chat.payloads()  # still open: details can be added
    [req] = await stored(sessions)
    assert req.status is Status.IN_PROGRESS
    assert [e.kind for e in req.events] == [EventKind.CREATED]


# --- ownership ------------------------------------------------------------------------------

SECRET_ADDRESS = "вул. Потаємна, 13"
SECRET_DESCRIPTION = "Опис, який бачить лише мешканка А"


async def test_nobody_sees_another_residents_request(
    conversation: Conversation, sessions: async_sessionmaker[AsyncSession]
) -> None:
    a = Chat(conversation, "1001")
    await a.file_request(address=SECRET_ADDRESS, description=SECRET_DESCRIPTION)
    [a_req] = await stored(sessions)

    b = Chat(conversation, "2002")
    await b.command("start")
    await b.payload("lang:en")
    await b.payload("menu:my")
    assert b.last == say("my.empty")

    def reveals_nothing() -> None:
        assert SECRET_ADDRESS not in b.said
        assert SECRET_DESCRIPTION not in b.said
        assert f"Request {a_req.number}" not in b.said
        assert "detail:add" not in b.payloads() and "detail:cancel" not in b.payloads()

    await b.text(a_req.number)  # typing A's number
    assert say("my.not_found") in b.said
    reveals_nothing()

    await b.file_request(address="вул. Відкрита, 2")
    await b.payload("menu:my")
    assert [p for p in b.payloads() if p.startswith("req:")] == [f"req:{a_req.id + 1}"]
    assert SECRET_ADDRESS not in " ".join(b.labels())
    await b.text(a_req.number)
    assert say("my.not_found") in b.said
    reveals_nothing()

    # A forged button: B's own list is shown again, with nothing of A's.
    await b.payload(f"req:{a_req.id}")
    assert say("my.not_found") in b.said or say("hint.stale_button") in b.said
    reveals_nothing()
    assert b.last == say_n("my.list", 1, page=1, pages=1)
    # Nor can B act on A's request through buttons of notifications.
    for forged in (f"fb:yes:{a_req.id}", f"fb:no:{a_req.id}", f"rate:{a_req.id}:1"):
        await b.payload(forged)
        reveals_nothing()

    [a_after, _] = await stored(sessions)
    assert a_after.status is Status.NEW
    assert a_after.rating is None
    assert [e.kind for e in a_after.events] == [EventKind.CREATED]


# --- /forget --------------------------------------------------------------------------------


async def test_forget_erases_personal_data(
    conversation: Conversation, sessions: async_sessionmaker[AsyncSession]
) -> None:
    chat = Chat(conversation, "1001", name="Олена Петренко")
    await chat.file_request(phone="0671234567")
    await chat.file_request(
        address="просп. Металургів, 5, кв. 12",
        description="Протікає дах, дзвоніть 067 555 44 33 або olena@example.com. Олена Петренко",
    )
    [old] = await residents(sessions)
    assert (old.external_id, old.name, old.phone) == ("1001", "Олена Петренко", "+380671234567")

    await chat.command("forget")
    assert chat.last == say("forget.confirm")
    await chat.press(say("forget.no"))
    assert chat.last == say("menu.prompt")
    assert (await residents(sessions))[0].phone == "+380671234567"

    await chat.payload("menu:help")  # the same offer sits under Contacts & help
    assert say("privacy.notice") in chat.said
    await chat.press(say("privacy.forget_button"))
    assert chat.last == say("forget.confirm")
    await chat.press(say("forget.yes"))
    assert chat.said == say_n("forget.done", 2)
    assert chat.buttons() == []

    [old] = await residents(sessions)
    assert (old.external_id, old.name, old.phone) == (None, None, None)
    assert old.forgotten_at is not None
    reqs = await stored(sessions)
    assert len(reqs) == 2  # the requests stay for the city's statistics, anonymised
    for req in reqs:
        assert req.resident_id is None
        assert req.phone is None
        assert req.events[-1].kind is EventKind.ANONYMISED
    # What they typed is kept without what points to them (issue 14, point 11).
    assert reqs[1].address == "просп. Металургів, 5"
    assert reqs[1].description == "Протікає дах, дзвоніть *** або ***. ***"

    # The same chat writing again is somebody new.
    await chat.command("start")
    assert chat.last == say("language.choose")
    await chat.payload("lang:en")
    assert "Kryvyi Rih" in chat.said  # welcomed as a newcomer
    await chat.payload("menu:my")
    assert chat.last == say("my.empty")
    await chat.text(reqs[0].number)
    assert say("my.not_found") in chat.said
    old_again, new = await residents(sessions)
    assert old_again.external_id is None
    assert new.external_id == "1001" and new.id != old.id


async def test_a_voice_message_added_to_a_request_reaches_the_department_as_audio(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    """Issue 14: a comment may be spoken; the history says so and the department's chat gets
    the audio with a line saying what it is."""
    chat = Chat(Conversation(sessions, desk_settings(settings)), "1001")
    await chat.file_request()
    [req] = await stored(sessions)
    await open_request(chat, req.number)
    await chat.press(say("my.add_info"))
    assert "voice message" in chat.last
    await chat.voice("AwACAgIAAxkBvoice", 65)
    assert say("my.info_added", number=req.number) in chat.said
    assert "you added a voice message" in chat.said
    [req] = await stored(sessions)
    assert (EventKind.VOICE, "AwACAgIAAxkBvoice") in [(e.kind, e.text) for e in req.events]
    async with sessions() as session:
        bodies = [
            m.body
            for m in (await session.execute(select(OutboxMessage))).scalars()
            if m.body.get("event") == "desk_comment"
        ]
    assert bodies, "the department is told"
    reply = render_notification(chat.conversation.settings, chat.conversation.tr, bodies[0])
    assert reply.voice == "AwACAgIAAxkBvoice" and "Voice message, 1:05" in reply.text
