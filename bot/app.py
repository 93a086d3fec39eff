"""Wiring: settings + environment → database, conversation core, channels."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.cluster import Cluster
from bot.config import Env, Settings, load_settings
from bot.delivery import Delivery, Sender
from handlers.desk.engine import StaffDesk
from handlers.dialog.conversation import Conversation
from models.storage.engine import (
    create_engine,
    create_read_engine,
    dispose_read_engine,
    normalise_url,
    read_session_factory,
    session_factory,
    sqlite_url,
)
from models.storage.migrate import upgrade

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
    # Read-only work (staff queues, statistics, exports): on SQLite a pool of its own on the
    # same file, so it never holds the one connection residents' updates are written through.
    read_engine: AsyncEngine | None = field(default=None, kw_only=True)
    # Who sends and schedules, for /healthz: on PostgreSQL the elected worker (the cluster
    # says), on SQLite this process whenever its sender runs.
    cluster: Cluster | None = field(default=None, kw_only=True)
    sending: bool = field(default=False, kw_only=True)

    def delivery(self, senders: dict[str, Sender]) -> Delivery:
        delivery = Delivery(self.sessions, self.settings, self.conversation.tr, senders)
        # Transactions that queue notifications wake the worker instead of waiting for its poll;
        # with several workers, through the cluster, which wakes whichever one is the sender.
        wake = self.cluster.notify_outbox if self.cluster is not None else delivery.kick
        self.conversation.on_commit = self.desk.on_commit = wake
        return delivery

    async def close(self) -> None:
        if self.read_engine is not None:
            await dispose_read_engine(self.read_engine, self.engine)
        await self.engine.dispose()


async def build_app(env: Env | None = None, *, migrate: bool = True) -> App:
    env = env or Env.from_environ()
    settings = load_settings(env.config_path)
    if env.listen_port is not None:
        tg = settings.telegram.model_copy(update={"listen_port": env.listen_port})
        settings = settings.model_copy(update={"telegram": tg})
    engine = create_engine(database_url(env, settings))
    if migrate:
        await upgrade(engine)
    sessions = session_factory(engine)
    read_engine = create_read_engine(engine)
    conversation = Conversation(sessions, settings)
    desk = StaffDesk(
        sessions, settings, conversation.tr, read_sessions=read_session_factory(read_engine)
    )
    if migrate:
        await desk.load_staff()
    return App(env, settings, engine, sessions, conversation, desk, read_engine=read_engine)
