"""Which open requests a resident is shown before filing (issue 11): the same building for a
typed address, within ``[limits] nearby_radius_m`` for a pin; the same category; open ones;
the newest first, three at most."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from models.domain.base import utcnow
from models.domain.status import Status
from models.domain.subscribers import distance_m, nearby_open
from models.domain.tables import Request
from tests.desk_data import add_request

LAT, LON = 47.9105, 33.3918  # a point in Kryvyi Rih
METRE = 1 / 111_320  # of latitude


async def pinned(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    name: str,
    north_m: float,
    *,
    category: str = "lighting",
    status: Status = Status.NEW,
    age_h: float = 1,
) -> Request:
    req = await add_request(sessions, settings, resident=name, category=category, address="")
    async with sessions() as session, session.begin():
        row = await session.get(Request, req.id)
        assert row is not None
        row.address, row.latitude, row.longitude = None, LAT + north_m * METRE, LON
        row.status, row.created_at = status, utcnow() - timedelta(hours=age_h)
    return req


def test_the_distance_is_in_metres() -> None:
    assert abs(distance_m(LAT, LON, LAT + 100 * METRE, LON) - 100) < 1


async def test_a_pin_finds_the_open_requests_of_its_category_within_the_radius(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    near = await pinned(sessions, settings, "near", 100, age_h=3)
    nearer = await pinned(sessions, settings, "nearer", 20, age_h=1)
    await pinned(sessions, settings, "far", 200)
    await pinned(sessions, settings, "roads", 10, category="roads")
    await pinned(sessions, settings, "closed", 10, status=Status.CLOSED)
    async with sessions() as session:
        found = await nearby_open(session, "lighting", lat=LAT, lon=LON, radius_m=150)
        wider = await nearby_open(session, "lighting", lat=LAT, lon=LON, radius_m=250, limit=3)
    assert [r.id for r in found] == [nearer.id, near.id]  # the newest first
    assert len(wider) == 3


async def test_a_typed_address_finds_the_same_building_only(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    same = await add_request(
        sessions, settings, resident="a", category="lighting", address="вул. Соборності, 12"
    )
    await add_request(
        sessions, settings, resident="b", category="lighting", address="вул. Соборності, 14"
    )
    async with sessions() as session:
        found = await nearby_open(session, "lighting", address="ул. Соборности д. 12, кв 3")
        street_only = await nearby_open(session, "lighting", address="вул. Соборності")
    assert [r.id for r in found] == [same.id]
    assert street_only == []  # a street is not a building: nothing to join
