"""Wiring: settings + environment → database, conversation core, channels."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import Env, Settings, load_settings
from bot.delivery import Delivery, Sender
from handlers.conversation import Conversation
from handlers.staff import StaffDesk
from models.db import create_engine, normalise_url, session_factory, sqlite_url
from models.migrate import upgrade

log = logging.getLogger(__name__)


def database_url(env: Env | None = None, settings: Settings | None = None) -> str:
    """DATABASE_URL wins; otherwise the SQLite file named in bot.toml."""
    env = env or Env.from_environ()
    if env.database_url:
        return normalise_url(env.database_url)
    settings = settings or load_settings(env.config_path)
    return sqlite_url(settings.database_path)


@dataclass
class App:
    env: Env
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    conversation: Conversation
    desk: StaffDesk

    def delivery(self, senders: dict[str, Sender]) -> Delivery:
        delivery = Delivery(self.sessions, self.settings, self.conversation.tr, senders)
        self.desk.on_commit = delivery.kick
        return delivery

    async def close(self) -> None:
        await self.engine.dispose()


async def build_app(env: Env | None = None, *, migrate: bool = True) -> App:
    env = env or Env.from_environ()
    settings = load_settings(env.config_path)
    engine = create_engine(database_url(env, settings))
    if migrate:
        await upgrade(engine)
    sessions = session_factory(engine)
    conversation = Conversation(sessions, settings)
    desk = StaffDesk(sessions, settings, conversation.tr)
    return App(env, settings, engine, sessions, conversation, desk)
