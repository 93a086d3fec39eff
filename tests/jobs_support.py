"""Shared by the jobs and digest tests: settings with chats, heads and admins filled in, a clock
the test moves by hand, requests written straight into the database, and what recipients get
(the outbox rendered as the delivery worker renders it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from handlers.i18n import Translator, to_plain, translator
from handlers.outbound.jobs import Jobs
from handlers.outbound.notifications import render_notification
from handlers.types import Reply
from models.domain.deadlines.policy import DeadlinePolicy
from models.domain.outbox import OutboxKind, OutboxMessage
from models.domain.status import Status
from models.domain.tables import Actor, EventKind, Request, RequestEvent, Resident

KYIV = ZoneInfo("Europe/Kyiv")
LIGHTING_CHAT = "-100111"
ROADS_CHAT = "-100222"
OPERATORS_CHAT = "-100999"
LIGHTING_HEAD = "800001"
ADMIN = "700001"
RESIDENT = "1001"


def local(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    """A wall-clock moment in the city, as UTC."""
    return datetime(y, m, d, hh, mm, tzinfo=KYIV).astimezone(UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def move(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def job_settings(
    settings: Settings,
    *,
    staff_language: str = "en",
    admins: tuple[str, ...] = (),
    **deadlines: Any,
) -> Settings:
    """bot.toml with the lighting and roads chats, a head of lighting, the operators' chat."""
    chats = {"lighting": int(LIGHTING_CHAT), "roads": int(ROADS_CHAT)}
    departments = [
        d.model_copy(
            update={
                "telegram_chat_id": chats.get(d.code),
                "head_telegram_ids": [int(LIGHTING_HEAD)] if d.code == "lighting" else [],
                "working_hours": None,
            }
        )
        for d in settings.departments
    ]
    staff = settings.staff.model_copy(
        update={
            "admins": [int(a) for a in admins],
            "operators_chat_id": int(OPERATORS_CHAT),
            "language": staff_language,
        }
    )
    dl = settings.deadlines.model_copy(
        update={
            "default": "7d",
            "reminder_share": 0.75,
            "escalation_repeat_hours": 24,
            "digest_time": time(9, 0),
            "fix_followup_days": 3,
            "needinfo_followup_days": 7,
            **deadlines,
        }
    )
    categories = [c.model_copy(update={"deadline": None}) for c in settings.categories]
    city = settings.city.model_copy(update={"timezone": "Europe/Kyiv"})
    return settings.model_copy(
        update={
            "departments": departments,
            "staff": staff,
            "deadlines": dl,
            "categories": categories,
            "city": city,
        }
    )


def policy(settings: Settings) -> DeadlinePolicy:
    return DeadlinePolicy(
        tz=ZoneInfo(settings.city.timezone),
        span=settings.deadline_for,
        hours=settings.working_hours,
        share=settings.deadlines.reminder_share,
    )


def make_jobs(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: Clock,
    kicks: list[int] | None = None,
) -> Jobs:
    return Jobs(
        sessions,
        settings,
        translator(),
        clock=clock,
        on_enqueued=(lambda: kicks.append(1)) if kicks is not None else None,
    )


_numbers = iter(range(1, 1_000_000))


@dataclass
class Made:
    id: int
    number: str


async def add(
    sessions: async_sessionmaker[AsyncSession],
    *,
    department: str = "lighting",
    category: str = "lighting",
    status: Status = Status.NEW,
    created: datetime,
    deadline: datetime | None = None,
    remind: datetime | None = None,
    resolved: datetime | None = None,
    waiting_since: datetime | None = None,
    question: str | None = None,
    resident: str = RESIDENT,
    channel: str = "telegram",
    lang: str = "en",
    number: str | None = None,
    start_clock: Settings | None = None,
) -> Made:
    """A request written straight into the database, its deadline set as given (or by the
    deadline policy of ``start_clock``)."""
    async with sessions() as session, session.begin():
        person = (
            await session.execute(
                select(Resident).where(
                    Resident.channel == channel, Resident.external_id == resident
                )
            )
        ).scalar_one_or_none()
        if person is None:
            person = Resident(channel=channel, external_id=resident, language=lang)
            session.add(person)
            await session.flush()
        req = Request(
            number=number or f"2026-{next(_numbers) + 100:06d}",
            resident_id=person.id,
            channel=channel,
            language=lang,
            category=category,
            department=department,
            address="Test street, 1",
            description="A problem to test the jobs with",
            status=status,
            created_at=created,
            updated_at=created,
            deadline_at=deadline,
            remind_at=remind,
            resolved_at=resolved,
            waiting_since=waiting_since,
        )
        if start_clock is not None:
            policy(start_clock).start(req, created)
        session.add(req)
        await session.flush()
        if status is Status.NEEDS_INFO:
            session.add(
                RequestEvent(
                    request_id=req.id,
                    kind=EventKind.STATUS,
                    actor=Actor.STAFF,
                    actor_id="1",
                    old_status=Status.IN_PROGRESS,
                    new_status=Status.NEEDS_INFO,
                    text=question,
                    at=waiting_since or created,
                )
            )
            person.awaiting_request_id = req.id
        return Made(req.id, req.number)


@dataclass
class Got:
    """One outbox row as its recipient gets it."""

    id: int
    channel: str
    recipient: str
    kind: OutboxKind
    body: dict[str, Any]
    reply: Reply | None  # None for a card (rendered from the request when sent)

    @property
    def event(self) -> str:
        return str(self.body.get("event", "card"))

    @property
    def text(self) -> str:
        return to_plain(self.reply.text) if self.reply else ""


async def outbox(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    tr: Translator | None = None,
    *,
    after: int = 0,
) -> list[Got]:
    tr = tr or translator()
    async with sessions() as session:
        rows = (
            await session.execute(
                select(OutboxMessage).where(OutboxMessage.id > after).order_by(OutboxMessage.id)
            )
        ).scalars()
        return [
            Got(
                m.id,
                m.channel,
                m.recipient,
                m.kind,
                m.body,
                render_notification(settings, tr, m.body) if m.kind is OutboxKind.MESSAGE else None,
            )
            for m in rows
        ]


def of(got: list[Got], *events: str) -> list[Got]:
    return [g for g in got if g.event in events]


async def load(sessions: async_sessionmaker[AsyncSession], rid: int) -> Request:
    async with sessions() as session:
        req = await session.get(Request, rid)
        assert req is not None
        return req


async def events_of(sessions: async_sessionmaker[AsyncSession], rid: int) -> list[RequestEvent]:
    async with sessions() as session:
        return list(
            (
                await session.execute(
                    select(RequestEvent)
                    .where(RequestEvent.request_id == rid)
                    .order_by(RequestEvent.id)
                )
            ).scalars()
        )
