"""Updates already handled, so that a messenger's re-delivery is never acted on twice.

An update is recorded in the same transaction as what it did: the record and the effect commit
together or not at all. A re-delivery after a crash that lost the effect is handled again; one
after the commit is a no-op. On PostgreSQL two workers given the same update at once both try
the insert; the second waits on the first's unique key and, once that commits, finds it taken.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta

from sqlalchemy import Table, bindparam, delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningInsert

from models.domain.base import utcnow
from models.domain.tables import SeenUpdate

# Telegram keeps an unconfirmed update for 24 hours and Viber retries a callback for minutes;
# twice the longer is kept.
SEEN_KEPT = timedelta(hours=48)
KEY_MAX = 64


@functools.cache
def _claim(dialect: str) -> ReturningInsert[tuple[str]]:
    table = SeenUpdate.__table__
    assert isinstance(table, Table)
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return (
        insert(table)
        .values(channel=bindparam("channel"), key=bindparam("key"), at=bindparam("at"))
        .on_conflict_do_nothing(index_elements=[table.c.channel, table.c.key])
        .returning(table.c.key)
    )


async def first_time(session: AsyncSession, channel: str, key: str) -> bool:
    """Record update ``key`` of ``channel``; False when it was recorded before."""
    stmt = _claim(session.get_bind().dialect.name)
    result = await session.execute(
        stmt, {"channel": channel[:16], "key": key[:KEY_MAX], "at": utcnow()}
    )
    return result.first() is not None


async def forget_seen_before(session: AsyncSession, cutoff: datetime) -> int:
    result = await session.execute(delete(SeenUpdate).where(SeenUpdate.at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)


async def unsee(session: AsyncSession, channel: str, key: str) -> None:
    """Take back ``first_time`` within the same transaction: the update turned out not to be
    this handler's, and another one (recording under its own channel) will have it."""
    await session.execute(
        delete(SeenUpdate).where(
            SeenUpdate.channel == channel[:16], SeenUpdate.key == key[:KEY_MAX]
        )
    )
