"""The periodic work that holds departments to account: reminders, escalations, follow-ups to
residents, and the daily digest. ``Jobs.scan()`` does all of it once; bot/scheduler.py calls
it every ``[deadlines] scan_seconds``.

Every step is an atomic claim (models/scheduling.py) in its own transaction, together with the
messages it causes (written to the outbox): either a request is marked done *and* its messages
are queued, or neither. So a scan can be repeated, run late, run after a restart or run by two
processes at once, and each reminder, escalation, follow-up and digest still goes out once.

The rules:
- **Reminder**: when ``reminder_share`` of a request's time has passed (``remind_at``), its desk
  chats (the department's and the operators') are reminded, once. A reminder found only after
  the deadline has passed (the bot was down) is not sent: the escalation says more.
- **Escalation**: an overdue request (the clock runs and the deadline has passed) is reported to
  the department's chat, the department heads' private chats and the operators' chat, and
  again every ``escalation_repeat_hours`` until it is resolved (or waits for the resident); its
  card is refreshed each time so it shows that it is overdue.
- **"Is it fixed?" unanswered** for ``fix_followup_days`` after *resolved*: the resident is asked
  once more, with the Yes / No buttons. Unanswered for another ``fix_followup_days``: the
  request is closed as resolved without confirmation (actor: system, with a note in the
  resident's language), the resident is told (the status message with the note) and so are the
  desk chats.
- **A department's question unanswered** for ``needinfo_followup_days``: the resident is reminded
  once (with the question; their next message answers it). Unanswered for another
  ``needinfo_followup_days``: the request is closed with that reason, resident and desk told.
- **Daily digest** at ``digest_time`` in the city's time zone: claimed with
  ``claim_slot("digest", today's digest time in UTC)``, so it goes out once per day whatever
  restarts or second schedulers there are. A bot that was down across the digest time sends it
  when it is back, the same day (the first scan after the time); digests of earlier days that
  were missed entirely are skipped, not sent late: yesterday's figures are in today's digest.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handlers.i18n import Translator
from handlers.outbound.digest import (
    CHARTS_KEPT,
    admin_chats,
    department_text,
    digest_body,
    digest_slot,
    gather,
    make_chart,
    overview_text,
)
from handlers.outbound.weekly import WEEKLY_JOB, weekly_slot, weekly_text
from models.domain.base import as_utc, utcnow
from models.domain.city import CityConfig
from models.domain.deadlines.policy import policy_for
from models.domain.lifecycle import (
    card_refresh,
    change_status,
    notify_desk,
    notify_resident,
    resident_of,
)
from models.domain.outbox import enqueue
from models.domain.scheduling import (
    claim_escalations,
    claim_expired,
    claim_followups,
    claim_reminders,
    claim_slot,
)
from models.domain.status import Status
from models.domain.tables import Actor, EventKind, JobRun, Request, RequestEvent
from models.storage.dedupe import SEEN_KEPT, forget_seen_before
from models.storage.digest_queries import keep_chart
from models.storage.migrate import optimize
from models.storage.quality import quality

log = logging.getLogger(__name__)

DIGEST_JOB = "digest"


def _iso(value: datetime | None) -> str | None:
    return as_utc(value).isoformat() if value is not None else None


class Jobs:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: CityConfig,
        tr: Translator,
        clock: Callable[[], datetime] = utcnow,
        on_enqueued: Callable[[], None] | None = None,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.tr = tr
        self.clock = clock
        self.on_enqueued = on_enqueued
        self._busy = asyncio.Lock()
        cfg = settings.deadlines
        self.repeat = timedelta(hours=cfg.escalation_repeat_hours)
        self.fix_after = timedelta(days=cfg.fix_followup_days)
        self.needinfo_after = timedelta(days=cfg.needinfo_followup_days)

    async def scan(self) -> dict[str, int]:
        """Do everything that is due; returns how many requests (or digests) each step took.

        A step that fails is logged and rolled back as a whole; its work stays due and is tried
        again at the next scan, and the other steps go on.
        """
        async with self._busy:
            now = self.clock().astimezone(UTC)
            steps: list[tuple[str, Callable[[datetime], Awaitable[int]]]] = [
                ("reminders", self.reminders),
                ("escalations", self.escalations),
                ("fix_followups", self.fix_followups),
                ("fix_closed", self.fix_expired),
                ("needinfo_followups", self.needinfo_followups),
                ("needinfo_closed", self.needinfo_expired),
                ("digest", self.digest),
                ("weekly_ranking", self.weekly_ranking),
                ("seen_updates", self.forget_seen),
            ]
            done: dict[str, int] = {}
            for name, step in steps:
                try:
                    done[name] = await step(now)
                except Exception:
                    log.exception("scan: %s failed; it is tried again at the next scan", name)
                    done[name] = 0
                    continue
                if done[name]:
                    log.info("scan: %s: %s", name, done[name])
                    if self.on_enqueued is not None:
                        self.on_enqueued()
            return done

    async def idle(self) -> None:
        """Wait until a scan in progress (if any) has finished."""
        async with self._busy:
            return

    async def forget_seen(self, now: datetime) -> int:
        """Update ids past any re-delivery: without this the table grows with every event."""
        async with self.sessions() as session, session.begin():
            return await forget_seen_before(session, now - SEEN_KEPT)

    # --- the department ------------------------------------------------------------------

    async def reminders(self, now: datetime) -> int:
        async with self.sessions() as session, session.begin():
            claimed = await claim_reminders(session, now)
            for req in claimed:
                if req.deadline_at is not None and as_utc(req.deadline_at) <= now:
                    continue  # already overdue: the escalation tells them
                notify_desk(
                    session,
                    req,
                    self.settings.desk_chats(req.department),
                    "desk_reminder",
                    now=now,
                    deadline=_iso(req.deadline_at),
                    department=req.department,
                )
        return len(claimed)

    async def escalations(self, now: datetime) -> int:
        async with self.sessions() as session, session.begin():
            claimed = await claim_escalations(session, now, self.repeat)
            for req in claimed:
                notify_desk(
                    session,
                    req,
                    self.settings.escalation_chats(req.department),
                    "desk_overdue",
                    now=now,
                    deadline=_iso(req.deadline_at),
                    escalations=req.escalations,
                    department=req.department,
                )
                card_refresh(session, req, self.settings.desk_chats(req.department), now=now)
        return len(claimed)

    # --- the resident --------------------------------------------------------------------

    async def fix_followups(self, now: datetime) -> int:
        async with self.sessions() as session, session.begin():
            claimed = await claim_followups(session, now, Status.RESOLVED, self.fix_after)
            for req in claimed:
                await notify_resident(
                    session, req, "fix_followup", now=now, close_at=_iso(now + self.fix_after)
                )
        return len(claimed)

    async def fix_expired(self, now: datetime) -> int:
        async with self.sessions() as session, session.begin():
            claimed = await claim_expired(session, now, Status.RESOLVED, self.fix_after)
            for req in claimed:
                await self._close(
                    session, req, now, "jobs.closed_unconfirmed", "desk_closed_unconfirmed"
                )
        return len(claimed)

    async def needinfo_followups(self, now: datetime) -> int:
        async with self.sessions() as session, session.begin():
            claimed = await claim_followups(session, now, Status.NEEDS_INFO, self.needinfo_after)
            for req in claimed:
                await notify_resident(
                    session,
                    req,
                    "needinfo_followup",
                    now=now,
                    question=await _last_question(session, req),
                    close_at=_iso(now + self.needinfo_after),
                )
                resident = await resident_of(session, req)
                if resident is not None:
                    # Asked again: the resident's next message answers this request.
                    resident.awaiting_request_id = req.id
        return len(claimed)

    async def needinfo_expired(self, now: datetime) -> int:
        async with self.sessions() as session, session.begin():
            claimed = await claim_expired(session, now, Status.NEEDS_INFO, self.needinfo_after)
            for req in claimed:
                await self._close(
                    session, req, now, "jobs.closed_no_answer", "desk_closed_no_answer"
                )
        return len(claimed)

    async def _close(
        self, session: AsyncSession, req: Request, now: datetime, note_key: str, desk_event: str
    ) -> None:
        resident = await resident_of(session, req)
        lang = (resident.language if resident else None) or req.language
        chats = self.settings.desk_chats(req.department)
        await change_status(
            session,
            req,
            Status.CLOSED,
            actor=Actor.SYSTEM,
            actor_id=None,
            # Sent to the resident with the status and kept in the history they read.
            note=self.tr.plain(lang, note_key),
            now=now,
            desk_chats=chats,
            policy=policy_for(self.settings),
        )
        notify_desk(session, req, chats, desk_event, now=now)

    # --- the digest ----------------------------------------------------------------------

    async def weekly_ranking(self, now: datetime) -> int:
        return await _weekly_ranking(self, now)

    async def digest(self, now: datetime) -> int:
        """Today's digest, once, at or after its time; returns the number of messages."""
        slot = digest_slot(self.settings, now)
        if now < slot:
            return 0  # not yet; a day whose time passed while the bot was down is not sent
        async with self.sessions() as session:
            if await _slot_taken(session, slot):
                return 0  # a cheap look first; the claim below is what decides
            data = await gather(session, self.settings, now)
            admins = await admin_chats(session, self.settings)
            await session.rollback()
        chart: bytes | None = None
        if admins:
            # Drawn before the claim and outside any transaction: a chart takes a moment, and
            # SQLite would hold every writer back meanwhile. Without a chart, the text still goes.
            try:
                chart = await asyncio.to_thread(make_chart, self.settings, self.tr, data)
            except Exception:
                log.exception("digest chart failed; the digest goes without it")
        messages: list[tuple[str, dict[str, object]]] = []
        for dept in self.settings.departments:
            if dept.telegram_chat_id is None:
                continue
            text = department_text(self.settings, self.tr, data, dept.code)
            if text is not None:
                messages.append((str(dept.telegram_chat_id), digest_body(self.settings, text)))
        overview = overview_text(self.settings, self.tr, data)
        chart_day = data.day if chart is not None else None
        messages += [(chat, digest_body(self.settings, overview, chart_day)) for chat in admins]
        async with self.sessions() as session, session.begin():
            if not await claim_slot(session, DIGEST_JOB, slot):
                return 0
            if chart is not None:
                await keep_chart(session, data.day, chart, since=data.day - CHARTS_KEPT)
            for chat, body in messages:
                enqueue(session, "telegram", chat, body, now=now)
        log.info("digest for %s: %s messages", data.day, len(messages))
        try:  # the daily upkeep of the planner's statistics rides on the once-a-day claim
            async with self.sessions() as session, session.begin():
                await optimize(session)
        except Exception:
            log.exception("daily PRAGMA optimize failed; the digest went out all the same")
        return len(messages)


