"""A bound in the city's offset means the same instant on SQLite as on PostgreSQL: SQLite
compares the stored wall-clock text, and compared a Kyiv midnight as if it were UTC (a request
filed at 23:30 Kyiv time on 31 December counted in the wrong year on the public page)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models.domain.tables import Request

KYIV = ZoneInfo("Europe/Kyiv")


async def test_a_bound_in_the_citys_offset_is_the_same_instant(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    filed = datetime(2025, 12, 31, 21, 30, tzinfo=UTC)  # 23:30 in Kyiv, still 2025 there
    async with sessions() as session, session.begin():
        session.add(
            Request(
                number="2025-000001",
                channel="telegram",
                language="uk",
                category="roads",
                department="roads",
                created_at=filed.astimezone(KYIV),  # stored as the same instant
            )
        )
    new_year = datetime(2026, 1, 1, tzinfo=KYIV)  # 22:00 UTC on 31 December
    async with sessions() as session:
        in_2026 = await session.scalar(select(func.count()).where(Request.created_at >= new_year))
        stored = await session.scalar(select(Request.created_at))
    assert in_2026 == 0
    assert stored is not None and stored.replace(tzinfo=stored.tzinfo or UTC) == filed
