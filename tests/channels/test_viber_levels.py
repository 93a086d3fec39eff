"""Every resident's Viber app is answered (issue 13): a message asks only for the API level its
content needs (3 with a location or phone button, else 1, Viber's default), a resident whose
app reports a lower level gets no such buttons, and Viber's error 13 (apiVersionNotSupported)
is a fallback, not silence. The fake Viber server refuses what an old app cannot show."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.viber.client import ViberClient
from bot.channels.viber.render import encode_payload
from bot.channels.viber.sender import ViberSender
from bot.config import Settings
from bot.delivery import Delivery, Sender
from handlers.desk.engine import StaffDesk
from handlers.dialog.conversation import Conversation
from handlers.i18n import to_plain, translator
from handlers.outbound.notifications import render_notification
from models.domain.base import utcnow
from models.domain.lifecycle import change_status
from models.domain.outbox import OutboxStatus, enqueue, pending_count
from models.domain.status import Status
from models.domain.tables import Actor, DialogState, Request, Resident
from tests.channels.test_viber import ViberBot, patient_bot, texts, welcome
from tests.delivery.test_delivery import outbox
from tests.desk_data import Desk, add_request
from tests.desk_settings import ADMIN, LIGHTING_CHAT, desk_settings
from tests.fakes import viber_server as cb
from tests.fakes.viber_server import TOKEN, FakeViberServer

USER = "b2xkLWFwcC11c2Vy"
__all__ = ["patient_bot"]  # the fixture, shared with test_viber.py


@pytest.fixture
async def srv() -> AsyncIterator[FakeViberServer]:
    async with FakeViberServer() as server:
        yield server


async def staff_sets(
    sessions: async_sessionmaker[AsyncSession],
    request_id: int,
    status: Status,
    desk_chats: list[str] | None = None,
) -> None:
    """A department moves the request on, with a comment for the resident."""
    async with sessions() as session, session.begin():
        found = await session.get(Request, request_id)
        assert found is not None
        await change_status(
            session,
            found,
            status,
            actor=Actor.STAFF,
            actor_id="1",
            note="Crew sent",
            now=utcnow(),
            desk_chats=desk_chats or [],
        )


@pytest.mark.parametrize("level", [1, 2, 3])
async def test_a_resident_with_an_old_app_files_a_request_and_hears_every_change(
    patient_bot: ViberBot,
    srv: FakeViberServer,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    level: int,
) -> None:
    bot = patient_bot
    monkeypatch.setitem(cb.APP_VERSIONS, USER, level)
    answer = await welcome(bot, USER)
    assert answer["min_api_version"] == 1
    assert await bot.step(cb.text_message(USER, encode_payload("lang:en"), silent=True), USER)
    await bot.press("menu:new", USER)
    await bot.press("cat:lighting", USER)
    sent = await bot.press("sub:light_off", USER)
    assert texts(sent)[0].startswith("Where is the problem")
    pickers = [b for b in bot.keyboard(USER) if b["ActionType"] == "location-picker"]
    assert len(pickers) == (1 if level >= 3 else 0)
    await bot.step(cb.text_message(USER, "вул. Соборності, 10"), USER)
    await bot.step(cb.text_message(USER, "Не світить ліхтар біля під'їзду вже тиждень"), USER)
    await bot.press("photos:done", USER)
    phones = [b for b in bot.keyboard(USER) if b["ActionType"] == "share-phone"]
    assert len(phones) == (1 if level >= 3 else 0)
    if level < 3:
        await bot.step(cb.text_message(USER, "067 123 45 67"), USER)
    else:
        await bot.press("phone:skip", USER)
    sent = await bot.press("confirm", USER)
    async with sessions() as session:
        [req] = (await session.scalars(select(Request))).all()
    assert any(req.number in t for t in texts(sent))
    # Nothing was refused, and no message asked for more than the app has.
    assert [c for c in srv.calls if not c.ok] == []
    assert all(c.body.get("min_api_version", 1) <= level for c in srv.calls_of("send_message"))

    # Every status change reaches them through the outbox.
    for status in (Status.IN_PROGRESS, Status.RESOLVED):
        await staff_sets(sessions, req.id, status)
    client = ViberClient(TOKEN, srv.base_url, name="Kryvyi Rih 1520")
    senders: dict[str, Sender] = {"viber": ViberSender(client)}
    try:
        delivery = Delivery(sessions, desk_settings(settings), translator(), senders)
        for _ in range(200):  # paced: the second waits its turn in the chat
            await delivery.run_once()
            async with sessions() as session:
                if not await pending_count(session):
                    break
            await asyncio.sleep(0.02)
    finally:
        await client.close()
    told = " ".join(texts(srv.sent_to(USER)[-2:]))
    assert "in progress" in told and "resolved" in told and "Crew sent" in told
    assert [c for c in srv.calls if not c.ok] == []


async def test_error_13_falls_back_to_a_message_the_app_can_show(
    srv: FakeViberServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The app's level unknown (a notification, or a callback without it), Viber refuses a
    message with a location button: it goes again without the button, not silently lost."""
    monkeypatch.setitem(cb.APP_VERSIONS, USER, 2)
    client = ViberClient(TOKEN, srv.base_url, name="Kryvyi Rih 1520")
    keyboard = {
        "Type": "keyboard",
        "Buttons": [
            {"ActionType": "location-picker", "ActionBody": "x", "Text": "Send location"},
            {"ActionType": "reply", "ActionBody": "y", "Text": "Back"},
        ],
    }
    try:
        message = {"type": "text", "text": "Where?", "keyboard": keyboard, "min_api_version": 3}
        await client.send(USER, [message])
    finally:
        await client.close()
    refused, sent = srv.calls_of("send_message")
    assert refused.body["min_api_version"] == 3 and not refused.ok
    assert sent.ok and sent.body["min_api_version"] == 1
    assert [b["ActionType"] for b in sent.body["keyboard"]["Buttons"]] == ["reply"]


