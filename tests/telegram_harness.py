"""The real bot (aiogram channel, staff desk, delivery worker) against the fake Bot API server,
in polling or webhook mode, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.app import App
from bot.channels.telegram.channel import TelegramChannel
from bot.channels.telegram.channel import build as telegram_channel
from bot.config import Env, Settings
from bot.delivery import Delivery, Sender
from bot.media import MediaStore
from bot.runner import delivering, receiving
from handlers.desk.engine import StaffDesk
from handlers.dialog.conversation import Conversation
from tests.fakes.telegram_server import FakeTelegramServer

TOKEN = "123456:TEST-token-for-the-fake-server"
SECRET = "webhook-secret-42"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Harness:
    app: App
    channel: TelegramChannel
    delivery: Delivery
    srv: FakeTelegramServer
    webhook_url: str = ""

    async def send(self, update: dict[str, Any]) -> None:
        """Hand an update to the bot the way Telegram would in the current mode."""
        if self.webhook_url:
            result = await self.srv.deliver_webhook(update)
            assert result.status == 200, result
        else:
            self.srv.push_update(update)

    def bot_texts(self, chat_id: int) -> list[str]:
        return [
            str(m.get("text") or m.get("caption") or "") for m in self.srv.sent_messages(chat_id)
        ]

    async def wait_texts(self, chat_id: int, count: int, wait: float = 5.0) -> list[str]:
        await self.srv.wait_for(
            lambda c: c.ok and c.params.get("chat_id") == chat_id and c.method.startswith("send"),
            count=count,
            timeout=wait,
        )
        return self.bot_texts(chat_id)

    async def step(self, chat_id: int, update: dict[str, Any], expect: int = 1) -> list[str]:
        """Send an update and wait for ``expect`` more messages in the chat; return them."""
        before = len(self.srv.sent_messages(chat_id))
        await self.send(update)
        texts = await self.wait_texts(chat_id, before + expect)
        return texts[before:]


def make_app(
    srv: FakeTelegramServer,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> App:
    env = Env(
        telegram_bot_token=TOKEN, telegram_api_base=srv.base_url, telegram_webhook_secret=SECRET
    )
    conversation = Conversation(sessions, settings)
    desk = StaffDesk(sessions, settings, conversation.tr)
    return App(env, settings, engine, sessions, conversation, desk)


@contextlib.asynccontextmanager
async def running_bot(
    srv: FakeTelegramServer,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    mode: str = "polling",
) -> AsyncIterator[Harness]:
    port = free_port()
    if mode == "webhook":
        tg = settings.telegram.model_copy(
            update={
                "mode": "webhook",
                "webhook_url": f"http://127.0.0.1:{port}",
                "listen_port": port,
            }
        )
        settings = settings.model_copy(update={"telegram": tg})
    app = make_app(srv, engine, sessions, settings)
    channel = telegram_channel(app, MediaStore())
    senders: dict[str, Sender] = {"telegram": channel.sender()}
    async with receiving(app, [channel]), delivering(app, senders) as delivery:
        if mode == "webhook":
            await srv.wait_for("setWebhook")
            yield Harness(app, channel, delivery, srv, f"http://127.0.0.1:{port}")
        else:
            await srv.wait_for("getMe")
            yield Harness(app, channel, delivery, srv)
