"""What residents thought of each department's work, and how late it really is: the figures
a city holds departments to account by (issue 15), for a period.

- ``resolutions``: requests marked resolved in the period (each time: a reopened one resolved
  again counts again); of those the residents ``confirmed`` ("Yes, fixed"), ``reopened`` ("No")
  or left ``unconfirmed`` (no answer yet, or closed when the follow-up ran out).
- ``ratings`` and ``rating_sum``: the ratings residents gave in the period.
- ``on_time`` over ``due``: requests resolved in the period within their deadline, over those
  resolved with a deadline plus those open right now past theirs (the clock running: a request
  waiting for the resident is not late). Counting only closed requests
  flatters a department that leaves them overdue and open; city dashboards count those as late.
- ``oldest_open``: when the oldest open request was filed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.domain.base import as_utc
from models.domain.status import CLOCK_RUNNING, OPEN_STATUSES, Status
from models.domain.tables import Actor, EventKind, Request, RequestEvent
from models.storage.digest_queries import within_deadline


@dataclass
class Quality:
    department: str
    resolutions: int = 0
    confirmed: int = 0
    reopened: int = 0
    ratings: int = 0
    rating_sum: int = 0
    on_time: int = 0
    due: int = 0
    oldest_open: datetime | None = None

    @property
    def has_figures(self) -> bool:
        """Anything fixed, rated or due in the period (else every figure is a dash)."""
        return bool(self.resolutions or self.ratings or self.due)

    @property
    def unconfirmed(self) -> int:
        return max(0, self.resolutions - self.confirmed - self.reopened)

    def share(self, part: int) -> float | None:
        """``part`` as a share of the resolutions (None when there were none)."""
        return part / self.resolutions if self.resolutions else None

    @property
    def average_rating(self) -> float | None:
        return self.rating_sum / self.ratings if self.ratings else None

    @property
    def on_time_share(self) -> float | None:
        return self.on_time / self.due if self.due else None


async def quality(
    session: AsyncSession,
    since: datetime,
    until: datetime,
    now: datetime,
    department: str | None = None,
) -> dict[str, Quality]:
    """The figures of each department (only ``department``'s when given) with anything to
    show, by department code."""
    found: dict[str, Quality] = {}

    def of(dept: str) -> Quality:
        return found.setdefault(dept, Quality(dept))

    scope = [Request.department == department] if department else []
    in_period = and_(RequestEvent.at >= since, RequestEvent.at < until)
    status = and_(RequestEvent.kind == EventKind.STATUS, in_period)
    resident = RequestEvent.actor == Actor.RESIDENT
    after_resolution = RequestEvent.old_status == Status.RESOLVED
    rows = await session.execute(
        select(
            Request.department,
            func.sum(case((RequestEvent.new_status == Status.RESOLVED, 1), else_=0)),
            func.sum(
                case(
                    (and_(resident, after_resolution, RequestEvent.new_status == Status.CLOSED), 1),
                    else_=0,
                )
            ),
            func.sum(
                case(
                    (
                        and_(
                            resident, after_resolution, RequestEvent.new_status == Status.REOPENED
                        ),
                        1,
                    ),
                    else_=0,
                )
            ),
        )
        .join(Request, Request.id == RequestEvent.request_id)
        .where(status, *scope)
        .group_by(Request.department)
    )
    for dept, resolutions, confirmed, reopened in rows:
        q = of(dept)
        q.resolutions, q.confirmed, q.reopened = (
            int(resolutions or 0),
            int(confirmed or 0),
            int(reopened or 0),
        )

    rows = await session.execute(
        select(Request.department, RequestEvent.text)
        .join(Request, Request.id == RequestEvent.request_id)
        .where(RequestEvent.kind == EventKind.RATING, in_period, *scope)
    )
    for dept, text in rows:
        if text and text.strip().isdigit():
            q = of(dept)
            q.ratings += 1
            q.rating_sum += int(text)

    for dept, (ok, total) in (await within_deadline(session, since, until, department)).items():
        q = of(dept)
        q.on_time, q.due = ok, total

    is_open = Request.status.in_(sorted(OPEN_STATUSES))
    # Waiting for the resident stops the clock (as the digest's "overdue" has it).
    late_now = case(
        (
            and_(
                Request.status.in_(sorted(CLOCK_RUNNING)),
                Request.deadline_at.is_not(None),
                Request.deadline_at < now,
            ),
            1,
        ),
        else_=0,
    )
    rows = await session.execute(
        select(Request.department, func.sum(late_now), func.min(Request.created_at))
        .where(is_open, *scope)
        .group_by(Request.department)
    )
    for dept, late, oldest in rows:
        q = of(dept)
        q.due += int(late or 0)
        q.oldest_open = as_utc(oldest) if oldest is not None else None  # min() drops the zone
    return found
