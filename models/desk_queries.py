"""Read-only queries behind the staff commands: queue, search, statistics, export. Every one
takes the department scope explicitly (None = all), so no command can forget it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from models.entities import OPEN_STATUSES, Request, Status
from models.requests import NUMBER_RE


def _scoped(stmt: Select[Request], department: str | None) -> Select[Request]:
    return stmt if department is None else stmt.where(Request.department == department)


async def by_number(
    session: AsyncSession, number: str, department: str | None, *, for_update: bool = False
) -> Request | None:
    """``for_update`` locks the row for the transaction (PostgreSQL; SQLite's writers are
    serialised anyway), so two people acting on one request at once act one after the other."""
    stmt = _scoped(select(Request).where(Request.number == number), department)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def queue(
    session: AsyncSession,
    department: str | None,
    statuses: frozenset[Status] | None = None,
    limit: int = 20,
) -> tuple[list[Request], int]:
    statuses = statuses or OPEN_STATUSES
    stmt = _scoped(select(Request).where(Request.status.in_(statuses)), department)
    total = (await session.execute(select(func.count()).select_from(stmt.subquery()))).scalar_one()
    rows = (
        await session.execute(stmt.order_by(Request.created_at, Request.id).limit(limit))
    ).scalars()
    return list(rows), int(total)


async def search(
    session: AsyncSession, text: str, department: str | None, *, phone: str | None, limit: int = 20
) -> list[Request]:
    """By number or by phone when the text is one (both indexed); otherwise by address text.
    An address search has to read the table, so it is only done when nothing else fits."""
    if NUMBER_RE.match(text.strip()):
        condition: ColumnElement[bool] = Request.number == text.strip()
    elif phone:
        condition = Request.phone == phone
    else:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        condition = Request.address.ilike(pattern, escape="\\")
    stmt = _scoped(select(Request).where(condition), department)
    rows = await session.execute(stmt.order_by(Request.created_at.desc()).limit(limit))
    return list(rows.scalars())


async def stats(
    session: AsyncSession, since: datetime, department: str | None
) -> list[tuple[str, Status, int]]:
    """(department, status, count) of the requests filed since ``since``."""
    stmt = (
        select(Request.department, Request.status, func.count())
        .where(Request.created_at >= since)
        .group_by(Request.department, Request.status)
        .order_by(Request.department, Request.status)
    )
    if department is not None:
        stmt = stmt.where(Request.department == department)
    return [(d, s, int(n)) for d, s, n in (await session.execute(stmt)).all()]


async def export_rows(
    session: AsyncSession, since: datetime, until: datetime, department: str | None
) -> AsyncIterator[Request]:
    """Streamed in creation order, so memory does not grow with the number of rows."""
    stmt = _scoped(
        select(Request)
        .where(Request.created_at >= since, Request.created_at < until)
        .order_by(Request.created_at, Request.id),
        department,
    )
    result = await session.stream_scalars(stmt.execution_options(yield_per=500))
    async for row in result:
        yield row
