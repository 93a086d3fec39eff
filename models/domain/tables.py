"""The tables: residents, their dialog state, requests with photos and history, counters."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.domain.base import Base, utcnow
from models.domain.status import OPEN_STATUS_SQL, Status


class EventKind(enum.StrEnum):
    CREATED = "created"
    STATUS = "status"
    COMMENT = "comment"
    PHOTO = "photo"
    VOICE = "voice"  # a voice message the resident added (text: the audio's reference)
    REPLY = "reply"
    REASSIGNED = "reassigned"
    DEADLINE = "deadline"
    RATING = "rating"
    ANONYMISED = "anonymised"


class Actor(enum.StrEnum):
    RESIDENT = "resident"
    STAFF = "staff"
    SYSTEM = "system"


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # Stored as plain strings (no native PG enum) so adding a value needs no type migration.
    return Enum(
        cls,
        name=name,
        native_enum=False,
        length=24,
        validate_strings=True,
        values_callable=lambda e: [m.value for m in e],
    )


class Resident(Base):
    __tablename__ = "residents"
    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_residents_channel_ext"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    # Null once the resident asked to be forgotten: the chat link is personal data.
    external_id: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(8))
    name: Mapped[str | None] = mapped_column(String(128))
    phone: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    forgotten_at: Mapped[datetime | None] = mapped_column(default=None)
    # Set when the resident blocked the bot (Telegram 403) or unsubscribed (Viber).
    blocked_at: Mapped[datetime | None] = mapped_column(default=None)
    # A department asked a question: the resident's next message answers it.
    awaiting_request_id: Mapped[int | None] = mapped_column(Integer, default=None)


class DialogState(Base):
    """Where a resident is in the conversation and their unfinished draft; survives restarts."""

    __tablename__ = "dialog_states"

    resident_id: Mapped[int] = mapped_column(
        ForeignKey("residents.id", ondelete="CASCADE"), primary_key=True
    )
    step: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # [payload, label] of the buttons last shown, so a press on an older message is recognised
    # and a label typed back by a phone keyboard maps to its button.
    offered: Mapped[list[list[str]]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Counter(Base):
    """Per-year sequence for human-friendly request numbers (2026-000123)."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class Request(Base):
    __tablename__ = "requests"
    __table_args__ = (
        Index("ix_requests_resident_created", "resident_id", "created_at"),
        Index("ix_requests_department_status", "department", "status"),
        Index("ix_requests_status_deadline", "status", "deadline_at"),
        Index("ix_requests_status_remind", "status", "remind_at"),
        # A department's queue, oldest first; statistics and exports by filing date; the
        # digest's "resolved yesterday"; /find by phone (bench/storage measured each).
        Index("ix_requests_dept_status_created", "department", "status", "created_at"),
        Index("ix_requests_created", "created_at"),
        Index("ix_requests_resolved", "resolved_at"),
        Index("ix_requests_phone", "phone"),
        # Migration 0005: the open requests only, oldest first (the queues and their counts);
        # /find by address on PostgreSQL (pg_trgm; on SQLite the FTS5 table requests_fts,
        # which is not on this metadata). The migration skips the trigram index where the
        # extension may not be created.
        Index(
            "ix_requests_open_created",
            "created_at",
            "id",
            sqlite_where=text(OPEN_STATUS_SQL),
            postgresql_where=text(OPEN_STATUS_SQL),
        ),
        Index(
            "ix_requests_open_dept_created",
            "department",
            "created_at",
            "id",
            sqlite_where=text(OPEN_STATUS_SQL),
            postgresql_where=text(OPEN_STATUS_SQL),
        ),
        # Migration 0014: "this is my problem too" looks up the open requests of a category
        # at one building (place_key, models/domain/addresses.py) or near a pin.
        Index("ix_requests_category_place", "category", "place_key"),
        Index("ix_requests_category_lat", "category", "latitude"),
        Index(
            "ix_requests_address_trgm",
            "address",
            postgresql_using="gin",
            postgresql_ops={"address": "gin_trgm_ops"},
        ).ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(16), unique=True)
    resident_id: Mapped[int | None] = mapped_column(
        ForeignKey("residents.id", ondelete="SET NULL"), index=False
    )
    channel: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(8))
    category: Mapped[str] = mapped_column(String(24))
    subcategory: Mapped[str | None] = mapped_column(String(24))
    department: Mapped[str] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(String(500))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    # The typed address's street and building, as compared (addresses.place_key).
    place_key: Mapped[str | None] = mapped_column(String(200), default=None)
    # Closed as a duplicate of another request (/merge): its residents follow that one.
    duplicate_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("requests.id", ondelete="SET NULL"), default=None
    )
    description: Mapped[str | None] = mapped_column(Text)
    # The category's extra questions answered when filing: {question key: option key}.
    answers: Mapped[dict[str, str] | None] = mapped_column(JSON, default=None)
    # A voice message as the description (or with it): the channel's reference to the audio,
    # its length, and what a speech recogniser made of it (for staff, never instead of it).
    voice: Mapped[str | None] = mapped_column(String(255), default=None)
    voice_seconds: Mapped[int | None] = mapped_column(Integer, default=None)
    voice_transcript: Mapped[str | None] = mapped_column(Text, default=None)
    phone: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[Status] = mapped_column(_enum(Status, "request_status"), default=Status.NEW)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    rating: Mapped[int | None] = mapped_column(Integer, default=None)
    priority: Mapped[str] = mapped_column(String(16), default="normal", server_default="normal")
    # Deadline bookkeeping (see models/deadlines.py): when it is due, when the department is
    # reminded, and what is left while the clock is stopped waiting for the resident.
    deadline_at: Mapped[datetime | None] = mapped_column(default=None)
    remind_at: Mapped[datetime | None] = mapped_column(default=None)
    reminded_at: Mapped[datetime | None] = mapped_column(default=None)
    escalated_at: Mapped[datetime | None] = mapped_column(default=None)
    escalations: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    paused_remaining_s: Mapped[float | None] = mapped_column(Float, default=None)
    paused_remind_s: Mapped[float | None] = mapped_column(Float, default=None)
    # Since when the city waits for the resident (needs info, or resolved awaiting "fixed?").
    waiting_since: Mapped[datetime | None] = mapped_column(default=None)
    # A follow-up to the resident (unanswered "Is it fixed?" or question) was sent at…
    followup_at: Mapped[datetime | None] = mapped_column(default=None)

    photos: Mapped[list[Photo]] = relationship(
        back_populates="request", order_by="Photo.id", cascade="all, delete-orphan"
    )
    duplicate_of: Mapped[Request | None] = relationship(
        remote_side="Request.id", lazy="raise", viewonly=True
    )
    # Loaded where shown (the card); the database removes them with the request.
    subscribers: Mapped[list[RequestSubscriber]] = relationship(
        order_by="RequestSubscriber.at", lazy="raise", viewonly=True
    )
    events: Mapped[list[RequestEvent]] = relationship(
        back_populates="request", order_by="RequestEvent.id", cascade="all, delete-orphan"
    )


