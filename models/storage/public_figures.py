"""The departments' figures for the accountability page, aggregated by the database.

The page is refreshed every ``[web] cache_seconds`` for a whole year of requests (a million a
year in a large city): summing rows in Python cost the process seconds of CPU on every refresh,
where the database does it in C without sending the rows. Each figure is one grouped query;
the median time to resolve is the middle row(s) of a window ordered by duration, which
SQLite (3.25+) and PostgreSQL both run, so no dialect needs a percentile function.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from sqlalchemy import ColumnElement, Float, and_, case, cast, exists, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.domain.base import as_utc
from models.domain.status import OPEN_STATUSES, Status
from models.domain.tables import Actor, Request, RequestEvent

TOTAL = ""  # the key of the whole city's row


def _utc(value: datetime) -> datetime:
    """A bound in UTC: SQLite compares the stored UTC wall-clock text, so a bound in the
    city's offset would shift every period by that offset."""
    return as_utc(value).astimezone(UTC)


@dataclass(slots=True)
class Figures:
    """One department's figures (or the city's) over the requests filed in a period."""

    requests: int = 0
    resolved: int = 0
    on_time: int = 0
    due: int = 0  # resolved with a deadline, or open and already past it
    confirmed: int = 0  # resolved, and the resident confirmed the fix
    rating: float | None = None
    median_hours: float | None = None

    @property
    def on_time_share(self) -> float | None:
        return self.on_time / self.due if self.due else None

    @property
    def confirmed_share(self) -> float | None:
        return self.confirmed / self.resolved if self.resolved else None


def _hours(dialect: str) -> ColumnElement[Any]:
    """Hours from filing to resolution, in the database's own date arithmetic."""
    if dialect == "postgresql":
        seconds = func.extract("epoch", Request.resolved_at - Request.created_at)
        return cast(seconds, Float) / 3600.0
    # SQLite keeps UTC wall-clock text, which julianday() reads.
    days = func.julianday(Request.resolved_at) - func.julianday(Request.created_at)
    return cast(days, Float) * 24.0


def _counted(start: datetime, end: datetime) -> ColumnElement[bool]:
    """Filed in [start, end); cancelled requests are not counted."""
    return and_(
        Request.created_at >= _utc(start),
        Request.created_at < _utc(end),
        Request.status != Status.CANCELLED,
    )


def _one(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


async def department_figures(
    session: AsyncSession, start: datetime, end: datetime, *, now: datetime
) -> dict[str, Figures]:
    """Figures per department over the requests filed in [start, end), and the city's under
    the key ``TOTAL``. A request counts as on time when it was resolved by its deadline; an
    open request already past its deadline counts as late now, not only once resolved."""
    dialect = session.get_bind().dialect.name
    now = _utc(now)
    resolved = Request.resolved_at.is_not(None)
    with_deadline = Request.deadline_at.is_not(None)
    overdue_open = and_(
        Request.resolved_at.is_(None),
        Request.status.in_(OPEN_STATUSES),
        with_deadline,
        Request.deadline_at < now,
    )
    confirmed = exists().where(
        RequestEvent.request_id == Request.id,
        RequestEvent.actor == Actor.RESIDENT,
        RequestEvent.new_status == Status.CLOSED,
    )
    columns = (
        func.count(),
        _one(resolved),
        _one(and_(resolved, with_deadline, Request.resolved_at <= Request.deadline_at)),
        _one(and_(resolved, with_deadline)) + _one(overdue_open),
        _one(and_(resolved, confirmed)),
        func.avg(cast(Request.rating, Float)),
    )
    counted = _counted(start, end)
    out: dict[str, Figures] = {}
    for dept, *row in await session.execute(
        select(Request.department, *columns).where(counted).group_by(Request.department)
    ):
        out[dept] = _figures(row)
    if not out:
        return out
    [total] = (await session.execute(select(*columns).where(counted))).all()
    out[TOTAL] = _figures(list(total))
    for dept, median in await _medians(session, counted, dialect):
        out[dept if dept is not None else TOTAL].median_hours = float(median)
    return out


def _figures(row: list[object]) -> Figures:
    requests, resolved, on_time, due, confirmed, rating = row
    return Figures(
        requests=int(requests),  # type: ignore[call-overload]
        resolved=int(resolved),  # type: ignore[call-overload]
        on_time=int(on_time),  # type: ignore[call-overload]
        due=int(due),  # type: ignore[call-overload]
        confirmed=int(confirmed),  # type: ignore[call-overload]
        rating=None if rating is None else float(rating),  # type: ignore[arg-type]
    )


async def _medians(
    session: AsyncSession, counted: ColumnElement[bool], dialect: str
) -> list[tuple[str | None, float]]:
    """The median hours to resolve per department, and the city's (department None): the
    middle row, or the mean of the two middle rows, of each group ordered by duration."""
    out: list[tuple[str | None, float]] = []
    for by_department in (True, False):
        group = Request.department if by_department else literal("")
        hours = _hours(dialect).label("hours")
        ranked = (
            select(
                group.label("dept"),
                hours,
                func.row_number().over(partition_by=group, order_by=hours).label("rn"),
                func.count().over(partition_by=group).label("n"),
            )
            .where(counted, Request.resolved_at.is_not(None))
            .subquery()
        )
        middle = ranked.c.rn.in_([(ranked.c.n + 1) // 2, (ranked.c.n + 2) // 2])
        rows = await session.execute(
            select(ranked.c.dept, func.avg(ranked.c.hours)).where(middle).group_by(ranked.c.dept)
        )
        out += [(dept if by_department else None, median) for dept, median in rows]
    return out


async def counts_by_month(
    session: AsyncSession, start: datetime, end: datetime, tz: tzinfo
) -> list[tuple[date, int, int]]:
    """(first day of the month in the city's time zone, filed, of them resolved) for the
    page's chart, oldest first. The months' bounds are computed here, in the city's time zone
    (SQLite knows none), and the database counts the requests between them."""
    local = as_utc(start).astimezone(tz)
    firsts: list[datetime] = []
    month = datetime(local.year, local.month, 1, tzinfo=tz)
    while month < end:
        firsts.append(month)
        month = datetime(month.year + (month.month == 12), month.month % 12 + 1, 1, tzinfo=tz)
    if not firsts:
        return []
    bounds = [_utc(m) for m in firsts[1:]]
    index = (
        case(
            *[(Request.created_at < bound, i) for i, bound in enumerate(bounds)],
            else_=len(bounds),
        )
        if bounds
        else literal(0)
    ).label("month")
    rows = await session.execute(
        select(index, func.count(), _one(Request.resolved_at.is_not(None)))
        .where(_counted(start, end))
        .group_by(index)
    )
    return sorted((firsts[int(i)].date(), int(filed), int(done)) for i, filed, done in rows)
