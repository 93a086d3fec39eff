"""/export: the requests of a period as a CSV file staff open in a spreadsheet."""

from __future__ import annotations

import csv
import re
import tempfile
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.desk.commands import CommandGroup
from handlers.desk.engine import StaffDesk, Turn
from handlers.formatting import answered, local_time
from handlers.parsing import parse_day
from handlers.types import Document
from models.domain.base import as_utc
from models.storage.desk_queries import export_rows
from models.storage.quality import Quality, quality

commands = CommandGroup()


# A formula's first character, at the start of the text or after anything a spreadsheet may
# split cells on: a comma, or the semicolon of Ukrainian and Russian regional settings (which
# ignore our commas and quotes), a tab or a line break.
_FORMULA_START = re.compile(r"(^|[,;\t\r\n])(\s*)([=+\-@\t\r])")


def spreadsheet_safe(text: str) -> str:
    """Resident text that a spreadsheet would run as a formula is shown with an apostrophe
    before it, the usual guard against CSV injection, wherever a cell could begin: "Broken
    lamp;=1+1" splits into cells in a spreadsheet that separates on semicolons."""
    return _FORMULA_START.sub(r"\1\2'\3", text)


EXPORT_COLUMNS = (
    "number",
    "created",
    "status",
    "category",
    "subcategory",
    "department",
    "address",
    "latitude",
    "longitude",
    "description",
    "phone",
    "resolved",
    "closed",
    "rating",
    "channel",
    "language",
    "photos",
    "proof_photos",
    "subscribers",
    "duplicate_of",
    "answers",
    "voice_seconds",
    "voice_transcript",
)


def _inside(session: AsyncSession) -> Callable[[], AbstractAsyncContextManager[AsyncSession]]:
    """Sessions for export_rows that are all ``session``, left open: its owner closes it."""
    return lambda: nullcontext(session)


@commands.command("export", read_only=True)
async def cmd_export(desk: StaffDesk, turn: Turn, args: list[str]) -> None:
    today = as_utc(turn.now).astimezone(ZoneInfo(desk.settings.city.timezone)).date()
    days = [parse_day(a) for a in args]
    if len(args) > 2 or None in days:
        desk.usage(turn, "export")
        return
    start = days[0] if days else today.replace(day=1)
    end = days[1] if len(days) > 1 else today
    assert start is not None and end is not None
    if end < start:
        desk.usage(turn, "export")
        return
    since, until = desk.local_day_start(start), desk.local_day_start(end + timedelta(days=1))

    def when(value: datetime | None) -> str:
        return local_time(desk.settings, value) if value else ""

    scope = turn.scope
    pages: Callable[[], AbstractAsyncContextManager[AsyncSession]]
    if turn.read_only:
        # Read page by page in short transactions of their own, not in the turn's.
        await turn.end_read()
        pages = desk.read_sessions
    else:
        # Run inside a caller's transaction (bench/export_worker.py): read within it.
        pages = _inside(turn.session)
    count = 0
    # UTF-8 with a BOM, so spreadsheet programs show Cyrillic correctly.
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8-sig", newline="", suffix=".csv", delete=False
    ) as f:
        writer = csv.writer(f)
        writer.writerow(EXPORT_COLUMNS)
        async for r in export_rows(pages, since, until, scope):
            count += 1
            writer.writerow(
                (
                    r.number,
                    when(r.created_at),
                    r.status.value,
                    r.category,
                    r.subcategory or "",
                    r.department,
                    spreadsheet_safe(r.address or ""),
                    r.latitude or "",
                    r.longitude or "",
                    spreadsheet_safe(r.description or ""),
                    r.phone or "",
                    when(r.resolved_at),
                    when(r.closed_at),
                    r.rating or "",
                    r.channel,
                    r.language,
                    r.photos,
                    r.proof_photos,
                    r.subscribers,
                    r.duplicate_of or "",
                    spreadsheet_safe(
                        "; ".join(
                            f"{q}: {a}"
                            for q, a in answered(
                                desk.settings, desk.lang, r.category, r.subcategory, r.answers
                            )
                        )
                    ),
                    (r.voice_seconds or 0) if r.has_voice else "",
                    spreadsheet_safe(r.voice_transcript or ""),
                )
            )
    name = f"requests_{start.isoformat()}_{end.isoformat()}.csv"
    desk.say(
        turn,
        desk.t("staff.export_done", count=count, start=start.isoformat(), end=end.isoformat()),
        document=Document(name, f.name),
    )
    async with pages() as session:
        figures = await quality(session, since, until, as_utc(turn.now), scope)
    desk.say(
        turn,
        desk.t("staff.export_quality", start=start.isoformat(), end=end.isoformat()),
        document=Document(
            f"quality_{start.isoformat()}_{end.isoformat()}.csv",
            quality_csv(figures, when),
        ),
    )


QUALITY_COLUMNS = (
    "department",
    "fixes",
    "confirmed",
    "reopened",
    "unanswered",
    "ratings",
    "average_rating",
    "on_time",
    "due",
    "on_time_share",
    "oldest_open",
)


def quality_csv(figures: dict[str, Quality], when: Callable[[datetime | None], str]) -> str:
    """The period's quality figures per department (models/storage/quality.py) as a CSV
    file's path: the summary beside the requests' rows."""

    def share(value: float | None) -> str:
        return "" if value is None else f"{value:.3f}"

    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8-sig", newline="", suffix=".csv", delete=False
    ) as f:
        writer = csv.writer(f)
        writer.writerow(QUALITY_COLUMNS)
        for dept, q in sorted(figures.items()):
            rating = q.average_rating
            writer.writerow(
                (
                    dept,
                    q.resolutions,
                    q.confirmed,
                    q.reopened,
                    q.unconfirmed,
                    q.ratings,
                    "" if rating is None else f"{rating:.2f}",
                    q.on_time,
                    q.due,
                    share(q.on_time_share),
                    when(q.oldest_open),
                )
            )
    return f.name