class RequestSubscriber(Base):
    """A resident who said "this is my problem too" (or whose request was merged into this
    one): told every change, as the resident who filed it is."""

    __tablename__ = "request_subscribers"

    request_id: Mapped[int] = mapped_column(
        ForeignKey("requests.id", ondelete="CASCADE"), primary_key=True
    )
    resident_id: Mapped[int] = mapped_column(
        ForeignKey("residents.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Photo(Base):
    __tablename__ = "photos"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("requests.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(16))
    # Telegram file_id, or a path in the media folder for channels whose URLs expire.
    file_ref: Mapped[str] = mapped_column(String(512))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A photo of the fix, sent by the department with its resolution (else the resident's).
    proof: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))

    request: Mapped[Request] = relationship(back_populates="photos")


class RequestEvent(Base):
    """One line of a request's history: who did what, when, and the status before and after."""

    __tablename__ = "request_events"
    # The quality figures read a period's status changes and ratings (models/storage/quality.py).
    __table_args__ = (Index("ix_request_events_kind_at", "kind", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("requests.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[EventKind] = mapped_column(_enum(EventKind, "event_kind"))
    actor: Mapped[Actor] = mapped_column(_enum(Actor, "event_actor"))
    actor_id: Mapped[str | None] = mapped_column(String(64))
    old_status: Mapped[Status | None] = mapped_column(_enum(Status, "event_old_status"))
    new_status: Mapped[Status | None] = mapped_column(_enum(Status, "event_new_status"))
    text: Mapped[str | None] = mapped_column(Text)

    request: Mapped[Request] = relationship(back_populates="events")


class SeenUpdate(Base):
    """Updates already handled, so a webhook re-delivery is not acted on twice."""

    __tablename__ = "seen_updates"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class JobRun(Base):
    """The last slot a periodic job (e.g. the daily digest) was done for, claimed atomically
    so two schedulers or a restart never do it twice."""

    __tablename__ = "job_runs"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_slot: Mapped[datetime]


class DigestChart(Base):
    """The picture of a day's digest, kept with the messages that show it: whichever worker
    sends them (another machine, after a restart) finds it here, not in a local file."""

    __tablename__ = "digest_charts"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    png: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
