"""The daily digest: each department's chat gets its own figures, the administrators get all
departments with a chart. Texts are in the staff's language and are written when the digest
is made, so they show the figures at the digest time, however late the message goes out.

What a digest says (figures as defined in :mod:`models.storage.digest_queries`):
- new, in progress, waiting for the resident, overdue (open requests now);
- resolved yesterday (the local calendar day before the digest's day);
- the median time from filing to resolution over the last 30 days;
- the requests overdue the longest, with their numbers (up to :data:`OLDEST_SHOWN`);
- over the last 30 days, what residents thought (:mod:`models.storage.quality`): the on-time
  share counting open overdue requests as late, fixes confirmed and reopened, the average
  rating, and since when the oldest open request waits.

A department with nothing open, nothing resolved yesterday and nothing resolved in 30 days
gets no digest that day (an all-zero message every morning would teach people to ignore it);
the administrators always get theirs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.formatting import (
    department_name,
    local_date,
    local_time,
    percent,
    rating,
    viber_costs,
)
from handlers.i18n import Translator
from handlers.outbound.digest_chart import ChartLabels, ChartRow, render_chart
from models.domain.city import CityConfig
from models.domain.staff import Role, StaffMember
from models.storage.digest_queries import (
    DepartmentFigures,
    Figures,
    OverdueRequest,
    digest_figures,
    oldest_overdue,
)
from models.storage.outbox_report import ViberUsage, viber_usage
from models.storage.quality import Quality, quality

OLDEST_SHOWN = 5
CHARTS_KEPT = timedelta(days=30)
QUALITY_WINDOW = timedelta(days=30)


def city_zone(settings: CityConfig) -> ZoneInfo:
    return ZoneInfo(settings.city.timezone)


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def digest_slot(settings: CityConfig, now: datetime) -> datetime:
    """Today's digest time (city time zone) as UTC: the slot the digest is claimed for."""
    tz = city_zone(settings)
    today = now.astimezone(tz).date()
    return datetime.combine(today, settings.deadlines.digest_time, tzinfo=tz).astimezone(UTC)


@dataclass
class DigestData:
    """What the digest of one day says, gathered in one go."""

    day: date  # the digest's local date
    now: datetime
    figures: Figures
    oldest: list[OverdueRequest]  # all departments
    oldest_by_department: dict[str, list[OverdueRequest]] = field(default_factory=dict)
    quality: dict[str, Quality] = field(default_factory=dict)  # the last 30 days
    # Viber messages (in residents' sessions, started by the bot) yesterday and this month.
    viber: tuple[ViberUsage, ViberUsage] = (ViberUsage(), ViberUsage())


async def gather(session: AsyncSession, settings: CityConfig, now: datetime) -> DigestData:
    tz = city_zone(settings)
    day = now.astimezone(tz).date()
    figures = await digest_figures(
        session,
        now,
        resolved_since=local_midnight(day - timedelta(days=1), tz),
        resolved_until=local_midnight(day, tz),
    )
    data = DigestData(
        day=day,
        now=now,
        figures=figures,
        oldest=await oldest_overdue(session, now, OLDEST_SHOWN),
        quality=await quality(
            session, local_midnight(day, tz) - QUALITY_WINDOW, local_midnight(day, tz), now
        ),
    )
    yesterday = await viber_usage(
        session, local_midnight(day - timedelta(days=1), tz), local_midnight(day, tz)
    )
    month = await viber_usage(session, local_midnight(day.replace(day=1), tz), now)
    data.viber = (yesterday, month)
    for dept, fig in figures.by_department.items():
        if fig.overdue:
            data.oldest_by_department[dept] = await oldest_overdue(session, now, OLDEST_SHOWN, dept)
    return data


