"""The weekly ranking (issue 15): on Monday at the digest's time the administrators get the
departments ranked by on-time share, open overdue requests counted as late, then by rating;
once a week, not on other days. The data set of tests/desk/test_quality.py, seen from the
Monday after."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from handlers.i18n import to_plain
from tests.desk.test_quality import seed
from tests.desk_settings import ADMIN, desk_settings
from tests.jobs_support import Clock, make_jobs, of, outbox

MONDAY = datetime(2026, 3, 23, 7, 30, tzinfo=UTC)  # 09:30 in Kyiv; the digest is at 09:00


async def test_the_weekly_ranking_goes_to_the_admins_on_monday_once(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    cfg = desk_settings(settings)
    await seed(sessions, cfg)
    clock = Clock(MONDAY - timedelta(days=1))  # Sunday: nothing
    jobs = make_jobs(sessions, cfg, clock)
    assert await jobs.weekly_ranking(clock.now) == 0
    clock.now = MONDAY
    assert await jobs.weekly_ranking(clock.now) == 1
    assert await jobs.weekly_ranking(clock.now) == 0, "once a week"
    [ranking] = [g for g in of(await outbox(sessions, cfg), "weekly") if g.recipient == str(ADMIN)]
    assert ranking.reply is not None
    lines = to_plain(ranking.reply.text).split("\n")
    assert lines[0].startswith("Weekly ranking, 16.03.2026 – 23.03.2026")
    # The week from Monday 16 March 09:00: lighting resolved L1 and L3 on time, L2 late, and
    # L2, L4 and L5 are open past their deadlines by now: 2 of 6 on time. Roads resolved its
    # request on Sunday 15 March, before the week, but was rated 4 in it: no on-time figure,
    # so it ranks after lighting.
    assert lines[1:] == [
        "1. Street lighting: 33% on time, rating 3.5 (2); fixes confirmed 33%, reopened 33%",
        "2. Roads: — on time, rating 4.0 (1); fixes confirmed —, reopened —",
    ]
    clock.now = MONDAY + timedelta(days=1)  # Tuesday: already sent this week
    assert await jobs.weekly_ranking(clock.now) == 0
