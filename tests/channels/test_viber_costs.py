"""The city's cap on what Viber bills (issue 13): over the month's cap, a message the bot would
start goes out only when it closes a request or needs the resident; the rest waits for the
resident's next message and then goes, free, inside the session that message opens."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.viber.client import ViberClient
from bot.channels.viber.render import decode_payload
from bot.channels.viber.sender import ViberSender
from bot.config import Settings
from bot.delivery import Delivery
from handlers.desk.engine import StaffDesk
from handlers.dialog.conversation import Conversation
from handlers.i18n import to_plain, translator
from models.domain.base import utcnow
from models.domain.outbox import OutboxStatus, enqueue, mark
from models.domain.status import Status
from tests.channels.test_viber import ViberBot, patient_bot, texts
from tests.channels.test_viber_levels import staff_sets
from tests.delivery.test_delivery import outbox
from tests.desk_data import Desk, add_request
from tests.desk_settings import ADMIN, desk_settings
from tests.fakes import viber_server as cb
from tests.fakes.viber_server import TOKEN, FakeViberServer

USER = "Y2FwcGVkLXVzZXI="
__all__ = ["patient_bot"]  # the fixture


@pytest.fixture
async def srv() -> AsyncIterator[FakeViberServer]:
    async with FakeViberServer() as server:
        yield server


def capped(settings: Settings, cap: int) -> Settings:
    cfg = desk_settings(settings, operators_chat=None)
    costs = cfg.costs.model_copy(update={"viber_message_price": 0.02, "viber_monthly_cap": cap})
    return cfg.model_copy(update={"costs": costs})


async def billed_already(sessions: async_sessionmaker[AsyncSession], n: int) -> None:
    """``n`` messages the bot started earlier this month, to other residents."""
    async with sessions() as session, session.begin():
        rows = [enqueue(session, "viber", f"other{i}==", {"event": "text"}) for i in range(n)]
        await session.flush()
        for row in rows:
            await mark(
                session,
                row.id,
                status=OutboxStatus.SENT,
                now=utcnow(),
                attempts=1,
                bot_initiated=True,
            )


async def deliver(
    sessions: async_sessionmaker[AsyncSession], cfg: Settings, srv: FakeViberServer
) -> None:
    client = ViberClient(TOKEN, srv.base_url, name="Kryvyi Rih 1520")
    try:
        await Delivery(sessions, cfg, translator(), {"viber": ViberSender(client)}).run_once()
    finally:
        await client.close()


async def test_over_the_cap_only_what_closes_or_needs_the_resident_goes_the_rest_waits_for_them(
    patient_bot: ViberBot,
    srv: FakeViberServer,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    cfg = capped(settings, cap=2)
    await billed_already(sessions, 2)
    reqs = [
        await add_request(sessions, cfg, resident=USER, category="lighting", channel="viber")
        for _ in range(3)
    ]
    # The resident has not written for days: each of these the bot would start, billed.
    await staff_sets(sessions, reqs[0].id, Status.IN_PROGRESS)
    await staff_sets(sessions, reqs[1].id, Status.RESOLVED)
    await staff_sets(sessions, reqs[2].id, Status.NEEDS_INFO)
    await deliver(sessions, cfg, srv)

    heard = " ".join(texts(srv.sent_to(USER)))
    assert reqs[1].number in heard and reqs[2].number in heard, "closing and asking go"
    assert reqs[0].number not in heard, "in progress waits"
    mine = [m for m in await outbox(sessions) if m.recipient == USER]
    waiting = [m for m in mine if m.status is OutboxStatus.WAITING]
    assert [m.request_id for m in waiting] == [reqs[0].id]
    assert all(m.bot_initiated for m in mine if m.status is OutboxStatus.SENT)

    desk = Desk(StaffDesk(sessions, cfg, translator()), Conversation(sessions, cfg))
    [report] = await desk.command(ADMIN, "/outbox")
    text = to_plain(report)
    assert "Cap on billed Viber messages: 4 of 2 this month." in text
    assert "Waiting for their residents to write: 1." in text

    # The resident writes: the waiting message goes at once, inside their session (free).
    await patient_bot.step(cb.text_message(USER, "Hello?"), USER)
    await deliver(sessions, cfg, srv)
    assert reqs[0].number in " ".join(texts(srv.sent_to(USER)))
    [released] = [m for m in await outbox(sessions) if m.id == waiting[0].id]
    assert released.status is OutboxStatus.SENT and released.bot_initiated is False


async def test_under_the_cap_everything_goes(
    patient_bot: ViberBot,
    srv: FakeViberServer,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    cfg = capped(settings, cap=10)
    await billed_already(sessions, 2)
    req = await add_request(sessions, cfg, resident=USER, category="lighting", channel="viber")
    await staff_sets(sessions, req.id, Status.IN_PROGRESS)
    await deliver(sessions, cfg, srv)
    assert req.number in " ".join(texts(srv.sent_to(USER)))
    assert not [m for m in await outbox(sessions) if m.status is OutboxStatus.WAITING]


async def test_news_within_the_window_goes_as_one_message(
    patient_bot: ViberBot,
    srv: FakeViberServer,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    """A status change, a reply and the resolution within a minute: one billed message with
    all three texts and the "Is it fixed?" buttons, instead of three."""
    cfg = capped(settings, cap=0)
    cfg = cfg.model_copy(update={"costs": cfg.costs.model_copy(update={"viber_bundle_seconds": 1})})
    req = await add_request(sessions, cfg, resident=USER, category="lighting", channel="viber")
    await staff_sets(sessions, req.id, Status.IN_PROGRESS)
    await staff_sets(sessions, req.id, Status.RESOLVED)
    client = ViberClient(TOKEN, srv.base_url, name="Kryvyi Rih 1520")
    delivery = Delivery(sessions, cfg, translator(), {"viber": ViberSender(client)})
    try:
        await delivery.run_once()
        assert srv.sent_to(USER) == [], "it waits for the window"
        await asyncio.sleep(1.1)
        await delivery.run_once()
    finally:
        await client.close()
    [message] = srv.sent_to(USER)
    assert message["text"].count(req.number) == 2, message["text"]
    assert {decode_payload(b["ActionBody"]) for b in message["keyboard"]["Buttons"]} == {
        f"fb:yes:{req.id}",
        f"fb:no:{req.id}",
    }
    rows = [m for m in await outbox(sessions) if m.recipient == USER]
    assert [m.status for m in rows] == [OutboxStatus.SENT] * 2
    assert [m.bot_initiated for m in rows] == [True, None], "one bill"


async def test_the_cost_is_what_viber_says_it_charged(
    srv: FakeViberServer, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    """A bot created before February 2024 keeps a free monthly allowance: Viber answers its
    first out-of-session messages as free (billing_status 4), and only the rest are charged
    (5). /outbox prices only those, though all were started by the bot."""
    srv.free_out_of_session = 2
    cfg = capped(settings, cap=0)
    reqs = [
        await add_request(
            sessions, cfg, resident=f"user{i}==", category="lighting", channel="viber"
        )
        for i in range(3)
    ]
    for req in reqs:
        await staff_sets(sessions, req.id, Status.IN_PROGRESS)
    await deliver(sessions, cfg, srv)
    rows = sorted(m.billing_status or 0 for m in await outbox(sessions) if m.channel == "viber")
    assert rows == [4, 4, 5]
    desk = Desk(StaffDesk(sessions, cfg, translator()), Conversation(sessions, cfg))
    [report] = await desk.command(ADMIN, "/outbox")
    assert "0 in residents' sessions (free) · 3 started by the bot (≈ 0.02 EUR)" in to_plain(report)
