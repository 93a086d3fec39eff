"""What admins see of the outbox: how much waits, and what could not be delivered."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.domain.outbox import OutboxMessage, OutboxStatus


async def counts(session: AsyncSession) -> dict[OutboxStatus, int]:
    rows = await session.execute(
        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    )
    found = {status: int(n) for status, n in rows.all()}
    return {status: found.get(status, 0) for status in OutboxStatus}


async def recent_problems(session: AsyncSession, limit: int = 10) -> list[OutboxMessage]:
    """The latest messages that failed or could not be delivered, newest first."""
    rows = await session.execute(
        select(OutboxMessage)
        .where(OutboxMessage.status.in_((OutboxStatus.FAILED, OutboxStatus.UNDELIVERABLE)))
        .order_by(OutboxMessage.id.desc())
        .limit(limit)
    )
    return list(rows.scalars())


def billing_month(now: datetime) -> datetime:
    """The start of the month Viber counts its allowance in (calendar months, UTC)."""
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


async def viber_usage(
    session: AsyncSession, since: datetime, until: datetime | None = None
) -> tuple[int, int]:
    """Viber messages sent since ``since`` (and before ``until``): (inside residents'
    sessions, started by the bot)."""
    stmt = (
        select(OutboxMessage.bot_initiated, func.count())
        .where(
            OutboxMessage.channel == "viber",
            OutboxMessage.status == OutboxStatus.SENT,
            OutboxMessage.sent_at >= since,
        )
        .group_by(OutboxMessage.bot_initiated)
    )
    if until is not None:
        stmt = stmt.where(OutboxMessage.sent_at < until)
    rows = await session.execute(stmt)
    found = {flag: int(n) for flag, n in rows.all()}
    return found.get(False, 0), found.get(True, 0)


async def backlog(session: AsyncSession) -> tuple[int, datetime | None]:
    """How many messages wait to be sent, and when the oldest of them was queued."""
    row = (
        await session.execute(
            select(func.count(), func.min(OutboxMessage.created_at)).where(
                OutboxMessage.status == OutboxStatus.PENDING
            )
        )
    ).one()
    return int(row[0]), row[1]
