"""What admins see of the outbox: how much waits, and what could not be delivered."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NamedTuple

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


class ViberUsage(NamedTuple):
    """Viber messages sent: inside residents' sessions, started by the bot outside them, and
    of those the ones billed."""

    in_session: int = 0
    by_bot: int = 0
    billed: int = 0


# send_message, "Billing Statuses": 0 free (other cases), 1-2 in a session, 3-4 free out of
# session, 5 charged. Where Viber said nothing, the bot's own reckoning (``bot_initiated``).
OUT_OF_SESSION = (3, 4, 5)
CHARGED = 5


async def viber_usage(
    session: AsyncSession, since: datetime, until: datetime | None = None
) -> ViberUsage:
    """Viber messages sent since ``since`` (and before ``until``)."""
    stmt = (
        select(OutboxMessage.bot_initiated, OutboxMessage.billing_status, func.count())
        .where(
            OutboxMessage.channel == "viber",
            OutboxMessage.status == OutboxStatus.SENT,
            OutboxMessage.sent_at >= since,
        )
        .group_by(OutboxMessage.bot_initiated, OutboxMessage.billing_status)
    )
    if until is not None:
        stmt = stmt.where(OutboxMessage.sent_at < until)
    in_session = by_bot = billed = 0
    for started, status, n in (await session.execute(stmt)).all():
        if status is None and started is None:
            continue  # went within another message (bundled): not a message of its own
        out = status in OUT_OF_SESSION if status is not None else bool(started)
        in_session += 0 if out else int(n)
        by_bot += int(n) if out else 0
        billed += int(n) if (status == CHARGED if status is not None else out) else 0
    return ViberUsage(in_session, by_bot, billed)


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
