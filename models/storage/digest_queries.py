"""The figures of the daily digest: open requests by department and status group, overdue
ones, what was resolved in a period, and the median time to resolve.

Definitions (the digest and its chart use them as they are):
- *new*: status ``new``; *in progress*: ``assigned``, ``in_progress`` and ``reopened`` (the
  department has it in hand, or has it back); *needs info*: ``needs_info`` (the clock is
  stopped, the city waits for the resident).
- *overdue*: the clock runs (new / in progress) and the deadline has passed. An overdue request
  is also counted in its status group; ``overdue_new`` / ``overdue_in_progress`` say how many of
  each group are overdue, so a chart can show the groups without counting anything twice.
- *resolved* in a period: the request's ``resolved_at`` falls in it, whatever it became after
  (closed by the resident, or still waiting for their answer). A request that was reopened has
  no ``resolved_at`` until it is resolved again.
- *time to resolve*: from filing (``created_at``) to ``resolved_at``; the median is taken in
  Python over the requests resolved in the window (30 days for the digest), so the same code
  runs on SQLite and PostgreSQL and the rows read are bounded by the window.

Every query can be scoped to one department; requests are counted under the department they
are with now.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import and_, case, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from models.domain.base import as_utc
from models.domain.status import BUCKETS, CLOCK_RUNNING
from models.domain.tables import DigestChart, Request

MEDIAN_WINDOW = timedelta(days=30)


@dataclass
class DepartmentFigures:
    department: str
    new: int = 0
    in_progress: int = 0
    needs_info: int = 0
    overdue: int = 0
    overdue_new: int = 0
    overdue_in_progress: int = 0
    resolved: int = 0
    median_to_resolve: timedelta | None = None

    @property
    def open(self) -> int:
        return self.new + self.in_progress + self.needs_info

    @property
    def empty(self) -> bool:
        return not (self.open or self.resolved or self.median_to_resolve is not None)


@dataclass(frozen=True)
class OverdueRequest:
    id: int
    number: str
    department: str
    deadline_at: datetime


def _scoped(department: str | None) -> list[ColumnElement[bool]]:
    return [] if department is None else [Request.department == department]


def _overdue(now: datetime) -> ColumnElement[bool]:
    return and_(Request.status.in_(CLOCK_RUNNING), Request.deadline_at <= now)


async def open_counts(
    session: AsyncSession, now: datetime, department: str | None = None
) -> dict[str, DepartmentFigures]:
    """Open requests by department: per status group, and how many of them are overdue."""
    overdue = func.sum(case((_overdue(now), 1), else_=0))
    rows = await session.execute(
        select(Request.department, Request.status, func.count(), overdue)
        .where(Request.status.in_(list(BUCKETS)), *_scoped(department))
        .group_by(Request.department, Request.status)
    )
    out: dict[str, DepartmentFigures] = {}
    for dept, status, count, late in rows:
        fig = out.setdefault(dept, DepartmentFigures(dept))
        group = BUCKETS[status].value
        setattr(fig, group, getattr(fig, group) + int(count))
        late = int(late or 0)
        fig.overdue += late
        if group == "new":
            fig.overdue_new += late
        elif group == "in_progress":
            fig.overdue_in_progress += late
    return out


async def resolved_counts(
    session: AsyncSession, since: datetime, until: datetime, department: str | None = None
) -> dict[str, int]:
    """Requests resolved in [since, until), by department."""
    rows = await session.execute(
        select(Request.department, func.count())
        .where(Request.resolved_at >= since, Request.resolved_at < until, *_scoped(department))
        .group_by(Request.department)
    )
    return {dept: int(count) for dept, count in rows}


async def resolve_durations(
    session: AsyncSession, since: datetime, until: datetime, department: str | None = None
) -> dict[str, list[timedelta]]:
    """Filing-to-resolution times of the requests resolved in [since, until), by department."""
    rows = await session.execute(
        select(Request.department, Request.created_at, Request.resolved_at).where(
            Request.resolved_at >= since, Request.resolved_at < until, *_scoped(department)
        )
    )
    out: dict[str, list[timedelta]] = {}
    for dept, created, resolved in rows:
        if resolved is None:
            continue
        out.setdefault(dept, []).append(max(timedelta(0), as_utc(resolved) - as_utc(created)))
    return out


def median(values: list[timedelta]) -> timedelta | None:
    if not values:
        return None
    return timedelta(seconds=statistics.median(v.total_seconds() for v in values))


async def oldest_overdue(
    session: AsyncSession, now: datetime, limit: int, department: str | None = None
) -> list[OverdueRequest]:
    """The overdue requests whose deadline passed longest ago."""
    rows = await session.execute(
        select(Request.id, Request.number, Request.department, Request.deadline_at)
        .where(_overdue(now), *_scoped(department))
        .order_by(Request.deadline_at, Request.id)
        .limit(limit)
    )
    return [
        OverdueRequest(rid, number, dept, as_utc(deadline))
        for rid, number, dept, deadline in rows
        if deadline is not None
    ]


@dataclass
class Figures:
    by_department: dict[str, DepartmentFigures]
    overall: DepartmentFigures  # all departments together (or the one it was scoped to)


async def digest_figures(
    session: AsyncSession,
    now: datetime,
    *,
    resolved_since: datetime,
    resolved_until: datetime,
    department: str | None = None,
) -> Figures:
    """Everything the digest counts, by department (only departments with something to show)
    and overall.

    ``resolved_since``/``resolved_until`` bound the "resolved" count (the digest: yesterday);
    the median covers the :data:`MEDIAN_WINDOW` before ``now``. The overall median is taken
    over all the durations, not over the departments' medians.
    """
    figures = await open_counts(session, now, department)
    for dept, count in (
        await resolved_counts(session, resolved_since, resolved_until, department)
    ).items():
        figures.setdefault(dept, DepartmentFigures(dept)).resolved = count
    durations = await resolve_durations(session, now - MEDIAN_WINDOW, now, department)
    for dept, values in durations.items():
        figures.setdefault(dept, DepartmentFigures(dept)).median_to_resolve = median(values)
    overall = DepartmentFigures(department or "")
    for fig in figures.values():
        overall.new += fig.new
        overall.in_progress += fig.in_progress
        overall.needs_info += fig.needs_info
        overall.overdue += fig.overdue
        overall.overdue_new += fig.overdue_new
        overall.overdue_in_progress += fig.overdue_in_progress
        overall.resolved += fig.resolved
    overall.median_to_resolve = median([d for values in durations.values() for d in values])
    return Figures(figures, overall)


async def within_deadline(
    session: AsyncSession, since: datetime, until: datetime, department: str | None = None
) -> dict[str, tuple[int, int]]:
    """(resolved on time, resolved with a deadline) for requests resolved in [since, until)."""
    on_time = case((Request.resolved_at <= Request.deadline_at, 1), else_=0)
    rows = await session.execute(
        select(Request.department, func.sum(on_time), func.count())
        .where(
            Request.resolved_at >= since,
            Request.resolved_at < until,
            Request.deadline_at.is_not(None),
            *_scoped(department),
        )
        .group_by(Request.department)
    )
    return {dept: (int(ok or 0), int(total)) for dept, ok, total in rows}


async def keep_chart(session: AsyncSession, day: date, png: bytes, *, since: date) -> None:
    """Store the day's chart (replacing one drawn before) and drop those before ``since``,
    whose messages went out long ago."""
    await session.execute(delete(DigestChart).where(DigestChart.day < since))
    await session.merge(DigestChart(day=day, png=png))


async def chart_png(session: AsyncSession, day: date) -> bytes | None:
    found = await session.get(DigestChart, day)
    return found.png if found is not None else None
