"""What staff and residents do to a request after it is filed: status changes, replies,
reassignment, answers and feedback. Each records history and enqueues the notifications it
causes in the caller's transaction, so either all of it happens or none."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.domain.base import as_utc
from models.domain.deadlines.policy import DeadlinePolicy
from models.domain.outbox import OutboxKind, OutboxMessage, OutboxStatus, Topic, enqueue
from models.domain.status import RULE, TRANSITIONS, Status
from models.domain.subscribers import subscribers_of
from models.domain.tables import Actor, EventKind, Photo, Request, RequestEvent, Resident


class IllegalTransition(Exception):
    def __init__(self, old: Status, new: Status) -> None:
        super().__init__(f"{old} → {new}")
        self.old, self.new = old, new


def card_refresh(
    session: AsyncSession, req: Request, chats: Sequence[str], *, now: datetime
) -> None:
    """Ask for the request's card in each desk chat to be posted or edited to its current state."""
    for chat in chats:
        enqueue(
            session,
            "telegram",
            chat,
            {"request_id": req.id},
            kind=OutboxKind.CARD,
            request_id=req.id,
            now=now,
        )


def notify_desk(
    session: AsyncSession,
    req: Request,
    chats: Sequence[str],
    event: str,
    *,
    now: datetime,
    **args: Any,
) -> None:
    """A message to the department chats (e.g. a resident's comment or answer)."""
    for chat in chats:
        enqueue(
            session,
            "telegram",
            chat,
            {"event": event, "number": req.number, "request_id": req.id, **args},
            request_id=req.id,
            now=now,
        )


async def log_in_topics(
    session: AsyncSession, req: Request, chats: Sequence[str], *, now: datetime, **args: Any
) -> None:
    """What staff did, as a line in the request's topic in each forum group that has one (a
    group without topics has the card, edited in place, and no running log)."""
    if not chats:
        return
    rows = await session.execute(
        select(Topic.chat_id).where(Topic.request_id == req.id, Topic.chat_id.in_(list(chats)))
    )
    notify_desk(session, req, list(rows.scalars()), "desk_log", now=now, **args)


async def resident_of(session: AsyncSession, req: Request) -> Resident | None:
    """The resident to tell, unless they erased their data or cannot be reached."""
    if req.resident_id is None:
        return None
    resident = await session.get(Resident, req.resident_id)
    if resident is None or resident.external_id is None:
        return None
    return resident


async def notify_resident(
    session: AsyncSession,
    req: Request,
    event: str,
    *,
    now: datetime,
    desk_chats: Sequence[str] = (),
    **args: Any,
) -> bool:
    """Queue a message to the request's resident; False when it cannot go now.

    A resident who blocked the bot (or unsubscribed in Viber) gets nothing now, but the
    message is kept, as undeliverable, and goes out if they come back within
    ``limits.held_messages_days`` (``release_held``); the department is told they were not
    reached, so nobody believes the resident knows."""

    def tell(person: Resident) -> OutboxMessage:
        body = {"event": event, "number": req.number, "request_id": req.id}
        body |= {"lang": person.language or req.language, **args}
        return enqueue(
            session, person.channel, person.external_id or "", body, request_id=req.id, now=now
        )

    # Those who said "this is my problem too" hear what the resident who filed it hears.
    for follower in await subscribers_of(session, req.id):
        tell(follower)
    resident = await resident_of(session, req)
    if resident is None:
        return False
    msg = tell(resident)
    if resident.blocked_at is None:
        return True
    msg.status = OutboxStatus.UNDELIVERABLE
    msg.last_error = "held: the resident has blocked the bot or unsubscribed"
    notify_desk(session, req, desk_chats, "desk_unreachable", now=now)
    return False


async def change_status(
    session: AsyncSession,
    req: Request,
    new: Status,
    *,
    actor: Actor,
    actor_id: str | None,
    note: str | None,
    now: datetime,
    desk_chats: Sequence[str],
    policy: DeadlinePolicy | None = None,
    photos: Sequence[str] = (),
    origin: str = "",
) -> None:
    """``photos``: the department's photos of the fix, sent to the resident with the change
    and kept with the request (as proof, apart from the resident's own). ``origin``: the
    "<chat>:<topic>" staff acted in, which needs no log line of what they did there."""
    old = req.status
    if new not in TRANSITIONS[old]:
        raise IllegalTransition(old, new)
    req.status = new
    req.updated_at = now
    if policy is not None:
        policy.on_status(req, old, new, now)
    if new is Status.RESOLVED:
        req.resolved_at = now
    if RULE[new].final:
        req.closed_at = now
    if RULE[new].fresh_deadline:
        req.resolved_at = None  # resolved again later, or not at all
    session.add(
        RequestEvent(
            request_id=req.id,
            kind=EventKind.STATUS,
            actor=actor,
            actor_id=actor_id,
            old_status=old,
            new_status=new,
            text=note,
            at=now,
        )
    )
    _keep_proof(session, req, photos, actor_id=actor_id, now=now)
    resident = await resident_of(session, req)
    if resident is not None:
        if new is Status.NEEDS_INFO:
            resident.awaiting_request_id = req.id
        elif resident.awaiting_request_id == req.id:
            resident.awaiting_request_id = None
    if actor is not Actor.RESIDENT:
        extra: dict[str, Any] = {"photos": list(photos)} if photos else {}
        await notify_resident(
            session,
            req,
            "status",
            now=now,
            desk_chats=desk_chats,
            status=new.value,
            note=note,
            **extra,
        )
    card_refresh(session, req, desk_chats, now=now)
    if actor is Actor.STAFF:
        await log_in_topics(
            session,
            req,
            desk_chats,
            now=now,
            what="status",
            status=new.value,
            by=actor_id,
            text=note or "",
            photos=list(photos),
            origin=origin,
        )


