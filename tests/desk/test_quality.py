"""Quality figures per department (issue 15): what residents said of the fixes, their ratings,
and the on-time share that counts open overdue requests as late. A small data set whose
figures are worked out by hand below; /stats shows them."""

from __future__ import annotations

import asyncio
import csv
import io
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from handlers.desk.engine import StaffDesk
from handlers.i18n import to_plain, translator
from handlers.types import Incoming, Kind, Reply
from models.domain.status import Status
from models.domain.tables import Actor, EventKind, Request, RequestEvent
from models.storage.quality import quality
from tests.desk_data import add_request
from tests.desk_settings import ADMIN, desk_settings

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
SINCE = NOW - timedelta(days=7)
S = Status


async def seed(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
    """Lighting: five requests; roads: one; plus a rating from before the period."""

    async def request(
        category: str,
        status: Status,
        *,
        filed_days_ago: float,
        deadline_in: float,
        resolved_days_ago: float | None = None,
        events: tuple[tuple[float, Actor, Status | None, Status | None, EventKind, str], ...] = (),
    ) -> None:
        req = await add_request(
            sessions, settings, resident=f"r{category}{filed_days_ago}", category=category
        )
        async with sessions() as session, session.begin():
            row = await session.get(Request, req.id)
            assert row is not None
            row.status = status
            row.created_at = NOW - timedelta(days=filed_days_ago)
            row.deadline_at = NOW + timedelta(days=deadline_in)
            if resolved_days_ago is not None:
                row.resolved_at = NOW - timedelta(days=resolved_days_ago)
            for days_ago, actor, old, new, kind, text in events:
                session.add(
                    RequestEvent(
                        request_id=req.id,
                        at=NOW - timedelta(days=days_ago),
                        kind=kind,
                        actor=actor,
                        old_status=old,
                        new_status=new,
                        text=text,
                    )
                )

    staff, resident, st, rt = Actor.STAFF, Actor.RESIDENT, EventKind.STATUS, EventKind.RATING
    # L1: resolved on time, the resident confirmed it and rated it 5.
    await request(
        "lighting", S.CLOSED, filed_days_ago=6, deadline_in=-1, resolved_days_ago=3,
        events=(
            (3, staff, S.IN_PROGRESS, S.RESOLVED, st, "done"),
            (2, resident, S.RESOLVED, S.CLOSED, st, ""),
            (2, resident, None, None, rt, "5"),
        ),
    )  # fmt: skip
    # L2: resolved late, the resident said "No" (reopened, open again, past its deadline), 2.
    await request(
        "lighting", S.REOPENED, filed_days_ago=10, deadline_in=-4, resolved_days_ago=2,
        events=(
            (2, staff, S.IN_PROGRESS, S.RESOLVED, st, "done"),
            (1, resident, S.RESOLVED, S.REOPENED, st, ""),
            (1, resident, None, None, rt, "2"),
        ),
    )  # fmt: skip
    # L3: resolved on time, no answer from the resident yet.
    await request(
        "lighting", S.RESOLVED, filed_days_ago=4, deadline_in=3, resolved_days_ago=1,
        events=((1, staff, S.IN_PROGRESS, S.RESOLVED, st, "done"),),
    )  # fmt: skip
    # L4: open and overdue; L5: open, not yet due (the oldest open one: filed 30 days ago).
    await request("lighting", S.IN_PROGRESS, filed_days_ago=9, deadline_in=-2)
    await request("lighting", S.NEW, filed_days_ago=30, deadline_in=2)
    # R1: roads, resolved on time and confirmed, rated 4; an old rating of 1 from before the
    # period does not count.
    await request(
        "roads", S.CLOSED, filed_days_ago=20, deadline_in=1, resolved_days_ago=5,
        events=(
            (5, staff, S.IN_PROGRESS, S.RESOLVED, st, "done"),
            (4, resident, S.RESOLVED, S.CLOSED, st, ""),
            (4, resident, None, None, rt, "4"),
            (15, resident, None, None, rt, "1"),
        ),
    )  # fmt: skip


async def test_quality_figures_of_a_known_data_set(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    cfg = desk_settings(settings)
    await seed(sessions, cfg)
    async with sessions() as session:
        figures = await quality(session, SINCE, NOW, NOW)
    lighting, roads = figures["lighting"], figures["roads"]
    # Lighting: 3 resolutions (L1, L2, L3): 1 confirmed, 1 reopened, 1 unconfirmed.
    assert (lighting.resolutions, lighting.confirmed, lighting.reopened) == (3, 1, 1)
    assert lighting.unconfirmed == 1
    # Ratings 5 and 2: 3.5 from 2.
    assert (lighting.ratings, lighting.average_rating) == (2, 3.5)
    # On time: L1 and L3 of the 3 resolved with a deadline, plus L2 and L4 open past theirs
    # counted as late: 2 of 5 = 40 % (counting only closed ones would say 67 %).
    assert (lighting.on_time, lighting.due) == (2, 5)
    assert lighting.oldest_open == NOW - timedelta(days=30)
    # Roads: 1 resolution, confirmed; rated 4 (the 1 from before the period left out); on time.
    assert (roads.resolutions, roads.confirmed, roads.unconfirmed) == (1, 1, 0)
    assert (roads.ratings, roads.average_rating) == (1, 4.0)
    assert (roads.on_time, roads.due) == (1, 1) and roads.oldest_open is None
    async with sessions() as session:
        assert set(await quality(session, SINCE, NOW, NOW, "roads")) == {"roads"}


async def admin_asks(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, command: str, text: str
) -> list[Reply]:
    """The seeded data set, and the desk's answer to an administrator's command at NOW."""
    cfg = desk_settings(settings)
    await seed(sessions, cfg)
    desk = StaffDesk(sessions, cfg, translator(), clock=lambda: NOW)
    ev = Incoming("telegram", str(ADMIN), Kind.COMMAND, command=command, text=text)
    replies = await desk.handle(ev)
    assert replies is not None
    return replies


async def test_stats_shows_the_quality_figures(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    replies = await admin_asks(sessions, settings, "stats", "week")
    said = to_plain(replies[0].text)
    assert (
        "Street lighting: of 3 fixes 33% confirmed by the resident, 33% reopened, "
        "33% unanswered; rating 3.5 (2); 40% on time counting open overdue ones as late; "
        "oldest open since 18.02.2026"
    ) in said, said
    assert "Roads: of 1 fixes 100% confirmed" in said


async def test_export_carries_the_quality_figures_as_a_second_file(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    replies = await admin_asks(sessions, settings, "export", "2026-03-13 2026-03-20")
    assert len(replies) == 2
    for reply in replies[:1]:
        assert reply.document is not None
        await asyncio.to_thread(os.remove, reply.document.path)
    summary = replies[1].document
    assert summary is not None and summary.filename == "quality_2026-03-13_2026-03-20.csv"
    text = await asyncio.to_thread(Path(summary.path).read_text, encoding="utf-8-sig")
    await asyncio.to_thread(os.remove, summary.path)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [
        [
            "department", "fixes", "confirmed", "reopened", "unanswered", "ratings",
            "average_rating", "on_time", "due", "on_time_share", "oldest_open",
        ],
        # The figures above, over 13–20 March: lighting's open overdue L2 and L4 counted late.
        ["lighting", "3", "1", "1", "1", "2", "3.50", "2", "5", "0.400", "18.02.2026 14:00"],
        # Roads: its fix on 15 March and its rating on 16 March are in the period now.
        ["roads", "1", "1", "0", "0", "1", "4.00", "1", "1", "1.000", ""],
    ]  # fmt: skip
