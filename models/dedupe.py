"""Remembering which updates were handled, so a messenger's re-delivery is not acted on twice."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from models.entities import SeenUpdate


def _insert_for(session: AsyncSession):  # type: ignore[no-untyped-def]
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


async def already_seen(session: AsyncSession, channel: str, key: str) -> bool:
    """Record ``key``; True if it had been recorded before (in this transaction's view)."""
    result = await session.execute(
        _insert_for(session)(SeenUpdate)
        .values(channel=channel, key=key)
        .on_conflict_do_nothing(index_elements=["channel", "key"])
    )
    return bool(result.rowcount == 0)  # type: ignore[attr-defined]


async def forget_seen_before(session: AsyncSession, cutoff: datetime) -> None:
    await session.execute(delete(SeenUpdate).where(SeenUpdate.at < cutoff))
