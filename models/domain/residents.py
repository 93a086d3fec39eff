"""Residents and their dialog state."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Insert, Select, Table, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from models.domain.base import utcnow
from models.domain.privacy import blank_personal, public_address
from models.domain.tables import Actor, DialogState, EventKind, Request, RequestEvent, Resident


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


@dataclass(frozen=True, slots=True)
class SavedState:
    """A resident's dialog state as stored: read as plain columns, written back with one
    statement (no ORM bookkeeping on the path every message takes)."""

    step: str
    data: dict[str, Any]
    offered: list[list[str]]


async def resident_with_state(
    session: AsyncSession, channel: str, external_id: str, name: str = ""
) -> tuple[Resident, SavedState | None]:
    """The resident (created on first contact) and their dialog state, the resident row locked
    for this transaction.

    On PostgreSQL the lock is taken first and the state read after it, in a statement of its
    own: under READ COMMITTED a transaction that waited for the lock re-reads the locked row
    but not the rows joined to it, so one query would hand it the dialog state as it was
    before the other worker's commit (and a Confirm handled by two workers filed twice). On
    SQLite (one writer at a time) one query does for both."""
    dialect = session.get_bind().dialect.name
    params = {"channel": channel, "external_id": external_id}
    if dialect == "postgresql":
        resident = (await session.execute(_locked_resident(), params)).scalar_one_or_none()
        if resident is None:
            await get_or_create_resident(session, channel, external_id, name)
            resident = (await session.execute(_locked_resident(), params)).scalar_one()
        found = (await session.execute(_state_of(), {"resident_id": resident.id})).one_or_none()
        if found is None:
            return resident, None
        step, data, offered = found
        return resident, SavedState(step, data or {}, offered or [])
    row = (await session.execute(_resident_with_state(dialect), params)).one_or_none()
    if row is not None:
        resident, step, data, offered = row
        state = None if step is None else SavedState(step, data or {}, offered or [])
        return resident, state
    return await get_or_create_resident(session, channel, external_id, name), None


@functools.cache
def _locked_resident() -> Select[Resident]:
    return (
        select(Resident)
        .where(
            Resident.channel == bindparam("channel"),
            Resident.external_id == bindparam("external_id"),
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    )


@functools.cache
def _state_of() -> Select[str, Any, Any]:
    return select(DialogState.step, DialogState.data, DialogState.offered).where(
        DialogState.resident_id == bindparam("resident_id")
    )


# The statements of the path every message takes are built once, with bound parameters:
# building and hashing a statement cost more CPU than running it on SQLite.
@functools.cache
def _resident_with_state(dialect: str) -> Select[tuple[Resident, str, Any, Any]]:
    stmt = (
        select(Resident, DialogState.step, DialogState.data, DialogState.offered)
        .outerjoin(DialogState, DialogState.resident_id == Resident.id)
        .where(
            Resident.channel == bindparam("channel"),
            Resident.external_id == bindparam("external_id"),
        )
    )
    if dialect == "postgresql":
        stmt = stmt.with_for_update(of=Resident)
    return stmt


@functools.cache
def _state_upsert(dialect: str) -> Insert:
    table = cast(Table, DialogState.__table__)
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    columns = ("step", "data", "offered", "updated_at")
    stmt = insert(table).values(
        resident_id=bindparam("resident_id"),
        **{c: bindparam(c, type_=table.c[c].type) for c in columns},
    )
    return stmt.on_conflict_do_update(
        index_elements=[table.c.resident_id], set_={c: stmt.excluded[c] for c in columns}
    )


async def find_resident(session: AsyncSession, channel: str, external_id: str) -> Resident | None:
    return (
        await session.execute(
            select(Resident).where(Resident.channel == channel, Resident.external_id == external_id)
        )
    ).scalar_one_or_none()


async def save_state(
    session: AsyncSession,
    resident_id: int,
    step: str,
    data: dict[str, object],
    offered: list[list[str]],
) -> None:
    """Store the dialog state: one upsert, whether the resident had a state or not."""
    params = {
        "resident_id": resident_id,
        "step": step,
        "data": data,
        "offered": offered,
        "updated_at": utcnow(),
    }
    await session.execute(_state_upsert(session.get_bind().dialect.name), params)


async def forget_resident(session: AsyncSession, resident: Resident) -> int:
    """Erase personal data; keep the requests, anonymised, for the city's statistics.

    Returns how many requests were anonymised.
    """
    # What they typed stays for the department and the statistics, but not what in it points
    # to them: the flat, phone numbers, e-mail addresses, their name (the usual signature).
    rows = await session.execute(
        select(Request.id, Request.address, Request.description, Request.phone).where(
            Request.resident_id == resident.id
        )
    )
    ids: list[int] = []
    for rid, address, description, phone in rows.all():
        known = (resident.name, resident.phone, phone)
        await session.execute(
            update(Request)
            .where(Request.id == rid)
            .values(
                phone=None,
                resident_id=None,
                address=public_address(address, known),
                description=blank_personal(description, known),
            )
        )
        events = await session.execute(
            select(RequestEvent).where(
                RequestEvent.request_id == rid,
                RequestEvent.actor == Actor.RESIDENT,
                RequestEvent.text.is_not(None),
            )
        )
        for event in events.scalars():
            event.text = blank_personal(event.text, known)
        ids.append(rid)
        session.add(RequestEvent(request_id=rid, kind=EventKind.ANONYMISED, actor=Actor.RESIDENT))
    state = await session.get(DialogState, resident.id)
    if state is not None:
        await session.delete(state)
    resident.external_id = None
    resident.name = None
    resident.phone = None
    resident.forgotten_at = utcnow()
    return len(ids)


async def dialog_data(session: AsyncSession, channel: str, external_id: str) -> dict[str, Any]:
    """The resident's dialog data as last saved ({} when they have none)."""
    data = (
        await session.execute(
            select(DialogState.data)
            .join(Resident, Resident.id == DialogState.resident_id)
            .where(Resident.channel == channel, Resident.external_id == external_id)
        )
    ).scalar_one_or_none()
    return dict(data or {})


async def last_heard(session: AsyncSession, channel: str, external_id: str) -> datetime | None:
    """When the resident last wrote to the bot (their dialog state is saved at every message
    they send, and only then)."""
    return (
        await session.execute(
            select(DialogState.updated_at)
            .join(Resident, Resident.id == DialogState.resident_id)
            .where(Resident.channel == channel, Resident.external_id == external_id)
        )
    ).scalar_one_or_none()
