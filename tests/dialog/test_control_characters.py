"""Control characters in anything a person sends (NUL in a Telegram first name, in a typed
address, in a description) are dropped where the event enters the core: PostgreSQL refuses
NUL outright, and before this every message of such a person got "something went wrong"
(issue 17, break 10)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handlers.dialog.conversation import Conversation
from handlers.types import Incoming, Kind, clean_text
from models.domain.tables import Request, Resident
from tests.chat import Chat, say


async def test_a_nul_in_the_name_address_and_description_loses_nothing(
    conversation: Conversation, sessions: async_sessionmaker[AsyncSession]
) -> None:
    chat = Chat(conversation, "4242", name="Ann\x00a\x1b")
    await chat.command("start")
    assert chat.last == say("language.choose")
    for step in ("lang:en", "menu:new", "cat:other"):
        await chat.payload(step)
    await chat.text("Soborno\x00sti street 12")
    await chat.text("The lamp\x00 in the yard is off\x07 for a week")
    await chat.payload("photos:done")
    await chat.payload("phone:skip")
    await chat.payload("confirm")
    assert say("error.internal") not in chat.said, chat.said
    async with sessions() as session:
        req = (await session.execute(select(Request))).scalar_one()
        resident = (await session.execute(select(Resident))).scalar_one()
    assert req.address == "Sobornosti street 12"
    assert req.description == "The lamp in the yard is off for a week"
    assert resident.name == "Anna"


@given(st.text())
def test_what_enters_the_core_holds_no_control_character_but_line_breaks_and_tabs(
    text: str,
) -> None:
    ev = Incoming("telegram", "1", Kind.TEXT, text=text, name=text, payload=text)
    for value in (ev.text, ev.name, ev.payload):
        assert all(ch.isprintable() or ch in "\n\t" for ch in value if ord(ch) < 0xA0)
        assert "\x00" not in value
    assert clean_text("line one\nline\ttwo") == "line one\nline\ttwo"
