"""Residents and their dialog state."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from models.base import utcnow
from models.entities import Actor, DialogState, EventKind, Request, RequestEvent, Resident


async def get_or_create_resident(
    session: AsyncSession, channel: str, external_id: str, name: str = ""
) -> Resident:
    """The resident for a chat, created on first contact, locked for this transaction."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    await session.execute(
        insert(Resident)
        .values(
            channel=channel, external_id=external_id, name=name[:128] or None, created_at=utcnow()
        )
        .on_conflict_do_nothing(index_elements=["channel", "external_id"])
    )
    stmt = select(Resident).where(Resident.channel == channel, Resident.external_id == external_id)
    if session.get_bind().dialect.name == "postgresql":
        # Two updates from one person must not interleave; SQLite already serialises writers.
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one()


async def resident_with_state(
    session: AsyncSession, channel: str, external_id: str, name: str = ""
) -> tuple[Resident, DialogState | None]:
    """The resident (created on first contact) and their dialog state, in one query for the
    common case, the resident row locked for this transaction."""
    stmt = (
        select(Resident, DialogState)
        .outerjoin(DialogState, DialogState.resident_id == Resident.id)
        .where(Resident.channel == channel, Resident.external_id == external_id)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(of=Resident)
    row = (await session.execute(stmt)).one_or_none()
    if row is not None:
        return row[0], row[1]
    return await get_or_create_resident(session, channel, external_id, name), None


async def find_resident(session: AsyncSession, channel: str, external_id: str) -> Resident | None:
    return (
        await session.execute(
            select(Resident).where(Resident.channel == channel, Resident.external_id == external_id)
        )
    ).scalar_one_or_none()


async def load_state(session: AsyncSession, resident_id: int) -> DialogState | None:
    return await session.get(DialogState, resident_id)


async def save_state(
    session: AsyncSession,
    resident_id: int,
    step: str,
    data: dict[str, object],
    offered: list[list[str]],
) -> None:
    state = await session.get(DialogState, resident_id)
    if state is None:
        session.add(DialogState(resident_id=resident_id, step=step, data=data, offered=offered))
    else:
        state.step = step
        state.data = dict(data)  # a new object so the JSON column is seen as changed
        state.offered = list(offered)
        state.updated_at = utcnow()


async def forget_resident(session: AsyncSession, resident: Resident) -> int:
    """Erase personal data; keep the requests, anonymised, for the city's statistics.

    Returns how many requests were anonymised.
    """
    result = await session.execute(
        update(Request)
        .where(Request.resident_id == resident.id)
        .values(phone=None, resident_id=None)
        .returning(Request.id)
    )
    ids = [row[0] for row in result]
    for rid in ids:
        session.add(RequestEvent(request_id=rid, kind=EventKind.ANONYMISED, actor=Actor.RESIDENT))
    state = await session.get(DialogState, resident.id)
    if state is not None:
        await session.delete(state)
    resident.external_id = None
    resident.name = None
    resident.phone = None
    resident.forgotten_at = utcnow()
    return len(ids)
