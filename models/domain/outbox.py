"""The outbox: every notification is a row written in the same transaction as the change that
causes it; the delivery worker sends it later. A crash, a restart or a messenger outage loses
nothing, and one row is one message, so nothing is sent twice in normal operation."""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.domain.base import Base, utcnow
from models.domain.tables import Resident, _enum


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # gave up after the configured attempts, or refused for good
    UNDELIVERABLE = "undeliverable"  # the recipient blocked the bot / unsubscribed
    WAITING = "waiting"  # for the resident's next message (over the cap of billed messages)


class OutboxKind(enum.StrEnum):
    MESSAGE = "message"  # a rendered Reply in ``body``
    CARD = "card"  # a department chat's card of a request, rendered when sent


class OutboxMessage(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "not_before"),
        Index("ix_outbox_recipient", "channel", "recipient", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(64))
    kind: Mapped[OutboxKind] = mapped_column(_enum(OutboxKind, "outbox_kind"))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    request_id: Mapped[int | None] = mapped_column(
        ForeignKey("requests.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[OutboxStatus] = mapped_column(
        _enum(OutboxStatus, "outbox_status"), default=OutboxStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    not_before: Mapped[datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(default=None)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text)
    # Viber: sent outside the 24-hour session a resident's own message opens (billed), and
    # the billing_status Viber answered. None where it does not apply.
    bot_initiated: Mapped[bool | None] = mapped_column(Boolean, default=None)
    billing_status: Mapped[int | None] = mapped_column(Integer, default=None)


ENQUEUED = "outbox_enqueued"


def enqueue(
    session: AsyncSession,
    channel: str,
    recipient: str,
    body: dict[str, Any],
    *,
    kind: OutboxKind = OutboxKind.MESSAGE,
    request_id: int | None = None,
    now: datetime | None = None,
) -> OutboxMessage:
    now = now or utcnow()
    msg = OutboxMessage(
        channel=channel,
        recipient=recipient,
        kind=kind,
        body=body,
        request_id=request_id,
        status=OutboxStatus.PENDING,
        attempts=0,
        created_at=now,
        not_before=now,
    )
    session.add(msg)
    session.info[ENQUEUED] = True
    return msg


def enqueued(session: AsyncSession) -> bool:
    """Whether this session's transaction put anything into the outbox (the delivery worker
    needs waking only then)."""
    return bool(session.info.get(ENQUEUED))


async def claim_due(
    session: AsyncSession, *, now: datetime, lease: timedelta, limit: int
) -> list[OutboxMessage]:
    """Take up to ``limit`` due messages for ``lease``; a worker that dies loses its lease and
    the messages become due again."""
    due = (
        select(OutboxMessage.id)
        .where(
            OutboxMessage.status == OutboxStatus.PENDING,
            OutboxMessage.not_before <= now,
            (OutboxMessage.locked_until.is_(None)) | (OutboxMessage.locked_until <= now),
        )
        .order_by(OutboxMessage.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    rows = (
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(due.scalar_subquery()))
            .values(locked_until=now + lease)
            .returning(OutboxMessage)
            .execution_options(synchronize_session=False)
        )
    ).scalars()
    return sorted(rows, key=lambda m: m.id)


async def pending_count(session: AsyncSession) -> int:
    return int(
        (
            await session.execute(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status == OutboxStatus.PENDING)
            )
        ).scalar_one()
    )


async def mark(
    session: AsyncSession,
    msg_id: int,
    *,
    status: OutboxStatus,
    now: datetime,
    attempts: int,
    not_before: datetime | None = None,
    error: str | None = None,
    bot_initiated: bool | None = None,
    billing_status: int | None = None,
) -> None:
    values: dict[str, Any] = {"status": status, "attempts": attempts, "locked_until": None}
    if bot_initiated is not None:
        values["bot_initiated"] = bot_initiated
    if billing_status is not None:
        values["billing_status"] = billing_status
    if status is OutboxStatus.SENT:
        values["sent_at"] = now
    if not_before is not None:
        values["not_before"] = not_before
    if error is not None:
        values["last_error"] = error[:1000]
    await session.execute(update(OutboxMessage).where(OutboxMessage.id == msg_id).values(**values))


class Card(Base):
    """Where a request's card was posted, so later changes edit it in place."""

    __tablename__ = "cards"

    request_id: Mapped[int] = mapped_column(
        ForeignKey("requests.id", ondelete="CASCADE"), primary_key=True
    )
    chat_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Topic(Base):
    """A request's own topic in a forum group (Telegram: a thread id), where its card and
    everything said about it go; closed while the request is not open."""

    __tablename__ = "request_topics"

    request_id: Mapped[int] = mapped_column(
        ForeignKey("requests.id", ondelete="CASCADE"), primary_key=True
    )
    chat_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    thread_id: Mapped[str] = mapped_column(String(32))
    closed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))

    __table_args__ = (Index("ix_request_topics_chat_thread", "chat_id", "thread_id"),)


async def topic_request(session: AsyncSession, chat_id: str, thread_id: str) -> int | None:
    """The request whose topic a message in a forum group was written in."""
    return (
        await session.execute(
            select(Topic.request_id).where(Topic.chat_id == chat_id, Topic.thread_id == thread_id)
        )
    ).scalar_one_or_none()


async def mark_gone(
    session: AsyncSession, channel: str, recipient: str, now: datetime, error: str
) -> None:
    """The resident blocked the bot: mark them, and give up on everything still waiting for
    them (new notifications are not queued until they write again)."""
    await session.execute(
        update(Resident)
        .where(Resident.channel == channel, Resident.external_id == recipient)
        .values(blocked_at=now)
    )
    await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.channel == channel,
            OutboxMessage.recipient == recipient,
            OutboxMessage.status == OutboxStatus.PENDING,
        )
        .values(
            status=OutboxStatus.UNDELIVERABLE,
            locked_until=None,
            last_error=f"not sent: {error}"[:1000],
        )
    )


async def release_waiting(
    session: AsyncSession, channel: str, recipient: str, *, now: datetime
) -> int:
    """The resident wrote: what waited for their next message goes out now, inside the
    session their message opened."""
    return await _requeue(
        session, channel, recipient, now, OutboxMessage.status == OutboxStatus.WAITING
    )


async def release_held(
    session: AsyncSession, channel: str, recipient: str, *, since: datetime, now: datetime
) -> int:
    """The resident is reachable again (wrote to the bot, subscribed again in Viber): what was
    kept for them since ``since`` goes out now, in order; older messages stay undelivered."""
    return await _requeue(
        session,
        channel,
        recipient,
        now,
        OutboxMessage.status == OutboxStatus.UNDELIVERABLE,
        OutboxMessage.kind == OutboxKind.MESSAGE,
        OutboxMessage.created_at >= since,
    )


async def _requeue(
    session: AsyncSession, channel: str, recipient: str, now: datetime, *where: Any
) -> int:
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.channel == channel, OutboxMessage.recipient == recipient, *where)
        .values(status=OutboxStatus.PENDING, locked_until=None, not_before=now, attempts=0)
        .execution_options(synchronize_session=False)
    )
    released = int(getattr(result, "rowcount", 0) or 0)
    if released:
        session.info[ENQUEUED] = True
    return released
