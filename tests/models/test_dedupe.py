"""The record of handled updates (models/storage/dedupe.py): once per channel and key, and
forgotten by the scheduler's scan once no messenger would deliver the update again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from handlers.i18n import translator
from handlers.outbound.jobs import Jobs
from models.domain.tables import SeenUpdate
from models.storage.dedupe import first_time


async def test_an_update_is_new_once_per_channel(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session, session.begin():
        assert await first_time(session, "viber", "token-1")
        assert not await first_time(session, "viber", "token-1")
        assert await first_time(session, "telegram", "token-1")
        assert await first_time(session, "telegram-staff", "token-1")
    # Rolled back with what it did: a handler that failed leaves the update to come again.
    async with sessions() as session, session.begin():
        assert await first_time(session, "viber", "token-2")
        await session.rollback()
    async with sessions() as session, session.begin():
        assert await first_time(session, "viber", "token-2")


async def test_the_scan_forgets_updates_after_two_days(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    async with sessions() as session, session.begin():
        for key in ("a", "b", "c"):
            assert await first_time(session, "telegram", key)
    soon = Jobs(sessions, settings, translator(), clock=lambda: datetime.now(UTC))
    assert (await soon.scan())["seen_updates"] == 0
    later = datetime.now(UTC) + timedelta(hours=49)
    jobs = Jobs(sessions, settings, translator(), clock=lambda: later)
    assert (await jobs.scan())["seen_updates"] == 3
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(SeenUpdate)) == 0
