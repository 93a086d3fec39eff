"""Requests: numbering, submission, the resident's own list, comments, photos, cancelling.

Callers own the transaction; these functions never commit.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from models.domain.addresses import place_key
from models.domain.base import utcnow
from models.domain.status import OPEN_STATUSES, Status
from models.domain.tables import Actor, Counter, EventKind, Photo, Request, RequestEvent, Resident

# ASCII digits only: \d alone would take other scripts' digits too.
NUMBER_RE = re.compile(r"^(\d{4})-(\d{6,9})$", re.ASCII)


def format_number(year: int, seq: int) -> str:
    return f"{year:04d}-{seq:06d}"


def parse_number(text: str) -> tuple[int, int] | None:
    m = NUMBER_RE.match(text.strip())
    return (int(m.group(1)), int(m.group(2))) if m else None


async def next_number(session: AsyncSession, year: int) -> str:
    """The next number of the year; atomic (one upsert), so concurrent submissions never
    share one."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = (
        insert(Counter)
        .values(name=f"requests:{year}", value=1)
        .on_conflict_do_update(index_elements=[Counter.name], set_={"value": Counter.value + 1})
        .returning(Counter.value)
    )
    seq = (await session.execute(stmt)).scalar_one()
    return format_number(year, seq)


@dataclass(slots=True)
class NewRequest:
    category: str
    subcategory: str | None
    department: str
    address: str | None  # None for a location pin: its coordinates are the place
    description: str
    latitude: float | None = None
    longitude: float | None = None
    photos: list[str] = field(default_factory=list)
    phone: str | None = None
    answers: dict[str, str] = field(default_factory=dict)  # the category's extra questions
    voice: str | None = None  # a voice message: the channel's reference to the audio
    voice_seconds: int | None = None


async def submit_request(
    session: AsyncSession,
    resident: Resident | None,
    new: NewRequest,
    *,
    now: datetime | None = None,
    prepare: Callable[[Request], None] | None = None,
    channel: str | None = None,
    language: str | None = None,
    filed_by: str | None = None,
) -> Request:
    """Store a resident's request with its first history event. ``prepare`` completes the row
    (priority, deadline) before it is written, so it is written once.

    With no ``resident`` the request came from another system (``channel`` "open311"): nobody
    in a chat to tell, and the history names the system (``filed_by``) as its author."""
    now = now or utcnow()
    channel = resident.channel if resident is not None else (channel or "external")
    req = Request(
        number=await next_number(session, now.year),
        resident_id=resident.id if resident is not None else None,
        channel=channel,
        language=(resident.language if resident is not None else language) or "uk",
        category=new.category,
        subcategory=new.subcategory,
        department=new.department,
        address=new.address,
        place_key=place_key(new.address),
        latitude=new.latitude,
        longitude=new.longitude,
        description=new.description,
        answers=dict(new.answers) or None,
        voice=new.voice,
        voice_seconds=new.voice_seconds,
        phone=new.phone,
        status=Status.NEW,
        created_at=now,
        updated_at=now,
    )
    req.photos = [Photo(channel=channel, file_ref=ref, added_at=now) for ref in new.photos]
    req.events = [
        RequestEvent(
            kind=EventKind.CREATED,
            actor=Actor.RESIDENT if resident is not None else Actor.SYSTEM,
            actor_id=str(resident.id) if resident is not None else filed_by,
            new_status=Status.NEW,
            at=now,
        )
    ]
    if prepare is not None:
        prepare(req)
    session.add(req)
    if new.phone and resident is not None:
        resident.phone = new.phone
    await session.flush()
    return req


async def list_for_resident(
    session: AsyncSession, resident_id: int, *, offset: int, limit: int
) -> tuple[list[Request], int]:
    total = (
        await session.execute(
            select(func.count()).select_from(Request).where(Request.resident_id == resident_id)
        )
    ).scalar_one()
    rows = (
        await session.execute(
            select(Request)
            .where(Request.resident_id == resident_id)
            .order_by(Request.created_at.desc(), Request.id.desc())
            .offset(offset)
            .limit(limit)
        )
    ).scalars()
    return list(rows), int(total)


async def get_for_resident(
    session: AsyncSession, resident_id: int, request_id: int, *, for_update: bool = False
) -> Request | None:
    """A request only if it belongs to this resident: ids in buttons are never trusted.

    ``for_update`` locks the row (PostgreSQL) when the caller is about to change its status,
    so a resident's answer and a staff action at the same moment cannot both apply."""
    stmt = (
        select(Request)
        .where(Request.id == request_id, Request.resident_id == resident_id)
        .options(selectinload(Request.events), selectinload(Request.photos))
        # Reload what this session already holds, so events and photos just added show.
        .execution_options(populate_existing=True)
    )
    if for_update and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(of=Request)
    return (await session.execute(stmt)).scalar_one_or_none()


def is_open(req: Request) -> bool:
    return req.status in OPEN_STATUSES


def _resident_event(
    session: AsyncSession, resident: Resident, req: Request, kind: EventKind, text: str
) -> None:
    session.add(
        RequestEvent(
            request_id=req.id,
            kind=kind,
            actor=Actor.RESIDENT,
            actor_id=str(resident.id),
            text=text,
        )
    )
    req.updated_at = utcnow()


async def add_comment(session: AsyncSession, resident: Resident, req: Request, text: str) -> None:
    _resident_event(session, resident, req, EventKind.COMMENT, text)


async def add_voice(session: AsyncSession, resident: Resident, req: Request, ref: str) -> None:
    _resident_event(session, resident, req, EventKind.VOICE, ref)


async def add_photo(session: AsyncSession, resident: Resident, req: Request, ref: str) -> None:
    session.add(Photo(request_id=req.id, channel=resident.channel, file_ref=ref))
    _resident_event(session, resident, req, EventKind.PHOTO, ref)


async def cancel_by_resident(session: AsyncSession, resident: Resident, req: Request) -> bool:
    """Only a request nobody has picked up yet can be withdrawn."""
    if req.status is not Status.NEW:
        return False
    req.status = Status.CANCELLED
    req.updated_at = utcnow()
    session.add(
        RequestEvent(
            request_id=req.id,
            kind=EventKind.STATUS,
            actor=Actor.RESIDENT,
            actor_id=str(resident.id),
            old_status=Status.NEW,
            new_status=Status.CANCELLED,
        )
    )
    return True
