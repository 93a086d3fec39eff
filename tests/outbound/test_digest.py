"""The daily digest: sent once a day at its local time (also after a restart, by two
schedulers, or by a bot that was down across the time), with the exact figures of a known data
set, and the administrators' PNG chart."""

from __future__ import annotations

import asyncio
import struct
import warnings
from collections.abc import AsyncIterator
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.channels.telegram.client import make_bot
from bot.channels.telegram.sender import TelegramSender
from bot.config import Settings
from bot.delivery import Delivery
from handlers.i18n import to_plain, translator
from handlers.outbound.digest import chart_labels, digest_slot, gather, make_chart, ranked
from handlers.outbound.digest_chart import HEIGHT, WIDTH, ChartRow, render_chart
from handlers.outbound.jobs import DIGEST_JOB
from models.domain.base import as_utc
from models.domain.outbox import OutboxStatus, enqueue
from models.domain.staff import Role, put_staff
from models.domain.status import Status
from models.domain.tables import Actor, DigestChart, EventKind, JobRun, RequestEvent
from models.storage.digest_queries import chart_png, digest_figures, oldest_overdue
from models.storage.engine import create_engine, session_factory
from tests.fakes.telegram_server import FakeTelegramServer
from tests.jobs_support import (
    ADMIN,
    LIGHTING_CHAT,
    ROADS_CHAT,
    Clock,
    Got,
    add,
    job_settings,
    local,
    make_jobs,
    of,
    outbox,
)

D = (2026, 3, 10)  # a Tuesday; Kyiv is at UTC+2 until 29 March
D_DATE = date(*D)


def at(days: float = 0, hh: int = 0, mm: int = 0) -> datetime:
    """``days`` from D at hh:mm Kyiv time."""
    return local(*D, hh, mm) + timedelta(days=days)


@pytest.fixture
def cfg(settings: Settings) -> Settings:
    return job_settings(settings, admins=(ADMIN,))


