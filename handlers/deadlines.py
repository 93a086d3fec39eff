"""Deadlines as residents and staff see them, and the policy that sets them (from bot.toml)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_datetime

from bot.config import Settings
from models.base import as_utc
from models.deadline_clock import DeadlinePolicy

_policies: dict[int, tuple[Settings, DeadlinePolicy]] = {}


def policy(settings: Settings) -> DeadlinePolicy:
    """One policy per configuration (settings are immutable; keyed by identity)."""
    known = _policies.get(id(settings))
    if known is not None and known[0] is settings:
        return known[1]
    made = DeadlinePolicy(
        tz=ZoneInfo(settings.city.timezone),
        span=settings.deadline_for,
        hours=settings.working_hours,
        share=settings.deadlines.reminder_share,
    )
    _policies[id(settings)] = (settings, made)
    return made


def when(settings: Settings, lang: str, value: datetime) -> str:
    """A date a person reads at a glance, e.g. "3 December, 18:00", with month names from
    the locale (Babel)."""
    tz = ZoneInfo(settings.city.timezone)
    return format_datetime(as_utc(value), "d MMMM, HH:mm", tzinfo=tz, locale=lang)


def time_left(now: datetime, deadline: datetime) -> tuple[int, int]:
    """(hours, minutes) until the deadline; negative hours when overdue."""
    seconds = int((as_utc(deadline) - as_utc(now)).total_seconds())
    sign = -1 if seconds < 0 else 1
    hours, rest = divmod(abs(seconds), 3600)
    return sign * hours, rest // 60