async def _weekly_ranking(jobs: Jobs, now: datetime) -> int:
    """This week's ranking to the administrators, once, on Monday at or after the digest time."""
    slot = weekly_slot(jobs.settings, now)
    if now < slot or now - slot > timedelta(days=1):
        return 0  # not Monday's time yet, or a Monday missed while down: not sent late
    since = slot - timedelta(days=7)
    async with jobs.sessions() as session, session.begin():
        if not await claim_slot(session, WEEKLY_JOB, slot):
            return 0
        figures = await quality(session, since, slot, now)
        admins = await admin_chats(session, jobs.settings)
        text = weekly_text(jobs.settings, jobs.tr, figures, since)
        body = {**digest_body(jobs.settings, text), "event": "weekly"}
        for chat in admins:
            enqueue(session, "telegram", chat, body, now=now)
    return len(admins)


async def _slot_taken(session: AsyncSession, slot: datetime) -> bool:
    last = (
        await session.execute(select(JobRun.last_slot).where(JobRun.name == DIGEST_JOB))
    ).scalar_one_or_none()
    return last is not None and as_utc(last) >= slot


async def _last_question(session: AsyncSession, req: Request) -> str:
    """The department's latest question to the resident (the note of the needs-info change)."""
    text = (
        await session.execute(
            select(RequestEvent.text)
            .where(
                RequestEvent.request_id == req.id,
                RequestEvent.kind == EventKind.STATUS,
                RequestEvent.new_status == Status.NEEDS_INFO,
            )
            .order_by(RequestEvent.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    return text or ""
