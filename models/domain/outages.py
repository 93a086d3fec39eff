"""Known outages (issue 11): staff declare one for a category and a list of streets or
buildings; a resident about to file a request of that category at one of them is told the
city knows, and may subscribe to be told when it is over instead of filing; when staff end it,
every subscriber is told, through the outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.domain.addresses import matches
from models.domain.base import Base, utcnow
from models.domain.outbox import enqueue
from models.domain.tables import Resident


class Outage(Base):
    __tablename__ = "outages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    category: Mapped[str] = mapped_column(String(24))
    department: Mapped[str] = mapped_column(String(32))
    places: Mapped[list[str]] = mapped_column(JSON)  # streets or buildings, as staff typed
    text: Mapped[str] = mapped_column(Text)
    until_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64))
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    end_text: Mapped[str | None] = mapped_column(Text, default=None)

    __table_args__ = (Index("ix_outages_category_ended", "category", "ended_at"),)


class OutageSubscriber(Base):
    __tablename__ = "outage_subscribers"

    outage_id: Mapped[int] = mapped_column(
        ForeignKey("outages.id", ondelete="CASCADE"), primary_key=True
    )
    resident_id: Mapped[int] = mapped_column(
        ForeignKey("residents.id", ondelete="CASCADE"), primary_key=True
    )
    at: Mapped[datetime] = mapped_column(default=utcnow)


def split_places(text: str) -> list[str]:
    """The places of an /outage command: separated by commas, where a part that is only a
    number is another building of the street before it ("Sobornosti 12, 14")."""
    places: list[str] = []
    street = ""
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if part.replace("/", "").replace("-", "").isalnum() and part[0].isdigit():
            if street:
                places.append(f"{street} {part}")
            continue
        places.append(part)
        street = " ".join(w for w in part.split() if not w[0].isdigit()) or part
    return places


async def declare(
    session: AsyncSession,
    *,
    category: str,
    department: str,
    places: list[str],
    text: str,
    until: datetime,
    by: str,
    now: datetime,
) -> Outage:
    outage = Outage(
        category=category,
        department=department,
        places=places,
        text=text,
        until_at=until,
        created_by=by,
        created_at=now,
    )
    session.add(outage)
    await session.flush()
    return outage


async def active(session: AsyncSession, department: str | None = None) -> list[Outage]:
    stmt = select(Outage).where(Outage.ended_at.is_(None)).order_by(Outage.id)
    if department is not None:
        stmt = stmt.where(Outage.department == department)
    return list((await session.scalars(stmt)).all())


async def known_at(session: AsyncSession, category: str, address: str) -> Outage | None:
    """The active outage of ``category`` at the address a resident typed, if any."""
    found = await session.scalars(
        select(Outage)
        .where(Outage.category == category, Outage.ended_at.is_(None))
        .order_by(Outage.id.desc())
    )
    return next((o for o in found if any(matches(p, address) for p in o.places)), None)


async def subscribers(session: AsyncSession, outage_ids: list[int]) -> dict[int, int]:
    rows = await session.execute(
        select(OutageSubscriber.outage_id, func.count())
        .where(OutageSubscriber.outage_id.in_(outage_ids))
        .group_by(OutageSubscriber.outage_id)
    )
    return {oid: int(n) for oid, n in rows}


async def subscribe(session: AsyncSession, outage: Outage, resident: Resident) -> bool:
    """False when the resident already was a subscriber."""
    if await session.get(OutageSubscriber, (outage.id, resident.id)) is not None:
        return False
    session.add(OutageSubscriber(outage_id=outage.id, resident_id=resident.id))
    return True


async def end(session: AsyncSession, outage: Outage, text: str, now: datetime) -> int:
    """End it and tell every subscriber who can be reached, each in their language; how
    many were told."""
    outage.ended_at, outage.end_text = now, text or None
    residents = await session.scalars(
        select(Resident)
        .join(OutageSubscriber, OutageSubscriber.resident_id == Resident.id)
        .where(
            OutageSubscriber.outage_id == outage.id,
            Resident.external_id.is_not(None),
            Resident.blocked_at.is_(None),
        )
    )
    told = 0
    for resident in residents:
        body: dict[str, Any] = {
            "event": "outage_over",
            "outage_id": outage.id,
            "category": outage.category,
            "text": text,
            "lang": resident.language,
        }
        enqueue(session, resident.channel, resident.external_id or "", body, now=now)
        told += 1
    return told
