"""The periodic scans behind reminders, escalations, follow-ups and digests.

Each scan is one atomic ``UPDATE … WHERE <not yet done> … RETURNING``: whichever process or
run gets a row does the work, so a restart, a missed run or two overlapping runs never send
something twice and never skip it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from models.domain.status import CLOCK_RUNNING, Status
from models.domain.tables import JobRun, Request


async def _claim(session: AsyncSession, where: object, values: dict[str, object]) -> list[Request]:
    rows = await session.execute(
        update(Request)
        .where(where)  # type: ignore[arg-type]
        .values(**values)
        .returning(Request)
        .execution_options(synchronize_session=False)
    )
    return sorted(rows.scalars(), key=lambda r: r.id)


async def claim_reminders(session: AsyncSession, now: datetime) -> list[Request]:
    """Requests that reached the reminder share of their time."""
    return await _claim(
        session,
        and_(
            Request.status.in_(CLOCK_RUNNING),
            Request.remind_at <= now,
            Request.reminded_at.is_(None),
        ),
        {"reminded_at": now},
    )


async def claim_escalations(
    session: AsyncSession, now: datetime, repeat: timedelta
) -> list[Request]:
    """Overdue requests not escalated yet, or not since ``repeat`` ago."""
    return await _claim(
        session,
        and_(
            Request.status.in_(CLOCK_RUNNING),
            Request.deadline_at <= now,
            or_(Request.escalated_at.is_(None), Request.escalated_at <= now - repeat),
        ),
        {"escalated_at": now, "escalations": Request.escalations + 1},
    )


async def claim_followups(
    session: AsyncSession, now: datetime, status: Status, after: timedelta
) -> list[Request]:
    """Requests waiting for the resident for ``after`` with no follow-up sent yet."""
    return await _claim(
        session,
        and_(
            Request.status == status,
            Request.waiting_since <= now - after,
            Request.followup_at.is_(None),
        ),
        {"followup_at": now},
    )


async def claim_expired(
    session: AsyncSession, now: datetime, status: Status, after: timedelta
) -> list[Request]:
    """Requests whose follow-up went unanswered for ``after`` as well: to be closed.

    The claim moves ``followup_at`` far into the future so no other run takes them; the caller
    closes them in the same transaction.
    """
    return await _claim(
        session,
        and_(Request.status == status, Request.followup_at <= now - after),
        {"followup_at": now + timedelta(days=3650)},
    )


async def claim_slot(session: AsyncSession, job: str, slot: datetime) -> bool:
    """True once per (job, slot): the run that gets it does the job for that slot."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    created = await session.execute(
        insert(JobRun)
        .values(name=job, last_slot=slot)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    if created.rowcount:  # type: ignore[attr-defined]
        return True
    moved = await session.execute(
        update(JobRun).where(JobRun.name == job, JobRun.last_slot < slot).values(last_slot=slot)
    )
    return bool(moved.rowcount)  # type: ignore[attr-defined]
