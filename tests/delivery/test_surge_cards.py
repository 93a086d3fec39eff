"""A department group in a surge (issue 11): new cards too many for its 20 messages a minute go
as one message listing them with /show links; refreshes of one card queued together become
one edit. Over the fake Bot API server, the real outbox worker, a real database."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.telegram.client import make_bot
from bot.channels.telegram.sender import TelegramSender
from bot.config import Settings
from bot.delivery import Delivery
from handlers.desk.engine import StaffDesk
from handlers.i18n import to_plain, translator
from handlers.types import Incoming, Kind
from models.domain.base import utcnow
from models.domain.lifecycle import card_refresh
from models.domain.tables import Request
from tests.desk_data import add_request
from tests.desk_settings import ADMIN, LIGHTING_CHAT, desk_settings
from tests.fakes.telegram_server import FakeTelegramServer


async def deliver_all(
    sessions: async_sessionmaker[AsyncSession], cfg: Settings, srv: FakeTelegramServer
) -> None:
    sender = TelegramSender(make_bot("123456:TEST-token", srv.base_url), translator())
    delivery = Delivery(sessions, cfg, translator(), {"telegram": sender})
    try:
        while await delivery.run_once():
            pass
    finally:
        await sender.bot.session.close()


async def file(sessions: async_sessionmaker[AsyncSession], cfg: Settings, n: int) -> list[Request]:
    made = []
    for i in range(n):
        req = await add_request(
            sessions,
            cfg,
            resident=str(556_000 + i),
            category="lighting",
            address=f"вул. Шевченка, {i + 1}",
            description=f"Не світить ліхтар номер {i + 1}",
        )
        async with sessions() as session, session.begin():
            card_refresh(session, req, [str(LIGHTING_CHAT)], now=utcnow())
        made.append(req)
    return made


async def test_a_surge_of_new_cards_goes_as_one_message_with_show_links(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    cfg = desk_settings(settings)
    made = await file(sessions, cfg, 15)  # more than [delivery] batch_cards_over (10)
    async with FakeTelegramServer() as srv:
        await deliver_all(sessions, cfg, srv)
        sent = srv.sent_messages(LIGHTING_CHAT)
    assert len(sent) == 1, [to_plain(m["text"])[:60] for m in sent]
    listing = to_plain(sent[0]["text"])
    assert "15 new requests" in listing
    for req in made:
        assert f"/show_{req.number.replace('-', '_')}" in listing
    # The link brings the card with its buttons.
    desk = StaffDesk(sessions, cfg, translator())
    link = made[3].number.replace("-", "_")
    replies = await desk.handle(
        Incoming("telegram", str(ADMIN), Kind.COMMAND, command=f"show_{link}")
    )
    assert replies and made[3].number in to_plain(replies[0].text) and replies[0].buttons


async def test_a_few_new_cards_still_go_one_by_one(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    cfg = desk_settings(settings)
    await file(sessions, cfg, 3)
    async with FakeTelegramServer() as srv:
        await deliver_all(sessions, cfg, srv)
        assert len(srv.sent_messages(LIGHTING_CHAT)) == 3


async def test_refreshes_of_one_card_queued_together_are_one_message(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    cfg = desk_settings(settings)
    [req] = await file(sessions, cfg, 1)
    for _ in range(9):  # nine residents join it before the worker gets to the group
        async with sessions() as session, session.begin():
            card_refresh(session, req, [str(LIGHTING_CHAT)], now=utcnow())
    async with FakeTelegramServer() as srv:
        await deliver_all(sessions, cfg, srv)
        posted = srv.sent_messages(LIGHTING_CHAT)
        edits = srv.calls_of("editMessageText")
    assert len(posted) == 1 and not edits
