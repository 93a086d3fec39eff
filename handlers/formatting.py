"""How names, times and deadlines read in a message: one place for every channel and both
audiences (residents in their language, staff in the desk's)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_datetime

from handlers.i18n import Translator
from models.domain.base import as_utc
from models.domain.city import CityConfig
from models.storage.outbox_report import ViberUsage


def category_name(config: CityConfig, lang: str, code: str, sub: str | None) -> str:
    cat = config.category(code)
    if cat is None:
        return code
    label = f"{cat.emoji} {cat.name.get(lang)}".strip()
    for s in cat.subcategories:
        if s.code == sub:
            label += f" › {s.name.get(lang)}"
    return label


def place(
    tr: Translator, lang: str, address: str | None, lat: float | None, lon: float | None
) -> str:
    """Where a request is, as this reader reads it: the address typed, or a pin's coordinates
    labelled in the reader's language. A pin stores no text, so its label is never frozen in
    the language it was filed in."""
    if address:
        return address
    if lat is not None and lon is not None:
        return tr.t(lang, "address.pin", lat=f"{lat:.5f}", lon=f"{lon:.5f}")
    return "—"


def answered(
    config: CityConfig,
    lang: str,
    category: str,
    sub: str | None,
    answers: dict[str, str] | None,
) -> list[tuple[str, str]]:
    """The category's extra questions and the answers given, as a reader reads them."""
    cat = config.category(category)
    if cat is None or not answers:
        return []
    out = []
    for q in cat.questions_for(sub):
        option = q.option(answers.get(q.key, ""))
        if option is not None:
            out.append((q.text.get(lang), option.text.get(lang)))
    return out


def department_name(config: CityConfig, lang: str, code: str) -> str:
    dept = config.department(code)
    return dept.name.get(lang) if dept else code


def local_time(config: CityConfig, value: datetime) -> str:
    """A time as staff read it in lists and cards: 03.12.2026 18:00, city time."""
    return as_utc(value).astimezone(ZoneInfo(config.city.timezone)).strftime("%d.%m.%Y %H:%M")


def local_date(config: CityConfig, value: datetime) -> str:
    """A day as staff read it in figures: 03.12.2026, city time."""
    return as_utc(value).astimezone(ZoneInfo(config.city.timezone)).strftime("%d.%m.%Y")


def shorten(text: str | None, limit: int) -> str:
    """``text`` cut to ``limit`` characters, an ellipsis marking the cut."""
    text = text or ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def percent(share: float | None) -> str:
    """A share as staff read it in figures ("40%"), or a dash when there is nothing to share."""
    return "—" if share is None else f"{round(100 * share)}%"


def rating(value: float | None) -> str:
    """An average rating ("3.5"), or a dash when nobody rated."""
    return "—" if value is None else f"{value:.1f}"


def when(config: CityConfig, lang: str, value: datetime) -> str:
    """A date a person reads at a glance, e.g. "3 December, 18:00", with month names from
    the locale (Babel)."""
    tz = ZoneInfo(config.city.timezone)
    return format_datetime(as_utc(value), "d MMMM, HH:mm", tzinfo=tz, locale=lang)


def time_left(now: datetime, deadline: datetime) -> tuple[int, int]:
    """(hours, minutes) until the deadline; negative hours when overdue."""
    seconds = int((as_utc(deadline) - as_utc(now)).total_seconds())
    sign = -1 if seconds < 0 else 1
    hours, rest = divmod(abs(seconds), 3600)
    return sign * hours, rest // 60


def audio_length(seconds: int) -> str:
    """ "0:42"; "" when the messenger said no length (a Viber audio file)."""
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds > 0 else ""


def viber_costs(config: CityConfig, day: ViberUsage, month: ViberUsage) -> dict[str, object]:
    """Viber's messages of a day and a month, in residents' sessions and started by the bot,
    with the estimated cost of those billed at ``[costs]``' price, as /outbox and the digest
    say them."""
    price = config.costs.viber_message_price
    return {
        "free_day": day.in_session,
        "paid_day": day.by_bot,
        "cost_day": f"{day.billed * price:.2f}",
        "free_month": month.in_session,
        "paid_month": month.by_bot,
        "cost_month": f"{month.billed * price:.2f}",
        "currency": config.costs.currency,
    }