def _keep_proof(
    session: AsyncSession,
    req: Request,
    photos: Sequence[str],
    *,
    actor_id: str | None,
    now: datetime,
) -> None:
    """The department's photos of the fix, each kept with the request and in its history
    (staff work in Telegram: the references are Telegram's)."""
    for ref in photos:
        session.add(
            Photo(request_id=req.id, channel="telegram", file_ref=ref, added_at=now, proof=True)
        )
        session.add(
            RequestEvent(
                request_id=req.id,
                kind=EventKind.PHOTO,
                actor=Actor.STAFF,
                actor_id=actor_id,
                text=ref,
                at=now,
            )
        )


async def add_proof(
    session: AsyncSession,
    req: Request,
    ref: str,
    *,
    actor_id: str,
    now: datetime,
    desk_chats: Sequence[str],
) -> None:
    """One more photo of the fix, after the resolution went out (the rest of an album whose
    first photo carried the text): kept, and sent to the resident on its own."""
    _keep_proof(session, req, [ref], actor_id=actor_id, now=now)
    req.updated_at = now
    await notify_resident(session, req, "proof", now=now, desk_chats=desk_chats, photos=[ref])
    card_refresh(session, req, desk_chats, now=now)


async def staff_reply(
    session: AsyncSession,
    req: Request,
    text: str,
    *,
    actor_id: str,
    now: datetime,
    desk_chats: Sequence[str],
    origin: str = "",
) -> None:
    session.add(
        RequestEvent(
            request_id=req.id,
            kind=EventKind.REPLY,
            actor=Actor.STAFF,
            actor_id=actor_id,
            text=text,
            at=now,
        )
    )
    req.updated_at = now
    await notify_resident(session, req, "reply", now=now, desk_chats=desk_chats, text=text)
    card_refresh(session, req, desk_chats, now=now)
    await log_in_topics(
        session,
        req,
        desk_chats,
        now=now,
        what="reply",
        by=actor_id,
        text=text,
        origin=origin,
    )


async def reassign(
    session: AsyncSession,
    req: Request,
    department: str,
    *,
    actor_id: str,
    note: str | None,
    now: datetime,
    old_chats: Sequence[str],
    new_chats: Sequence[str],
) -> None:
    """Route to another department; it receives the card, the old one sees it leave."""
    old_department = req.department
    old_status = req.status
    req.department = department
    req.status = RULE[req.status].reassigned_to or req.status
    req.updated_at = now
    session.add(
        RequestEvent(
            request_id=req.id,
            kind=EventKind.REASSIGNED,
            actor=Actor.STAFF,
            actor_id=actor_id,
            old_status=old_status,
            new_status=req.status,
            text=f"{old_department} → {department}" + (f": {note}" if note else ""),
            at=now,
        )
    )
    await notify_resident(
        session, req, "reassigned", now=now, desk_chats=new_chats, department=department
    )
    card_refresh(session, req, list(dict.fromkeys([*old_chats, *new_chats])), now=now)


async def set_deadline(
    session: AsyncSession,
    req: Request,
    new: datetime,
    *,
    actor_id: str,
    reason: str,
    now: datetime,
    desk_chats: Sequence[str],
    policy: DeadlinePolicy,
) -> None:
    """Staff move the deadline (range and access are the caller's to check): the clock takes
    the new date (``DeadlinePolicy.move``), the history says from what to what and why, the
    resident is told and the card shows it."""
    old = req.deadline_at

    def local(value: datetime) -> str:  # as staff read times: 03.12.2026 18:00, city time
        return as_utc(value).astimezone(policy.tz).strftime("%d.%m.%Y %H:%M")

    policy.move(req, new, now)
    session.add(
        RequestEvent(
            request_id=req.id,
            kind=EventKind.DEADLINE,
            actor=Actor.STAFF,
            actor_id=actor_id,
            text=f"{local(old) if old else '—'} → {local(new)}: {reason}",
            at=now,
        )
    )
    await notify_resident(
        session, req, "deadline", now=now, deadline=new.isoformat(), reason=reason
    )
    card_refresh(session, req, desk_chats, now=now)
