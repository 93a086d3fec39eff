"""/stats: how many requests each department has in each status over a period, how fast it
resolved them and how often within the deadline."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from handlers.desk.commands import CommandGroup
from handlers.desk.engine import StaffDesk, Turn
from handlers.formatting import department_name, local_date, percent, rating
from models.domain.base import as_utc
from models.storage.desk_queries import followers, stats
from models.storage.digest_queries import median, resolve_durations, within_deadline
from models.storage.quality import quality

PERIODS = {"today": 1, "week": 7, "month": 30}
commands = CommandGroup()


@commands.command("stats", read_only=True)
async def cmd_stats(desk: StaffDesk, turn: Turn, args: list[str]) -> None:
    period = args[0] if args else "today"
    if period not in PERIODS or len(args) > 1:
        desk.usage(turn, "stats")
        return
    today = as_utc(turn.now).astimezone(ZoneInfo(desk.settings.city.timezone)).date()
    since = desk.local_day_start(today - timedelta(days=PERIODS[period] - 1))
    rows = await stats(turn.session, since, turn.scope)
    if not rows:
        desk.say(turn, desk.t("staff.stats_empty", period=desk.t(f"staff.period.{period}")))
        return
    lines = [desk.t("staff.stats_head", period=desk.t(f"staff.period.{period}"))]
    current = ""
    for dept, status, count in rows:
        if dept != current:
            current = dept
            total = sum(n for d, _, n in rows if d == dept)
            lines.append(
                desk.t(
                    "staff.stats_dept",
                    department=department_name(desk.settings, desk.lang, dept),
                    total=total,
                )
            )
        lines.append(
            desk.t("staff.stats_line", status=desk.t(f"status.{status.value}"), count=count)
        )
    for dept, (joined, merged) in sorted(
        (await followers(turn.session, since, turn.scope)).items()
    ):
        lines.append(
            desk.t(
                "staff.stats_followers",
                department=department_name(desk.settings, desk.lang, dept),
                joined=joined,
                merged=merged,
            )
        )
    lines += await _speed_lines(desk, turn, since)
    lines += await _quality_lines(desk, turn, since)
    desk.say(turn, "\n".join(lines))


async def _speed_lines(desk: StaffDesk, turn: Turn, since: datetime) -> list[str]:
    """How fast each department resolved what it resolved in the period, and how often on time."""
    until = as_utc(turn.now) + timedelta(seconds=1)
    durations = await resolve_durations(turn.session, since, until, turn.scope)
    on_time = await within_deadline(turn.session, since, until, turn.scope)
    lines = []
    for dept in sorted(durations):
        mid = median(durations[dept])
        ok, total = on_time.get(dept, (0, 0))
        lines.append(
            desk.t(
                "staff.stats_speed",
                department=department_name(desk.settings, desk.lang, dept),
                resolved=len(durations[dept]),
                median=round((mid.total_seconds() if mid else 0) / 3600, 1),
                on_time=round(100 * ok / total) if total else 0,
            )
        )
    return lines


async def _quality_lines(desk: StaffDesk, turn: Turn, since: datetime) -> list[str]:
    """What residents said of each department's fixes, their ratings, and the on-time share
    with the open overdue requests counted as late (models/storage/quality.py)."""
    now = as_utc(turn.now)
    figures = await quality(turn.session, since, now + timedelta(seconds=1), now, turn.scope)
    lines = []
    for dept, q in sorted(figures.items()):
        if not q.has_figures:
            continue  # nothing fixed, rated or due: only dashes to show
        lines.append(
            desk.t(
                "staff.stats_quality",
                department=department_name(desk.settings, desk.lang, dept),
                resolutions=q.resolutions,
                confirmed=percent(q.share(q.confirmed)),
                reopened=percent(q.share(q.reopened)),
                unconfirmed=percent(q.share(q.unconfirmed)),
                rating=rating(q.average_rating),
                ratings=q.ratings,
                on_time=percent(q.on_time_share),
                oldest=local_date(desk.settings, q.oldest_open) if q.oldest_open else "—",
            )
        )
    return lines