@pytest.fixture
async def second_engine(db_url: str, engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    other = create_engine(db_url)
    yield other
    await other.dispose()


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "PNG signature"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert (length, kind) == (13, b"IHDR"), "the first chunk is IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def digests(got: list[Got]) -> list[Got]:
    return of(got, "digest")


# --- once a day ---------------------------------------------------------------------------


async def test_digest_slot_is_the_local_time_as_utc(cfg: Settings) -> None:
    assert digest_slot(cfg, at(0, 0, 30)) == at(0, 9)
    assert digest_slot(cfg, at(0, 23, 59)) == at(0, 9)
    assert at(0, 9).hour == 7  # 09:00 in Kyiv is 07:00 UTC in winter
    summer = local(2026, 7, 1, 12)
    assert digest_slot(cfg, summer).hour == 6  # and 06:00 UTC in summer


async def test_a_bot_down_across_the_digest_time_sends_it_once_on_return(
    sessions: async_sessionmaker[AsyncSession],
    second_engine: AsyncEngine,
    cfg: Settings,
) -> None:
    await add(sessions, created=at(-1, 12), deadline=at(6, 12))
    clock = Clock(at(0, 8, 59))
    jobs = make_jobs(sessions, cfg, clock)
    assert (await jobs.scan())["digest"] == 0

    clock.now = at(0, 11, 0)  # down from 08:59 to 11:00
    assert (await jobs.scan())["digest"] == 2  # the lighting chat and the administrator
    sent = digests(await outbox(sessions, cfg))
    assert sorted(g.recipient for g in sent) == sorted([LIGHTING_CHAT, ADMIN])

    # A restart (new engine, new Jobs), then more scans the same day: nothing more.
    clock.move(minutes=5)
    restarted = make_jobs(session_factory(second_engine), cfg, clock)
    assert (await restarted.scan())["digest"] == 0
    clock.move(hours=12)
    assert (await jobs.scan())["digest"] == 0
    assert (await restarted.scan())["digest"] == 0
    assert len(digests(await outbox(sessions, cfg))) == 2

    # The next day, at its time: again, once.
    clock.now = at(1, 9, 0)
    assert (await restarted.scan())["digest"] == 2
    assert (await jobs.scan())["digest"] == 0
    assert len(digests(await outbox(sessions, cfg))) == 4


async def test_days_missed_entirely_are_skipped(
    sessions: async_sessionmaker[AsyncSession], cfg: Settings
) -> None:
    clock = Clock(at(0, 9, 0))
    jobs = make_jobs(sessions, cfg, clock)
    assert (await jobs.scan())["digest"] == 1  # only the administrator: no department data

    clock.now = at(3, 8, 0)  # down for days; back before today's digest time
    assert (await jobs.scan())["digest"] == 0, "the missed days are not sent late"
    clock.now = at(3, 9, 0)
    assert (await jobs.scan())["digest"] == 1
    sent = digests(await outbox(sessions, cfg))
    assert [to_plain(g.body["text"]).splitlines()[0] for g in sent] == [
        "📊 Daily digest · all departments · 10.03.2026",
        "📊 Daily digest · all departments · 13.03.2026",
    ]
    async with sessions() as session:
        last = (
            await session.execute(select(JobRun.last_slot).where(JobRun.name == DIGEST_JOB))
        ).scalar_one()
    assert as_utc(last) == at(3, 9, 0)


async def test_two_schedulers_at_the_digest_time_send_it_once(
    sessions: async_sessionmaker[AsyncSession],
    second_engine: AsyncEngine,
    cfg: Settings,
) -> None:
    await add(sessions, created=at(-1, 12), deadline=at(6, 12), department="roads")
    clock = Clock(at(0, 9, 0))
    one = make_jobs(sessions, cfg, clock)
    two = make_jobs(session_factory(second_engine), cfg, clock)
    a, b = await asyncio.gather(one.scan(), two.scan())
    assert sorted([a["digest"], b["digest"]]) == [0, 2]
    sent = digests(await outbox(sessions, cfg))
    assert sorted(g.recipient for g in sent) == sorted([ROADS_CHAT, ADMIN])


# --- what it says ---------------------------------------------------------------------------


async def known_data(sessions: async_sessionmaker[AsyncSession]) -> None:
    """Figures at D 09:30 (Kyiv) — lighting: new 2, in progress 3, needs info 1, overdue 3,
    resolved yesterday 3, median to resolve 27 h; roads: new 2, in progress 1, overdue 2;
    water (no chat): new 1, overdue 1."""

    made: dict[int, int] = {}

    async def put(number: int, **kw: object) -> None:
        made[number] = (await add(sessions, number=f"2026-{number:06d}", **kw)).id  # type: ignore[arg-type]

    async def said(
        number: int,
        when: datetime,
        by: Actor,
        old: Status | None,
        new: Status | None,
        rated: str = "",
    ) -> None:
        async with sessions() as session, session.begin():
            kind = EventKind.RATING if rated else EventKind.STATUS
            session.add(
                RequestEvent(
                    request_id=made[number],
                    at=when,
                    kind=kind,
                    actor=by,
                    old_status=old,
                    new_status=new,
                    text=rated,
                )
            )

    # Street lighting: open
    await put(1, status=Status.NEW, created=at(-10), deadline=at(-3, 9, 30))  # 3 d 0 h late
    await put(2, status=Status.IN_PROGRESS, created=at(-8), deadline=at(-1, 12))  # 21 h 30 min
    await put(3, status=Status.ASSIGNED, created=at(-1), deadline=at(6))
    await put(4, status=Status.NEEDS_INFO, created=at(-5), deadline=at(-1), waiting_since=at(-2))
    await put(5, status=Status.REOPENED, created=at(-20), deadline=at(-2, 9, 30))  # 2 d 0 h
    await put(6, status=Status.NEW, created=at(0, 8), deadline=at(7, 8))
    # Street lighting: resolved in 30 days; 2 h, 48 h, 24 h, 30 h, 1 h, 100 h → median 27 h
    await put(7, status=Status.RESOLVED, created=at(-1, 8), resolved=at(-1, 10))  # yesterday
    await put(
        8, status=Status.CLOSED, created=at(-3, 23, 30), resolved=at(-1, 23, 30), deadline=at(0)
    )  # yday
    await put(9, status=Status.CLOSED, created=at(-6), resolved=at(-5))
    # What residents said in 30 days: 4 fixes (7; 8 confirmed, rated 5; 9 reopened and rated
    # 2, fixed again, confirmed and rated 3): 50% confirmed, 25% reopened, rating 3.3 (3).
    # On time: 8 within its deadline, 1, 2 and 5 open past theirs (4 waits for the resident,
    # its clock stopped): 1 of 4 = 25%.
    staff, resident = Actor.STAFF, Actor.RESIDENT
    await said(7, at(-1, 10), staff, Status.IN_PROGRESS, Status.RESOLVED)
    await said(8, at(-1, 23, 30), staff, Status.IN_PROGRESS, Status.RESOLVED)
    await said(8, at(-1, 23, 50), resident, Status.RESOLVED, Status.CLOSED)
    await said(8, at(-1, 23, 51), resident, None, None, rated="5")
    await said(9, at(-6, 12), staff, Status.IN_PROGRESS, Status.RESOLVED)
    await said(9, at(-6, 18), resident, Status.RESOLVED, Status.REOPENED)
    await said(9, at(-6, 18, 1), resident, None, None, rated="2")
    await said(9, at(-5), staff, Status.REOPENED, Status.RESOLVED)
    await said(9, at(-4), resident, Status.RESOLVED, Status.CLOSED)
    await said(9, at(-4, 0, 1), resident, None, None, rated="3")
    await put(10, status=Status.RESOLVED, created=at(-1, 2), resolved=at(0, 8))  # today
    await put(11, status=Status.CLOSED, created=at(-50), resolved=at(-40))  # outside 30 days
    await put(12, status=Status.REJECTED, created=at(-3))
    # On the edges of yesterday: 1 h (today 00:00: not yesterday) and 100 h (yesterday 00:00).
    await put(13, status=Status.CLOSED, created=at(-1, 23), resolved=at(0, 0))
    await put(14, status=Status.CLOSED, created=at(-5, 20), resolved=at(-1, 0))
    # Roads
    await put(21, department="roads", category="roads", created=at(-30), deadline=at(-23, 9, 30))
    await put(22, department="roads", category="roads", created=at(-3), deadline=at(-1, 20))
    await put(
        23,
        department="roads",
        category="roads",
        status=Status.IN_PROGRESS,
        created=at(-1),
        deadline=at(5),
    )
    # Water supply (no department chat)
    await put(31, department="water", category="water", created=at(-9), deadline=at(-2, 10, 30))


LIGHTING_DIGEST = """\
📊 Daily digest · Street lighting · 10.03.2026
🆕 New: 2
🛠 In progress: 3
❓ Waiting for the resident: 1
⏰ Overdue: 3
✅ Resolved yesterday: 3
⏱ Median time to resolve (30 days): 1 d 3 h
🎯 Last 30 days: 25% on time (open overdue ones count as late) · of 4 fixes residents \
confirmed 50%, reopened 25% · rating 3.3 (3) · oldest open since 18.02.2026

Overdue the longest:
2026-000001 · due 07.03.2026 09:30 · overdue by 3 d 0 h
2026-000005 · due 08.03.2026 09:30 · overdue by 2 d 0 h
2026-000002 · due 09.03.2026 12:00 · overdue by 21 h 30 min"""

ROADS_DIGEST = """\
📊 Daily digest · Roads · 10.03.2026
🆕 New: 2
🛠 In progress: 1
❓ Waiting for the resident: 0
⏰ Overdue: 2
✅ Resolved yesterday: 0
⏱ Median time to resolve (30 days): —
🎯 Last 30 days: 0% on time (open overdue ones count as late) · of 0 fixes residents \
confirmed —, reopened — · rating — (0) · oldest open since 08.02.2026

Overdue the longest:
2026-000021 · due 15.02.2026 09:30 · overdue by 23 d 0 h
2026-000022 · due 09.03.2026 20:00 · overdue by 13 h 30 min"""

ADMIN_DIGEST = """\
📊 Daily digest · all departments · 10.03.2026
Total: 🆕 5 · 🛠 4 · ❓ 1 · ⏰ 6 · ✅ 3 · ⏱ 1 d 3 h

Street lighting: 🆕 2 · 🛠 3 · ❓ 1 · ⏰ 3 · ✅ 3 · ⏱ 1 d 3 h
    🎯 25% · 👍 50% · 🔁 25% · ⭐ 3.3 (3)
Roads: 🆕 2 · 🛠 1 · ❓ 0 · ⏰ 2 · ✅ 0 · ⏱ —
    🎯 0% · 👍 — · 🔁 — · ⭐ — (0)
Water supply and sewerage: 🆕 1 · 🛠 0 · ❓ 0 · ⏰ 1 · ✅ 0 · ⏱ —
    🎯 0% · 👍 — · 🔁 — · ⭐ — (0)

🆕 new · 🛠 in progress · ❓ waiting for the resident · ⏰ overdue · ✅ resolved yesterday · \
⏱ median time to resolve (30 days)
Last 30 days: 🎯 on time, counting open overdue ones as late · 👍 fixes confirmed by \
residents · 🔁 reopened · ⭐ average rating (number of ratings)

Overdue the longest:
2026-000021 · Roads · overdue by 23 d 0 h
2026-000001 · Street lighting · overdue by 3 d 0 h
2026-000005 · Street lighting · overdue by 2 d 0 h
2026-000031 · Water supply and sewerage · overdue by 1 d 23 h
2026-000002 · Street lighting · overdue by 21 h 30 min
… and 1 more"""


async def test_the_digest_of_a_known_data_set(
    sessions: async_sessionmaker[AsyncSession], cfg: Settings
) -> None:
    await known_data(sessions)
    jobs = make_jobs(sessions, cfg, Clock(at(0, 9, 30)))
    # (The same scan escalates the overdue ones; only the digest is looked at here.)
    assert (await jobs.scan())["digest"] == 3
    sent = {g.recipient: g for g in digests(await outbox(sessions, cfg))}
    assert set(sent) == {LIGHTING_CHAT, ROADS_CHAT, ADMIN}  # water has no chat
    assert sent[LIGHTING_CHAT].text == LIGHTING_DIGEST
    assert sent[ROADS_CHAT].text == ROADS_DIGEST
    assert sent[ADMIN].text == ADMIN_DIGEST
    # Departments get text only; the administrators' digest comes with the chart.
    lighting = sent[LIGHTING_CHAT].reply
    assert lighting is not None and lighting.photos == []
    # Its chart is kept in the database: whichever worker sends it (another machine, after a
    # restart) finds it there, not in a file of the worker that drew it.
    assert sent[ADMIN].body["chart_day"] == D_DATE.isoformat()
    async with sessions() as session:
        png = await chart_png(session, D_DATE)
    assert png is not None and png_size(png) == (WIDTH, HEIGHT) == (1000, 600)


async def test_the_figures_can_be_scoped_to_one_department(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await known_data(sessions)
    now = at(0, 9, 30)
    async with sessions() as session:
        scoped = await digest_figures(
            session, now, resolved_since=at(-1), resolved_until=at(0), department="roads"
        )
        every = await digest_figures(session, now, resolved_since=at(-1), resolved_until=at(0))
        late = await oldest_overdue(session, now, 10, "lighting")
    assert list(scoped.by_department) == ["roads"]
    roads = scoped.overall
    assert (roads.new, roads.in_progress, roads.needs_info, roads.overdue) == (2, 1, 0, 2)
    assert (roads.overdue_new, roads.overdue_in_progress) == (2, 0)
    everything = every.by_department
    assert sorted(everything) == ["lighting", "roads", "water"]
    lighting = everything["lighting"]
    assert (lighting.overdue_new, lighting.overdue_in_progress) == (1, 2)
    assert lighting.median_to_resolve == timedelta(hours=27)
    assert lighting.resolved == 3
    assert [r.number for r in late] == ["2026-000001", "2026-000005", "2026-000002"]


async def test_nothing_to_report_means_no_department_digest(
    sessions: async_sessionmaker[AsyncSession], cfg: Settings
) -> None:
    await add(sessions, status=Status.CLOSED, created=at(-60), resolved=at(-59), department="roads")
    jobs = make_jobs(sessions, cfg, Clock(at(0, 9)))
    await jobs.scan()
    [only] = digests(await outbox(sessions, cfg))
    assert only.recipient == ADMIN
    assert only.text.splitlines()[1] == "Total: 🆕 0 · 🛠 0 · ❓ 0 · ⏰ 0 · ✅ 0 · ⏱ —"


async def test_stored_administrators_get_the_overview_too(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    cfg = job_settings(settings)  # no bootstrap administrators
    async with sessions() as session, session.begin():
        await put_staff(session, 700_777, Role.ADMIN, None, added_by=0)
        await put_staff(session, 700_888, Role.OPERATOR, None, added_by=0)
    await make_jobs(sessions, cfg, Clock(at(0, 9))).scan()
    assert [g.recipient for g in digests(await outbox(sessions, cfg))] == ["700777"]


async def test_no_administrators_no_chart(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    cfg = job_settings(settings)
    await add(sessions, created=at(-1), deadline=at(6))
    await make_jobs(sessions, cfg, Clock(at(0, 9))).scan()
    assert [g.recipient for g in digests(await outbox(sessions, cfg))] == [LIGHTING_CHAT]
    async with sessions() as session:
        assert await chart_png(session, D_DATE) is None


# --- the chart ------------------------------------------------------------------------------


async def test_the_chart_is_a_png_of_the_fixed_size_with_cyrillic_labels(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, tmp_path: Path
) -> None:
    cfg = job_settings(settings, staff_language="uk", admins=(ADMIN,))
    await known_data(sessions)
    async with sessions() as session:
        data = await gather(session, cfg, at(0, 9, 30))
    tr = translator()
    labels = chart_labels(cfg, tr, data.day)
    assert labels.title == "Відкриті звернення за службами, 10.03.2026"
    rows = [ChartRow("Міське освітлення", fig, data.quality.get(c)) for c, fig in ranked(cfg, data)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing glyph would be a warning
        png = render_chart(rows, labels)
    assert png_size(png) == (1000, 600)
    assert png_size(make_chart(cfg, tr, data)) == (1000, 600)


def test_an_empty_chart_is_still_a_chart(tmp_path: Path, settings: Settings) -> None:
    labels = chart_labels(job_settings(settings, staff_language="ru"), translator(), D_DATE)
    assert png_size(render_chart([], labels)) == (1000, 600)


async def test_old_charts_are_removed(
    sessions: async_sessionmaker[AsyncSession], cfg: Settings
) -> None:
    async with sessions() as session, session.begin():
        for day in (date(2026, 1, 1), D_DATE - timedelta(days=30), D_DATE - timedelta(days=29)):
            session.add(DigestChart(day=day, png=b"old"))
    await add(sessions, created=at(-1), deadline=at(6))
    await make_jobs(sessions, cfg, Clock(at(0, 9))).scan()
    async with sessions() as session:
        kept = list(await session.scalars(select(DigestChart.day).order_by(DigestChart.day)))
    assert kept == [D_DATE - timedelta(days=30), D_DATE - timedelta(days=29), D_DATE]


async def test_the_digest_time_is_configurable(settings: Settings) -> None:
    cfg = job_settings(settings, digest_time=time(7, 30))
    assert digest_slot(cfg, at(0, 12)) == at(0, 7, 30)


# --- as Telegram gets it --------------------------------------------------------------------


async def test_the_digest_reaches_telegram_with_the_chart_uploaded(
    sessions: async_sessionmaker[AsyncSession], cfg: Settings
) -> None:
    await known_data(sessions)
    assert await make_jobs(sessions, cfg, Clock(at(0, 9, 30))).digest(at(0, 9, 30)) == 3
    cfg = cfg.model_copy(
        update={"delivery": cfg.delivery.model_copy(update={"group_per_minute": 6000})}
    )
    async with FakeTelegramServer() as srv:
        sender = TelegramSender(make_bot("123456:TEST-token", srv.base_url), translator())
        delivery = Delivery(sessions, cfg, translator(), {"telegram": sender})
        try:
            while await delivery.run_once():
                pass
        finally:
            await sender.bot.session.close()
        [photo] = [c for c in srv.calls_of("sendPhoto") if c.ok]
        assert str(photo.params["chat_id"]) == ADMIN
        # The overview is longer than a caption may be (1024): the chart, then the text.
        assert "caption" not in photo.params
        [upload] = photo.files.values()
        assert png_size(upload.data) == (1000, 600)
        texts = {
            str(c.params["chat_id"]): to_plain(c.params["text"])
            for c in srv.calls_of("sendMessage")
            if c.ok and "Daily digest" in c.params["text"]
        }
        assert texts == {
            LIGHTING_CHAT: LIGHTING_DIGEST,
            ROADS_CHAT: ROADS_DIGEST,
            ADMIN: ADMIN_DIGEST,
        }


async def test_a_chart_that_cannot_be_drawn_does_not_hold_the_digest_back(
    sessions: async_sessionmaker[AsyncSession], cfg: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kw: object) -> None:
        raise RuntimeError("matplotlib could not write the picture")

    monkeypatch.setattr("matplotlib.figure.Figure.savefig", broken)
    await make_jobs(sessions, cfg, Clock(at(0, 9))).scan()
    [only] = digests(await outbox(sessions, cfg))
    assert only.recipient == ADMIN and only.body["chart_day"] is None
    assert only.reply is not None and only.reply.photos == []


async def test_the_administrators_see_what_viber_billed(
    sessions: async_sessionmaker[AsyncSession], cfg: Settings
) -> None:
    """Issue 13: the daily digest's cost line — yesterday's and this month's Viber messages,
    inside residents' sessions (free) and started by the bot (billed), at [costs]' price."""
    cfg = cfg.model_copy(
        update={"costs": cfg.costs.model_copy(update={"viber_message_price": 0.02})}
    )
    await known_data(sessions)
    async with sessions() as session, session.begin():
        for sent_at, started in (
            [(at(-1, 10), True)] * 3  # yesterday: 3 billed
            + [(at(-1, 11), False)] * 5  # and 5 in residents' sessions
            + [(at(-5, 9), True)] * 2  # earlier this month: 2 billed
            + [(at(-12, 9), True)]  # last month: not counted
        ):
            msg = enqueue(session, "viber", "01234567890A==", {"event": "text", "text": "x"})
            msg.status, msg.sent_at, msg.bot_initiated = OutboxStatus.SENT, sent_at, started
    await make_jobs(sessions, cfg, Clock(at(0, 9, 30))).digest(at(0, 9, 30))
    sent = {g.recipient: g for g in digests(await outbox(sessions, cfg))}
    assert (
        "💬 Viber yesterday: 5 in residents' sessions (free) · 3 started by the bot "
        "(≈ 0.06 EUR); this month: 5 · 5 (≈ 0.10 EUR)"
    ) in sent[ADMIN].text
    assert "Viber" not in sent[LIGHTING_CHAT].text  # the departments' digests say nothing of it
