"""One problem, many residents (issue 11): before filing, a resident sees the open requests of
the same category at the same building (or within ``[limits] nearby_radius_m`` of their pin)
and may join one ("this is my problem too") instead of filing another. Its subscribers are
told every change, as the resident who filed it is (models/domain/lifecycle.py)."""

from __future__ import annotations

import math
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.domain.addresses import place_key
from models.domain.status import OPEN_STATUSES
from models.domain.tables import Request, RequestSubscriber, Resident

EARTH_M = 6_371_000.0


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine), in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_M * math.asin(math.sqrt(a))


async def nearby_open(
    session: AsyncSession,
    category: str,
    *,
    address: str | None = None,
    lat: float | None = None,
    lon: float | None = None,
    radius_m: float = 150.0,
    limit: int = 3,
) -> list[Request]:
    """The open requests of ``category`` at the building typed (or near the pin), the most
    recent first."""
    is_open = Request.status.in_(sorted(OPEN_STATUSES))
    if address:
        key = place_key(address)
        if key is None:
            return []
        stmt = (
            select(Request)
            .where(Request.category == category, Request.place_key == key, is_open)
            .order_by(Request.created_at.desc())
            .limit(limit)
        )
        return list((await session.scalars(stmt)).all())
    if lat is None or lon is None:
        return []
    dlat = radius_m / 111_320.0
    dlon = radius_m / (111_320.0 * max(0.01, math.cos(math.radians(lat))))
    stmt = (
        select(Request)
        .where(
            Request.category == category,
            Request.latitude.between(lat - dlat, lat + dlat),
            Request.longitude.between(lon - dlon, lon + dlon),
            is_open,
        )
        .order_by(Request.created_at.desc())
        .limit(50)
    )
    found = [
        r
        for r in (await session.scalars(stmt)).all()
        if r.latitude is not None
        and r.longitude is not None
        and distance_m(lat, lon, r.latitude, r.longitude) <= radius_m
    ]
    return found[:limit]


async def join(session: AsyncSession, req: Request, resident: Resident, now: datetime) -> bool:
    """Subscribe ``resident`` to ``req``; False when they filed it or already follow it."""
    if req.resident_id == resident.id:
        return False
    if await session.get(RequestSubscriber, (req.id, resident.id)) is not None:
        return False
    session.add(RequestSubscriber(request_id=req.id, resident_id=resident.id, at=now))
    return True


async def is_subscriber(session: AsyncSession, request_id: int, resident_id: int) -> bool:
    return await session.get(RequestSubscriber, (request_id, resident_id)) is not None


async def subscribers_of(session: AsyncSession, request_id: int) -> list[Resident]:
    """Those who can be told: not erased, not blocked."""
    return list(
        (
            await session.scalars(
                select(Resident)
                .join(RequestSubscriber, RequestSubscriber.resident_id == Resident.id)
                .where(
                    RequestSubscriber.request_id == request_id,
                    Resident.external_id.is_not(None),
                    Resident.blocked_at.is_(None),
                )
                .order_by(RequestSubscriber.at)
            )
        ).all()
    )


async def subscriber_count(session: AsyncSession, request_id: int) -> int:
    return int(
        await session.scalar(select(func.count()).where(RequestSubscriber.request_id == request_id))
        or 0
    )
