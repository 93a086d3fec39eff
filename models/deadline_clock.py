"""Keeping a request's deadline as its status changes: started when it is filed, stopped while
the city waits for the resident, started afresh when the resident reopens it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from models.base import as_utc
from models.deadlines import Span, WorkingHours, due, remind_at, resume, working_between
from models.entities import Request, Status


@dataclass(frozen=True)
class DeadlinePolicy:
    """What the configuration says about deadlines, in the terms the clock needs."""

    tz: ZoneInfo
    span: Callable[[str, str | None], Span]  # (category, subcategory) → how long
    hours: Callable[[str], WorkingHours | None]  # department → its working hours
    share: float  # of the time, when the department is reminded

    def start(self, req: Request, now: datetime) -> None:
        hours = self.hours(req.department)
        req.deadline_at = due(now, self.span(req.category, req.subcategory), self.tz, hours)
        req.remind_at = remind_at(now, req.deadline_at, self.share, self.tz, hours)
        req.reminded_at = None
        req.escalated_at = None
        req.escalations = 0
        req.paused_remaining_s = req.paused_remind_s = None

    def on_status(self, req: Request, old: Status, new: Status, now: datetime) -> None:
        if new in (Status.NEEDS_INFO, Status.RESOLVED):
            req.waiting_since = now
            req.followup_at = None
        elif old in (Status.NEEDS_INFO, Status.RESOLVED):
            req.waiting_since = None
            req.followup_at = None
        if new is Status.NEEDS_INFO:
            self._pause(req, now)
        elif old is Status.NEEDS_INFO and new is not Status.RESOLVED:
            self._resume(req, now)
        if new is Status.REOPENED:
            self.start(req, now)

    def _pause(self, req: Request, now: datetime) -> None:
        if req.deadline_at is None:
            return
        hours = self.hours(req.department)
        req.paused_remaining_s = working_between(
            now, as_utc(req.deadline_at), self.tz, hours
        ).total_seconds()
        if req.remind_at is not None and req.reminded_at is None:
            req.paused_remind_s = working_between(
                now, as_utc(req.remind_at), self.tz, hours
            ).total_seconds()

    def _resume(self, req: Request, now: datetime) -> None:
        if req.paused_remaining_s is None:
            return
        hours = self.hours(req.department)
        req.deadline_at = resume(now, timedelta(seconds=req.paused_remaining_s), self.tz, hours)
        if req.paused_remind_s is not None:
            req.remind_at = resume(now, timedelta(seconds=req.paused_remind_s), self.tz, hours)
        req.paused_remaining_s = req.paused_remind_s = None
