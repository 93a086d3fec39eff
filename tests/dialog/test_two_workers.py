"""Two workers on one database (issue 12, the part issue 17 shares): each with its own
conversation core, so no in-memory lock covers them; only the database does. A double tap on
Confirm landing on both, and the same update delivered to both, file one request."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from handlers.dialog.conversation import Conversation, FloodGuard
from handlers.types import Incoming, Kind
from models.domain.tables import Request
from tests.chat import Chat

RESIDENTS = 12


def worker(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> Conversation:
    return Conversation(sessions, settings, flood=FloodGuard(limit=100_000))


async def to_confirm(chat: Chat) -> None:
    await chat.command("start")
    await chat.payload("lang:en")
    await chat.payload("menu:new")
    await chat.payload("cat:lighting")
    await chat.payload("sub:light_off")
    await chat.text("вул. Соборності, 10")
    await chat.text("Не світить ліхтар біля під'їзду вже тиждень")
    await chat.payload("photos:done")
    await chat.payload("phone:skip")


async def test_confirm_on_two_workers_files_once(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    first, second = worker(sessions, settings), worker(sessions, settings)
    users = [str(7000 + i) for i in range(RESIDENTS)]
    for user in users:
        await to_confirm(Chat(first, user, channel="telegram"))

    def confirm(user: str) -> Incoming:
        return Incoming("telegram", user, Kind.BUTTON, payload="confirm")

    # Half tap twice (two update ids), half get one update delivered to both workers.
    await asyncio.gather(
        *(
            w.handle(confirm(user), event_id=f"{user}-{n if i % 2 else 0}")
            for i, user in enumerate(users)
            for n, w in enumerate((first, second))
        )
    )
    async with sessions() as session:
        filed = await session.scalar(select(func.count()).select_from(Request))
    assert filed == RESIDENTS