def duration(tr: Translator, lang: str, value: timedelta) -> str:
    minutes = int(value.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return tr.t(lang, "digest.days_hours", days=days, hours=hours)
    return tr.t(lang, "digest.hours_minutes", hours=hours, minutes=minutes)


def _median(tr: Translator, lang: str, fig: DepartmentFigures) -> str:
    if fig.median_to_resolve is None:
        return tr.t(lang, "digest.no_median")
    return duration(tr, lang, fig.median_to_resolve)


def quality_figures(
    settings: CityConfig, q: Quality | None, *, oldest: bool = False
) -> dict[str, object]:
    """A department's quality figures as the digest's texts show them (dashes for none)."""
    q = q or Quality("")
    figures: dict[str, object] = {
        "on_time": percent(q.on_time_share),
        "resolutions": q.resolutions,
        "confirmed": percent(q.share(q.confirmed)),
        "reopened": percent(q.share(q.reopened)),
        "rating": rating(q.average_rating),
        "ratings": q.ratings,
    }
    if oldest:
        figures["oldest"] = local_date(settings, q.oldest_open) if q.oldest_open else "—"
    return figures


def _oldest_lines(
    settings: CityConfig,
    tr: Translator,
    lang: str,
    data: DigestData,
    oldest: list[OverdueRequest],
    overdue: int,
    *,
    with_department: bool,
) -> list[str]:
    if not oldest:
        return []
    lines = ["", tr.t(lang, "digest.oldest_head")]
    for item in oldest:
        late = duration(tr, lang, data.now - item.deadline_at)
        if with_department:
            lines.append(
                tr.t(
                    lang,
                    "digest.oldest_line_all",
                    number=item.number,
                    department=department_name(settings, lang, item.department),
                    late=late,
                )
            )
        else:
            lines.append(
                tr.t(
                    lang,
                    "digest.oldest_line",
                    number=item.number,
                    deadline=local_time(settings, item.deadline_at),
                    late=late,
                )
            )
    if overdue > len(oldest):
        lines.append(tr.t(lang, "digest.more", count=overdue - len(oldest)))
    return lines


def _quality_lines(
    settings: CityConfig, tr: Translator, data: DigestData, department: str
) -> list[str]:
    q = data.quality.get(department)
    if q is None or not q.has_figures:
        return []  # nothing fixed, rated or due in 30 days: a line of dashes says nothing
    lang = settings.staff.language
    return [tr.t(lang, "digest.quality", **quality_figures(settings, q, oldest=True))]


def department_text(
    settings: CityConfig, tr: Translator, data: DigestData, department: str
) -> str | None:
    """A department chat's digest; None when the department has nothing to report."""
    lang = settings.staff.language
    fig = data.figures.by_department.get(department)
    if fig is None or fig.empty:
        return None
    lines = [
        tr.t(
            lang,
            "digest.head",
            department=department_name(settings, lang, department),
            date=data.day.strftime("%d.%m.%Y"),
        ),
        tr.t(
            lang,
            "digest.counts",
            new=fig.new,
            in_progress=fig.in_progress,
            needs_info=fig.needs_info,
            overdue=fig.overdue,
            resolved=fig.resolved,
            median=_median(tr, lang, fig),
        ),
        *_quality_lines(settings, tr, data, department),
        *_oldest_lines(
            settings,
            tr,
            lang,
            data,
            data.oldest_by_department.get(department, []),
            fig.overdue,
            with_department=False,
        ),
    ]
    return "\n".join(lines)


def ranked(settings: CityConfig, data: DigestData) -> list[tuple[str, DepartmentFigures]]:
    """Departments with something to show, the most overdue first, then the most open; ties in
    the order of bot.toml."""
    order = {d.code: i for i, d in enumerate(settings.departments)}
    figs = [f for f in data.figures.by_department.values() if not f.empty]
    figs.sort(key=lambda f: (-f.overdue, -f.open, order.get(f.department, len(order))))
    return [(f.department, f) for f in figs]


def overview_text(settings: CityConfig, tr: Translator, data: DigestData) -> str:
    """The administrators' digest: all departments."""
    lang = settings.staff.language

    def line(key: str, fig: DepartmentFigures, **kw: object) -> str:
        return tr.t(
            lang,
            key,
            new=fig.new,
            in_progress=fig.in_progress,
            needs_info=fig.needs_info,
            overdue=fig.overdue,
            resolved=fig.resolved,
            median=_median(tr, lang, fig),
            **kw,
        )

    lines = [
        tr.t(lang, "digest.head_all", date=data.day.strftime("%d.%m.%Y")),
        line("digest.total_line", data.figures.overall),
        "",
    ]
    for code, fig in ranked(settings, data):
        lines.append(
            line("digest.department_line", fig, department=department_name(settings, lang, code))
        )
        q = data.quality.get(code)
        if q is not None and q.has_figures:
            lines.append(tr.t(lang, "digest.quality_line", **quality_figures(settings, q)))
    lines += _viber_lines(settings, tr, data)
    lines += ["", tr.t(lang, "digest.legend"), tr.t(lang, "digest.quality_legend")]
    lines += _oldest_lines(
        settings,
        tr,
        lang,
        data,
        data.oldest,
        data.figures.overall.overdue,
        with_department=True,
    )
    return "\n".join(lines)


def _viber_lines(settings: CityConfig, tr: Translator, data: DigestData) -> list[str]:
    """What Viber bills, for the administrators: none when Viber sent nothing this month."""
    day, month = data.viber
    if not (any(day) or any(month)):
        return []
    lang = settings.staff.language
    figures = viber_costs(settings, day, month)
    return ["", tr.t(lang, "digest.viber", **figures)]


def chart_labels(settings: CityConfig, tr: Translator, day: date) -> ChartLabels:
    lang = settings.staff.language
    return ChartLabels(
        title=tr.plain(lang, "chart.title", date=day.strftime("%d.%m.%Y")),
        new=tr.plain(lang, "chart.new"),
        in_progress=tr.plain(lang, "chart.in_progress"),
        needs_info=tr.plain(lang, "chart.needs_info"),
        overdue=tr.plain(lang, "chart.overdue"),
        axis=tr.plain(lang, "chart.axis"),
        empty=tr.plain(lang, "chart.empty"),
        on_time_title=tr.plain(lang, "chart.on_time_title"),
        on_time_axis=tr.plain(lang, "chart.on_time_axis"),
    )


def make_chart(settings: CityConfig, tr: Translator, data: DigestData) -> bytes:
    """Draw the day's chart as a PNG (blocking: run it in a thread)."""
    lang = settings.staff.language
    rows = [
        ChartRow(department_name(settings, lang, code), fig, data.quality.get(code))
        for code, fig in ranked(settings, data)
        if fig.open or (code in data.quality and data.quality[code].has_figures)
    ]
    return render_chart(rows, chart_labels(settings, tr, data.day))


async def admin_chats(session: AsyncSession, settings: CityConfig) -> list[str]:
    """The administrators' private chats: bot.toml's bootstrap admins and stored admins."""
    stored = (
        await session.execute(
            select(StaffMember.telegram_id)
            .where(StaffMember.role == Role.ADMIN)
            .order_by(StaffMember.telegram_id)
        )
    ).scalars()
    return list(dict.fromkeys(str(i) for i in [*settings.staff.admins, *stored]))


def digest_body(
    settings: CityConfig, text: str, chart_day: date | None = None
) -> dict[str, object]:
    """A digest message; with ``chart_day`` it shows that day's chart (``digest_charts``)."""
    return {
        "event": "digest",
        "text": text,
        "chart_day": chart_day.isoformat() if chart_day else None,
        "lang": settings.staff.language,
    }
