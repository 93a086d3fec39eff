"""A Viber resident gets what a department does in Telegram: the staff act in the fake
Telegram server, the outbox delivers through the fake Viber server, in the resident's language."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.channels.telegram.channel import build as telegram_channel
from bot.channels.viber.client import ViberClient
from bot.channels.viber.render import decode_payload
from bot.channels.viber.sender import ViberSender
from bot.config import Settings
from bot.delivery import Sender
from bot.media import MediaStore
from bot.runner import delivering, receiving
from tests.desk_data import add_request
from tests.desk_settings import ADMIN, desk_settings
from tests.fakes.telegram_server import FakeTelegramServer
from tests.fakes.viber_server import TOKEN as VIBER_TOKEN
from tests.fakes.viber_server import FakeViberServer
from tests.telegram_harness import make_app

VIBER_RESIDENT = "01234567890A=="


@pytest.fixture
async def servers() -> AsyncIterator[tuple[FakeTelegramServer, FakeViberServer]]:
    async with FakeTelegramServer() as tg, FakeViberServer() as vb:
        yield tg, vb


async def test_a_staff_action_in_telegram_reaches_the_viber_resident(
    servers: tuple[FakeTelegramServer, FakeViberServer],
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    tg, vb = servers
    cfg = desk_settings(settings)
    req = await add_request(
        sessions, cfg, resident=VIBER_RESIDENT, category="lighting", channel="viber", lang="uk"
    )
    app = make_app(tg, engine, sessions, cfg)
    channel = telegram_channel(app, MediaStore())
    senders: dict[str, Sender] = {
        "telegram": channel.sender(),
        "viber": ViberSender(ViberClient(VIBER_TOKEN, vb.base_url, name="Контакт-центр")),
    }
    async with delivering(app, senders), receiving(app, [channel]):
        await tg.wait_for("getMe")
        tg.push_update(tg.message_update(ADMIN, f"/resolve {req.number} Лампу замінено"))
        calls = await vb.wait_for(lambda c: c.body.get("receiver") == VIBER_RESIDENT, 1, 10)
    message = calls[0].body
    assert "вирішено" in message["text"] and "Лампу замінено" in message["text"]
    payloads = {decode_payload(b["ActionBody"]) for b in message["keyboard"]["Buttons"]}
    assert payloads == {f"fb:yes:{req.id}", f"fb:no:{req.id}"}  # "Is it fixed?" in Viber too
