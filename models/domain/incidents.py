"""One incident instead of many reports (issue 11): staff merge requests about one problem
into a main one. The others close as its duplicates; their residents (and whoever had joined
them) are told so in their language and become the main request's subscribers, so its every
change reaches them through the outbox, with its limits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.domain.lifecycle import card_refresh, notify_resident
from models.domain.status import RULE, Status
from models.domain.tables import (
    Actor,
    EventKind,
    Request,
    RequestEvent,
    RequestSubscriber,
    Resident,
)


class CannotMerge(Exception):
    def __init__(self, number: str, why: str) -> None:
        super().__init__(f"{number}: {why}")
        self.number, self.why = number, why


async def merge(
    session: AsyncSession,
    main: Request,
    duplicate: Request,
    *,
    actor_id: str,
    now: datetime,
    main_chats: Sequence[str],
    duplicate_chats: Sequence[str],
) -> None:
    if duplicate.id == main.id:
        raise CannotMerge(duplicate.number, "same")
    for req in (main, duplicate):
        if not RULE[req.status].open:
            raise CannotMerge(req.number, "not_open")
    old = duplicate.status
    duplicate.status = Status.CLOSED
    duplicate.closed_at = duplicate.updated_at = now
    duplicate.duplicate_of_id = main.id
    duplicate.deadline_at = duplicate.remind_at = None
    session.add(
        RequestEvent(
            request_id=duplicate.id,
            kind=EventKind.STATUS,
            actor=Actor.STAFF,
            actor_id=actor_id,
            old_status=old,
            new_status=Status.CLOSED,
            text=f"duplicate of {main.number}",
            at=now,
        )
    )
    # Told while they are still the duplicate's: its resident and those who had joined it.
    await notify_resident(
        session, duplicate, "merged", now=now, desk_chats=duplicate_chats, main=main.number
    )
    followers = [duplicate.resident_id] if duplicate.resident_id is not None else []
    followers += list(
        (
            await session.scalars(
                select(RequestSubscriber.resident_id).where(
                    RequestSubscriber.request_id == duplicate.id
                )
            )
        ).all()
    )
    for resident_id in dict.fromkeys(followers):
        if resident_id == main.resident_id:
            continue
        if await session.get(RequestSubscriber, (main.id, resident_id)) is None:
            session.add(RequestSubscriber(request_id=main.id, resident_id=resident_id, at=now))
        resident = await session.get(Resident, resident_id)
        if resident is not None and resident.awaiting_request_id == duplicate.id:
            resident.awaiting_request_id = None
    main.updated_at = now
    card_refresh(session, duplicate, duplicate_chats, now=now)
    card_refresh(session, main, main_chats, now=now)
