"""Keeping a request's deadline as its status changes: started when it is filed, stopped while
the city waits for the resident, started afresh when the resident reopens it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from models.domain.base import as_utc
from models.domain.deadlines.spans import (
    Span,
    WorkingHours,
    due,
    remind_at,
    resume,
    working_between,
)
from models.domain.status import RULE, Clock, Status

if TYPE_CHECKING:
    from models.domain.city import CityConfig
from models.domain.tables import Request


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
        was, becomes = RULE[old], RULE[new]
        if becomes.waits_for_resident:
            req.waiting_since = now
            req.followup_at = None
        elif was.waits_for_resident:
            req.waiting_since = None
            req.followup_at = None
        if becomes.clock is Clock.PAUSED:
            self._pause(req, now)
        elif was.clock is Clock.PAUSED and becomes.clock is Clock.RUNNING:
            self._resume(req, now)
        if becomes.fresh_deadline:
            self.start(req, now)

    def move(self, req: Request, new: datetime, now: datetime) -> None:
        """Staff set the deadline to ``new``: the reminder and escalation of the old one are
        dropped. While the clock is paused, ``new`` is a date staff promised, not time left:
        nothing is kept for the clock to count again, so resuming leaves it as it is."""
        req.deadline_at = new
        req.remind_at = None
        req.escalated_at = None
        req.paused_remaining_s = req.paused_remind_s = None

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


_policies: dict[int, tuple[CityConfig, DeadlinePolicy]] = {}


def policy_for(config: CityConfig) -> DeadlinePolicy:
    """The deadline policy bot.toml describes; one per configuration (configurations are
    immutable, so it is kept by identity)."""
    known = _policies.get(id(config))
    if known is not None and known[0] is config:
        return known[1]
    made = DeadlinePolicy(
        tz=ZoneInfo(config.city.timezone),
        span=config.deadline_for,
        hours=config.working_hours,
        share=config.deadlines.reminder_share,
    )
    _policies[id(config)] = (config, made)
    return made
