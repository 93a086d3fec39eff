"""The staff desk as these tests use it: English staff texts, the repo's bot.toml with group
chats and a bootstrap administrator, and events routed as the Telegram channel routes them."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from handlers.desk.engine import StaffDesk
from handlers.dialog.conversation import Conversation, FloodGuard
from tests.desk_data import Desk
from tests.desk_settings import desk_settings


@pytest.fixture
def cfg(settings: Settings) -> Settings:
    return desk_settings(settings, staff_language="en")


@pytest.fixture
def desk(sessions: async_sessionmaker[AsyncSession], cfg: Settings) -> Desk:
    conversation = Conversation(sessions, cfg, flood=FloodGuard(limit=100_000))
    return Desk(StaffDesk(sessions, cfg, conversation.tr), conversation)
