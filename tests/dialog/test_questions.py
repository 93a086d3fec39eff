"""A category's extra questions (issue 11): heating asks "whole building or only your flat?"
and "since when?" with buttons, in the resident's language; the answers are stored with the
request, shown in the summary, on the department's card and in the export."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from handlers.i18n import to_plain, translator
from handlers.outbound.cards import load_card_request, render_card
from models.domain.tables import Request
from tests.chat import Chat


@pytest.mark.parametrize(
    ("lang", "asked", "answered"),
    [
        ("uk", "Проблема в усьому будинку", "Увесь будинок"),
        ("ru", "Проблема во всём доме", "Весь дом"),
        ("en", "Is it the whole building", "The whole building"),
    ],
)
async def test_heating_asks_its_questions_and_keeps_the_answers(
    chat: Chat,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    lang: str,
    asked: str,
    answered: str,
) -> None:
    await chat.command("start")
    await chat.payload(f"lang:{lang}")
    await chat.payload("menu:new")
    await chat.payload("cat:heating")
    await chat.payload("sub:no_heating")
    assert asked in chat.last
    assert [b.payload for b in chat.buttons()][:3] == [
        "q:scope:building",
        "q:scope:riser",
        "q:scope:flat",
    ]
    await chat.text("весь будинок")  # typed, not pressed: asked again
    assert asked in chat.last
    await chat.payload("q:scope:building")
    await chat.payload("q:since:days")
    await chat.text("вул. Соборності, 10")  # the address comes after the questions
    await chat.text("Батареї холодні в усьому під'їзді")
    await chat.payload("photos:done")
    await chat.payload("phone:skip")
    summary = "\n".join(to_plain(r.text) for r in chat.last_batch)
    assert answered in summary, summary
    await chat.payload("confirm")
    async with sessions() as session:
        req = (await session.scalars(select(Request))).one()
        assert req.answers == {"scope": "building", "since": "days"}
        card = await load_card_request(session, req.id)
    assert card is not None
    staff = settings.model_copy(
        update={"staff": settings.staff.model_copy(update={"language": "en"})}
    )
    text = to_plain(render_card(staff, translator(), card).text)
    assert "❔ Is it the whole building or only your flat? — The whole building" in text
    assert "❔ Since when? — A few days" in text


async def test_back_from_the_address_returns_to_the_questions(chat: Chat) -> None:
    await chat.command("start")
    await chat.payload("lang:en")
    await chat.payload("menu:new")
    await chat.payload("cat:heating")
    await chat.payload("sub:no_heating")
    await chat.payload("q:scope:flat")
    await chat.payload("q:since:today")
    await chat.press("Back")
    assert "Is it the whole building or only your flat?" in chat.last
