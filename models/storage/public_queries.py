"""What the public sees of the requests table: the Open311 listing, one request's public
history, and the departments' figures for the accountability page.

Everything returned here has already been through models.domain.privacy: free text blanked,
flats dropped, and no resident field (name, phone, chat) at all. Open and closed derive from
the status table: a request is open while its status is in OPEN_STATUSES; resolved and
awaiting the resident's confirmation therefore counts as closed (with a note saying so).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from models.domain.base import as_utc
from models.domain.privacy import blank_personal, public_address
from models.domain.status import OPEN_STATUSES, Status
from models.domain.tables import EventKind, Request, Resident

MAX_PAGE_SIZE = 1000  # GeoReport v2: "first 1000 requests returned"
DEFAULT_SPAN = timedelta(days=90)  # GeoReport v2: "defaults to most recent 90 days"
# Deeper than anyone pages (a million pages of 1000): beyond it the offset outgrows bigint.
MAX_PAGE = 1_000_000
PUBLIC_EVENTS = (EventKind.CREATED, EventKind.STATUS, EventKind.REASSIGNED)


def is_open(status: Status) -> bool:
    return status in OPEN_STATUSES


@dataclass(frozen=True, slots=True)
class PublicEvent:
    at: datetime
    kind: EventKind
    status: Status | None
    note: str | None


@dataclass(frozen=True, slots=True)
class PublicRequest:
    number: str
    status: Status
    category: str
    subcategory: str | None
    department: str
    description: str | None
    address: str | None
    latitude: float | None
    longitude: float | None
    created_at: datetime
    updated_at: datetime
    deadline_at: datetime | None
    note: str | None  # the last status change's note, blanked
    history: list[PublicEvent] = field(default_factory=list)

    @property
    def open(self) -> bool:
        return is_open(self.status)


@dataclass(frozen=True, slots=True)
class RequestFilter:
    numbers: Sequence[str] = ()  # overrides every other filter, as the spec says
    services: Sequence[tuple[str, str | None]] = ()  # (category, subcategory or None = all)
    start: datetime | None = None
    end: datetime | None = None
    status: Sequence[str] = ()  # "open", "closed"
    page: int = 1
    page_size: int = MAX_PAGE_SIZE


def _public(req: Request, known: list[str | None], *, with_history: bool) -> PublicRequest:
    events = [e for e in req.events if e.kind in PUBLIC_EVENTS]
    last_status = next((e for e in reversed(events) if e.kind is EventKind.STATUS), None)
    return PublicRequest(
        number=req.number,
        status=req.status,
        category=req.category,
        subcategory=req.subcategory,
        department=req.department,
        description=blank_personal(req.description, known),
        address=public_address(req.address, known),
        latitude=req.latitude,
        longitude=req.longitude,
        created_at=as_utc(req.created_at),
        updated_at=as_utc(req.updated_at),
        deadline_at=as_utc(req.deadline_at) if req.deadline_at else None,
        note=blank_personal(last_status.text, known) if last_status else None,
        history=[
            PublicEvent(as_utc(e.at), e.kind, e.new_status, blank_personal(e.text, known))
            for e in events
        ]
        if with_history
        else [],
    )


async def _known(session: AsyncSession, reqs: Sequence[Request]) -> dict[int, list[str | None]]:
    """Each request's personal values to blank: its phone, its resident's name and phone."""
    ids = {r.resident_id for r in reqs if r.resident_id is not None}
    people: dict[int, tuple[str | None, str | None]] = {}
    if ids:
        rows = await session.execute(
            select(Resident.id, Resident.name, Resident.phone).where(Resident.id.in_(ids))
        )
        people = {rid: (name, phone) for rid, name, phone in rows}
    return {r.id: [r.phone, *people.get(r.resident_id or -1, (None, None))] for r in reqs}


async def list_requests(
    session: AsyncSession, flt: RequestFilter, *, now: datetime
) -> list[PublicRequest]:
    stmt = select(Request).options(selectinload(Request.events))
    if flt.numbers:
        stmt = stmt.where(Request.number.in_(list(flt.numbers)))
    else:
        end = flt.end or now
        start = flt.start or (end - DEFAULT_SPAN)
        stmt = stmt.where(Request.created_at >= start, Request.created_at <= end)
        if flt.services:
            stmt = stmt.where(
                or_(
                    *(
                        and_(Request.category == cat, Request.subcategory == sub)
                        if sub is not None
                        else Request.category == cat
                        for cat, sub in flt.services
                    )
                )
            )
        wanted = set(flt.status)
        if wanted == {"open"}:
            stmt = stmt.where(Request.status.in_(sorted(OPEN_STATUSES)))
        elif wanted == {"closed"}:
            stmt = stmt.where(Request.status.not_in(sorted(OPEN_STATUSES)))
    size = max(1, min(flt.page_size, MAX_PAGE_SIZE))
    stmt = (
        stmt.order_by(Request.created_at.desc(), Request.id.desc())
        .offset((max(flt.page, 1) - 1) * size)
        .limit(size)
    )
    reqs = list((await session.execute(stmt)).scalars())
    known = await _known(session, reqs)
    return [_public(r, known[r.id], with_history=False) for r in reqs]


async def get_request(session: AsyncSession, number: str) -> PublicRequest | None:
    req = (
        await session.execute(
            select(Request).where(Request.number == number).options(selectinload(Request.events))
        )
    ).scalar_one_or_none()
    if req is None:
        return None
    known = await _known(session, [req])
    return _public(req, known[req.id], with_history=True)


async def open_requests(session: AsyncSession, *, limit: int = 500) -> list[PublicRequest]:
    """The open requests for the page's map and list, newest first."""
    reqs = list(
        (
            await session.execute(
                select(Request)
                .where(Request.status.in_(sorted(OPEN_STATUSES)))
                .options(selectinload(Request.events))
                .order_by(Request.created_at.desc(), Request.id.desc())
                .limit(limit)
            )
        ).scalars()
    )
    known = await _known(session, reqs)
    return [_public(r, known[r.id], with_history=False) for r in reqs]
