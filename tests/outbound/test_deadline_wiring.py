"""Deadlines as residents meet them: set when the request is filed, shown in the confirmation
and in My requests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from handlers.dialog.conversation import Conversation
from models.domain.base import as_utc
from models.domain.tables import Request
from tests.chat import Chat

FILED = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)  # 12:00 in Kyiv


async def test_an_emergency_gets_hours_and_the_resident_sees_when(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    chat = Chat(Conversation(sessions, settings, clock=lambda: FILED), "77")
    text = await chat.file_request(category="cat:water", sub="sub:pipe_burst")
    assert "Expected to be resolved by 1 December, 16:00" in text  # 4h, Kyiv time
    async with sessions() as session:
        req = (await session.execute(select(Request))).scalar_one()
    assert req.priority == "emergency"
    assert req.deadline_at is not None and as_utc(req.deadline_at) == FILED + timedelta(hours=4)
    assert req.remind_at is not None and as_utc(req.remind_at) == FILED + timedelta(hours=3)
    await chat.payload("menu:my")
    await chat.payload(chat.payloads()[0])
    assert "1 December, 16:00" in chat.said


async def test_working_hours_push_a_friday_evening_request_past_the_weekend(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    friday_evening = datetime(2026, 12, 4, 16, 0, tzinfo=UTC)  # 18:00 in Kyiv, office closed
    chat = Chat(Conversation(sessions, settings, clock=lambda: friday_evening), "78")
    await chat.command("start")
    await chat.payload("lang:uk")
    text = await chat.file_request(category="cat:social", sub="sub:subsidy")
    # 15 working days of 9 hours counted from Monday 7th 08:00: Mon–Fri, office hours only.
    assert "до 25 грудня, 17:00" in text


async def test_the_card_shows_time_left_then_overdue_and_stops_while_waiting(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    from handlers.i18n import to_plain, translator
    from handlers.outbound.cards import load_card_request, render_card
    from models.domain.lifecycle import change_status
    from models.domain.status import Status
    from models.domain.tables import Actor

    chat = Chat(Conversation(sessions, settings, clock=lambda: FILED), "79")
    await chat.file_request(category="cat:water", sub="sub:pipe_burst")
    en = settings.model_copy(update={"staff": settings.staff.model_copy(update={"language": "en"})})
    async with sessions() as session:
        req = await load_card_request(session, 1)
        assert req is not None
        card = to_plain(render_card(en, translator(), req, FILED + timedelta(hours=1)).text)
        assert "01.12.2026 16:00 · 3 h 0 min left" in card and "emergency" in card
        late = to_plain(render_card(en, translator(), req, FILED + timedelta(hours=6)).text)
        assert "OVERDUE by 2 h 0 min" in late
    async with sessions() as session, session.begin():
        req = await load_card_request(session, 1)
        assert req is not None
        from models.domain.deadlines.policy import policy_for

        asked = FILED + timedelta(hours=1)
        await change_status(
            session,
            req,
            Status.NEEDS_INFO,
            actor=Actor.STAFF,
            actor_id="1",
            note="Which house?",
            now=asked,
            desk_chats=[],
            policy=policy_for(settings),
        )
        assert "waiting for the resident" in to_plain(
            render_card(en, translator(), req, asked).text
        )
        answered = FILED + timedelta(hours=10)  # the resident took 9 hours; 3 were left
        await change_status(
            session,
            req,
            Status.IN_PROGRESS,
            actor=Actor.RESIDENT,
            actor_id="79",
            note=None,
            now=answered,
            desk_chats=[],
            policy=policy_for(settings),
        )
        assert req.deadline_at is not None
        assert as_utc(req.deadline_at) == answered + timedelta(hours=3)