async def test_an_unsubscribed_residents_news_is_kept_told_to_staff_and_sent_on_return(
    patient_bot: ViberBot,
    srv: FakeViberServer,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    bot = patient_bot
    cfg = desk_settings(settings, operators_chat=None)
    req = await add_request(sessions, cfg, resident=USER, category="lighting", channel="viber")
    assert (await bot.post(cb.unsubscribed(USER)))[0] == 200
    await staff_sets(sessions, req.id, Status.IN_PROGRESS, [str(LIGHTING_CHAT)])
    rows = await outbox(sessions)
    [held] = [m for m in rows if m.channel == "viber"]
    assert held.status is OutboxStatus.UNDELIVERABLE and "unsubscribed" in (held.last_error or "")
    desk = [m for m in rows if m.channel == "telegram" and m.body.get("event")]
    assert [m.body["event"] for m in desk] == ["desk_unreachable"]
    text = render_notification(cfg, translator(), desk[0].body).text
    assert req.number in text and "NOT" in text
    # Back in Viber within the week: what was kept goes out.
    assert (await bot.post(cb.subscribed(USER)))[0] == 200
    client = ViberClient(TOKEN, srv.base_url, name="Kryvyi Rih 1520")
    try:
        delivery = Delivery(sessions, cfg, translator(), {"viber": ViberSender(client)})
        await delivery.run_once()
    finally:
        await client.close()
    assert "Crew sent" in " ".join(texts(srv.sent_to(USER)))


async def test_what_viber_bills_is_counted_in_outbox(
    patient_bot: ViberBot,
    srv: FakeViberServer,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    """Viber bills what the bot sends outside the 24 hours after a resident's own message:
    /outbox says how many such messages went today and this month, and what they cost."""
    cfg = desk_settings(settings, operators_chat=None)
    cfg = cfg.model_copy(
        update={"costs": cfg.costs.model_copy(update={"viber_message_price": 0.02})}
    )
    talking, silent = USER, "c2lsZW50LXVzZXI="
    for who in (talking, silent):
        await add_request(sessions, cfg, resident=who, category="lighting", channel="viber")
    await patient_bot.step(
        cb.text_message(talking, encode_payload("lang:en"), silent=True), talking
    )
    async with sessions() as session, session.begin():
        for who in (talking, silent):
            body = {"event": "text", "text": f"News for {who}", "lang": "en"}
            enqueue(session, "viber", who, body)
        # The silent one last wrote two days ago: outside the session.
        await session.execute(
            update(DialogState)
            .where(
                DialogState.resident_id
                == select(Resident.id).where(Resident.external_id == silent).scalar_subquery()
            )
            .values(updated_at=utcnow() - timedelta(days=2))
        )
    client = ViberClient(TOKEN, srv.base_url, name="Kryvyi Rih 1520")
    try:
        delivery = Delivery(sessions, cfg, translator(), {"viber": ViberSender(client)})
        await delivery.run_once()
    finally:
        await client.close()
    rows = {m.recipient: m for m in await outbox(sessions) if m.channel == "viber"}
    assert (rows[talking].bot_initiated, rows[silent].bot_initiated) == (False, True)
    # What Viber answered (send_message, "Billing Statuses"): in a session of a billable
    # bot; charged out of session.
    assert (rows[talking].billing_status, rows[silent].billing_status) == (2, 5)
    desk = Desk(StaffDesk(sessions, cfg, translator()), Conversation(sessions, cfg))
    [report] = await desk.command(ADMIN, "/outbox")
    assert "1 in residents' sessions (free) · 1 started by the bot (≈ 0.02 EUR)" in to_plain(report)
