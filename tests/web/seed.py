"""A small city for the web tests, at a fixed moment: requests filed, resolved on time and late,
confirmed by a resident, open and overdue, open and not yet due; one resident whose name, phone
and e-mail are planted in a description and an address, to prove none of it is published."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models.domain.lifecycle import change_status
from models.domain.requests import NewRequest, submit_request
from models.domain.status import Status
from models.domain.tables import Actor, Request, Resident

NOW = datetime(2026, 6, 20, 9, 0, tzinfo=UTC)
NAME = "Ostap Vyshyvanyi"
PHONE = "+380671234567"
PHONE_WRITTEN = "067 123 45 67"
EMAIL = "ostap.vyshyvanyi@example.com"
FLAT = "kv. 34"


@dataclass
class Seeded:
    numbers: dict[str, str]  # label -> request number


async def _file(
    session: AsyncSession,
    resident: Resident,
    *,
    category: str,
    sub: str | None,
    department: str,
    filed: datetime,
    due: datetime,
    description: str = "A deep pothole in the road near the crossing",
    address: str = "vul. Soborna, 12",
    lat: float | None = None,
    lon: float | None = None,
) -> Request:
    def prepare(req: Request) -> None:
        req.deadline_at = due

    return await submit_request(
        session,
        resident,
        NewRequest(
            category=category,
            subcategory=sub,
            department=department,
            address=address,
            description=description,
            latitude=lat,
            longitude=lon,
            phone=PHONE,
        ),
        now=filed,
        prepare=prepare,
    )


async def _move(
    session: AsyncSession, req: Request, *steps: tuple[Status, datetime, Actor]
) -> None:
    for status, at, actor in steps:
        await change_status(
            session, req, status, actor=actor, actor_id="1", note=None, now=at, desk_chats=[]
        )


async def seed(sessions: async_sessionmaker[AsyncSession]) -> Seeded:
    d = timedelta(days=1)
    async with sessions() as session, session.begin():
        resident = Resident(channel="telegram", external_id="5001", name=NAME, phone=PHONE)
        session.add(resident)
        await session.flush()
        planted = await _file(
            session,
            resident,
            category="roads",
            sub="pothole",
            department="roads",
            filed=NOW - 10 * d,
            due=NOW - 7 * d,
            description=f"Pothole. Call {PHONE_WRITTEN} or write {EMAIL}, {NAME}",
            address=f"vul. Soborna, 12, {FLAT}",
            lat=47.91,
            lon=33.39,
        )
        await _move(
            session,
            planted,
            (Status.IN_PROGRESS, NOW - 9 * d, Actor.STAFF),
            (Status.RESOLVED, NOW - 8 * d, Actor.STAFF),
            (Status.CLOSED, NOW - 7 * d, Actor.RESIDENT),
        )
        planted.rating = 5
        late = await _file(
            session,
            resident,
            category="roads",
            sub="pothole",
            department="roads",
            filed=NOW - 9 * d,
            due=NOW - 6 * d,
        )
        await _move(session, late, (Status.RESOLVED, NOW - 4 * d, Actor.STAFF))
        overdue = await _file(
            session,
            resident,
            category="roads",
            sub=None,
            department="roads",
            filed=NOW - 5 * d,
            due=NOW - 2 * d,
            lat=47.92,
            lon=33.40,
        )
        await _move(session, overdue, (Status.IN_PROGRESS, NOW - 4 * d, Actor.STAFF))
        fresh = await _file(
            session,
            resident,
            category="lighting",
            sub=None,
            department="lighting",
            filed=NOW - d,
            due=NOW + 6 * d,
            description="The street light is off all night",
        )
        spring = await _file(
            session,
            resident,
            category="lighting",
            sub=None,
            department="lighting",
            filed=datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
            due=datetime(2026, 3, 9, 9, 0, tzinfo=UTC),
        )
        await _move(
            session,
            spring,
            (Status.RESOLVED, datetime(2026, 3, 4, 9, 0, tzinfo=UTC), Actor.STAFF),
            (Status.CLOSED, datetime(2026, 3, 8, 9, 0, tzinfo=UTC), Actor.SYSTEM),
        )
        spring.rating = 3
        return Seeded(
            {
                "planted": planted.number,
                "late": late.number,
                "overdue": overdue.number,
                "fresh": fresh.number,
                "spring": spring.number,
            }
        )
