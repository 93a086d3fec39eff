"""Reminders, escalations and follow-ups: each goes out once, to the right people, whatever
restarts and concurrent schedulers there are; the clock is moved by hand, nothing sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.scheduler import SCAN_JOB_ID, make_scheduler, scheduling
from handlers.dialog.conversation import Conversation
from handlers.formatting import local_time
from handlers.i18n import to_plain, translator
from models.domain.base import as_utc
from models.domain.lifecycle import change_status
from models.domain.outbox import OutboxKind
from models.domain.residents import save_state
from models.domain.status import TRANSITIONS, Status
from models.domain.tables import Actor, Request, Resident
from models.storage.engine import create_engine, session_factory
from tests.chat import Chat
from tests.jobs_support import (
    LIGHTING_CHAT,
    LIGHTING_HEAD,
    OPERATORS_CHAT,
    RESIDENT,
    Clock,
    add,
    events_of,
    job_settings,
    load,
    local,
    make_jobs,
    of,
    outbox,
)

T0 = local(2026, 3, 2, 10)  # a Monday, 10:00 in Kyiv
DESK = [LIGHTING_CHAT, OPERATORS_CHAT]
ESCALATED_TO = [LIGHTING_CHAT, LIGHTING_HEAD, OPERATORS_CHAT]


@pytest.fixture
def cfg(settings: Settings) -> Settings:
    return job_settings(settings)


@pytest.fixture
async def second_engine(db_url: str, engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """Another engine over the same database: a restarted bot, or a second process."""
    other = create_engine(db_url)
    yield other
    await other.dispose()


def t(key: str, lang: str = "en", /, **kw: object) -> str:
    return to_plain(translator().t(lang, key, **kw))


async def test_reminder_at_three_quarters_of_the_time_once(
    sessions: async_sessionmaker[AsyncSession], cfg: Settings
) -> None:
    req = await add(sessions, created=T0, start_clock=cfg)
    stored = await load(sessions, req.id)
    assert stored.deadline_at is not None and stored.remind_at is not None
    # 7 days, reminded after 75 % of them: 5 days 6 hours.
    assert as_utc(stored.remind_at) == T0 + timedelta(days=5, hours=6)
    clock = Clock(T0 + timedelta(days=5, hours=5, minutes=59))
    kicks: list[int] = []
    jobs = make_jobs(sessions, cfg, clock, kicks)

    assert (await jobs.scan())["reminders"] == 0
    assert of(await outbox(sessions, cfg), "desk_reminder") == []

    clock.move(minutes=1)
    assert (await jobs.scan())["reminders"] == 1
    got = of(await outbox(sessions, cfg), "desk_reminder")
    assert [g.recipient for g in got] == DESK
    deadline = local_time(cfg, T0 + timedelta(days=7))
    expected = t(
        "desk.reminder", number=req.number, department="Street lighting", deadline=deadline
    )
    assert {g.text for g in got} == {expected}
    assert deadline == "09.03.2026 10:00"
    assert kicks, "the delivery worker is told at once"

    for _ in range(3):
        clock.move(hours=5)
        await jobs.scan()
    assert len(of(await outbox(sessions, cfg), "desk_reminder")) == 2  # still the first two


async def test_a_reminder_found_after_the_deadline_gives_way_to_the_escalation(
    sessions: async_sessionmaker[AsyncSession], cfg: Settings
) -> None:
    await add(sessions, created=T0, start_clock=cfg)
    jobs = make_jobs(sessions, cfg, Clock(T0 + timedelta(days=8)))  # down all along
    done = await jobs.scan()
    assert done["reminders"] == 1 and done["escalations"] == 1
    got = await outbox(sessions, cfg)
    assert of(got, "desk_reminder") == []
    assert [g.recipient for g in of(got, "desk_overdue")] == ESCALATED_TO


async def test_escalation_when_overdue_repeated_until_resolved(
    sessions: async_sessionmaker[AsyncSession], cfg: Settings
) -> None:
    req = await add(
        sessions,
        status=Status.IN_PROGRESS,
        created=T0,
        deadline=T0 + timedelta(days=1),
        remind=T0 + timedelta(hours=18),
    )
    clock = Clock(T0 + timedelta(hours=23, minutes=59))
    jobs = make_jobs(sessions, cfg, clock)
    await jobs.scan()
    first = await outbox(sessions, cfg)
    assert of(first, "desk_overdue") == []
    assert len(of(first, "desk_reminder")) == 2

    clock.move(minutes=1)
    assert (await jobs.scan())["escalations"] == 1
    got = await outbox(sessions, cfg, after=first[-1].id)
    overdue = of(got, "desk_overdue")
    assert [g.recipient for g in overdue] == ESCALATED_TO
    deadline = local_time(cfg, T0 + timedelta(days=1))
    assert {g.text for g in overdue} == {
        t("desk.overdue", number=req.number, department="Street lighting", deadline=deadline)
    }
    # The card is refreshed in the desk chats so it shows the request as overdue.
    cards = [g for g in got if g.kind is OutboxKind.CARD]
    assert [(g.recipient, g.body) for g in cards] == [(c, {"request_id": req.id}) for c in DESK]
    stored = await load(sessions, req.id)
    assert stored.escalations == 1

    # Not again within the repeat interval…
    clock.move(hours=23, minutes=59)
    assert (await jobs.scan())["escalations"] == 0
    # …and again when it has passed.
    clock.move(minutes=1)
    assert (await jobs.scan())["escalations"] == 1
    again = of(await outbox(sessions, cfg), "desk_overdue")[3:]
    assert [g.recipient for g in again] == ESCALATED_TO
    assert {g.text for g in again} == {
        t(
            "desk.overdue_again",
            number=req.number,
            department="Street lighting",
            deadline=deadline,
            count=2,
        )
    }

    # Resolved: no more escalations, however long it waits for the resident.
    async with sessions() as session, session.begin():
        current = await session.get(Request, req.id)
        assert current is not None
        await change_status(
            session,
            current,
            Status.RESOLVED,
            actor=Actor.STAFF,
            actor_id="5",
            note="Replaced the lamp",
            now=clock.now,
            desk_chats=DESK,
        )
    for _ in range(3):
        clock.move(hours=25)
        assert (await jobs.scan())["escalations"] == 0
    assert len(of(await outbox(sessions, cfg), "desk_overdue")) == 6


async def test_restart_sends_each_reminder_and_escalation_once(
    sessions: async_sessionmaker[AsyncSession],
    second_engine: AsyncEngine,
    cfg: Settings,
) -> None:
    reminded = await add(sessions, created=T0, start_clock=cfg)
    overdue = await add(
        sessions, created=T0 - timedelta(days=8), start_clock=cfg, status=Status.ASSIGNED
    )
    clock = Clock(T0 + timedelta(days=5, hours=7))
    await make_jobs(sessions, cfg, clock).scan()

    # The bot restarts: a new process, a new engine, a new Jobs; the clock has moved on a bit.
    clock.move(minutes=1)
    restarted = make_jobs(session_factory(second_engine), cfg, clock)
    done = await restarted.scan()
    assert done["reminders"] == 0 and done["escalations"] == 0

    got = await outbox(sessions, cfg)
    assert [(g.recipient, g.body["number"]) for g in of(got, "desk_reminder")] == [
        (c, reminded.number) for c in DESK
    ]
    assert [(g.recipient, g.body["number"]) for g in of(got, "desk_overdue")] == [
        (c, overdue.number) for c in ESCALATED_TO
    ]


async def test_two_schedulers_at_once_send_once(
    sessions: async_sessionmaker[AsyncSession],
    second_engine: AsyncEngine,
    cfg: Settings,
) -> None:
    reqs = [await add(sessions, created=T0, start_clock=cfg) for _ in range(5)]
    late = [await add(sessions, created=T0 - timedelta(days=7), start_clock=cfg) for _ in range(5)]
    clock = Clock(T0 + timedelta(days=5, hours=7))
    one = make_jobs(sessions, cfg, clock)
    two = make_jobs(session_factory(second_engine), cfg, clock)

    a, b = await asyncio.gather(one.scan(), two.scan())
    assert a["reminders"] + b["reminders"] == 5 + 5  # the late ones are claimed, not sent
    assert a["escalations"] + b["escalations"] == 5

    got = await outbox(sessions, cfg)
    numbers = sorted(g.body["number"] for g in of(got, "desk_reminder"))
    assert numbers == sorted(r.number for r in reqs for _ in DESK)
    overdue = sorted(g.body["number"] for g in of(got, "desk_overdue"))
    assert overdue == sorted(r.number for r in late for _ in ESCALATED_TO)

    clock.move(minutes=5)
    a, b = await asyncio.gather(one.scan(), two.scan())
    assert a["reminders"] == b["reminders"] == a["escalations"] == b["escalations"] == 0


async def test_unanswered_is_it_fixed_reminded_once_then_closed_unconfirmed(
    sessions: async_sessionmaker[AsyncSession], cfg: Settings
) -> None:
    resolved_at = T0
    req = await add(
        sessions,
        status=Status.RESOLVED,
        created=T0 - timedelta(days=2),
        resolved=resolved_at,
        waiting_since=resolved_at,
        deadline=T0 + timedelta(days=5),
        lang="uk",
    )
    clock = Clock(resolved_at + timedelta(days=3) - timedelta(minutes=1))
    jobs = make_jobs(sessions, cfg, clock)
    assert (await jobs.scan())["fix_followups"] == 0

    clock.move(minutes=1)
    assert (await jobs.scan())["fix_followups"] == 1
    got = of(await outbox(sessions, cfg), "fix_followup")
    assert len(got) == 1
    follow = got[0]
    assert (follow.channel, follow.recipient, follow.body["lang"]) == ("telegram", RESIDENT, "uk")
    assert follow.reply is not None
    assert follow.reply.payloads() == [f"fb:yes:{req.id}", f"fb:no:{req.id}"]
    close_at = local_time(cfg, clock.now + timedelta(days=3))
    assert follow.text == t("notify.fix_followup", "uk", number=req.number, close_at=close_at)
    assert "Проблему вирішено?" in follow.text

    # Once only.
    clock.move(days=2, hours=23, minutes=59)
    done = await jobs.scan()
    assert done["fix_followups"] == 0 and done["fix_closed"] == 0
    assert (await load(sessions, req.id)).status is Status.RESOLVED

    # Another three days without an answer: closed as resolved, unconfirmed.
    clock.move(minutes=1)
    before = (await outbox(sessions, cfg))[-1].id
    assert (await jobs.scan())["fix_closed"] == 1
    stored = await load(sessions, req.id)
    assert stored.status is Status.CLOSED
    assert stored.resolved_at is not None and stored.closed_at is not None
    note = translator().plain("uk", "jobs.closed_unconfirmed")
    last = (await events_of(sessions, req.id))[-1]
    assert (last.actor, last.actor_id, last.old_status, last.new_status, last.text) == (
        Actor.SYSTEM,
        None,
        Status.RESOLVED,
        Status.CLOSED,
        note,
    )
    got = await outbox(sessions, cfg, after=before)
    told = [g for g in got if g.recipient == RESIDENT]
    assert [g.event for g in told] == ["status"]
    assert told[0].text == "\n".join(
        [
            t("notify.status", "uk", number=req.number, status=t("status.closed", "uk")),
            t("notify.note", "uk", note=note),
        ]
    )
    desk = of(got, "desk_closed_unconfirmed")
    assert [g.recipient for g in desk] == DESK
    assert {g.text for g in desk} == {t("desk.closed_unconfirmed", number=req.number)}
    assert [g.recipient for g in got if g.kind is OutboxKind.CARD] == DESK

    # And nothing more, ever.
    clock.move(days=30)
    done = await jobs.scan()
    assert done["fix_followups"] == done["fix_closed"] == 0


async def test_the_follow_up_buttons_work(
    sessions: async_sessionmaker[AsyncSession], cfg: Settings
) -> None:
    req = await add(
        sessions,
        status=Status.RESOLVED,
        created=T0 - timedelta(days=2),
        resolved=T0,
        waiting_since=T0,
        channel="test",
    )
    clock = Clock(T0 + timedelta(days=3))
    jobs = make_jobs(sessions, cfg, clock)
    await jobs.scan()
    follow = of(await outbox(sessions, cfg), "fix_followup")
    assert len(follow) == 1 and follow[0].reply is not None
    async with sessions() as session, session.begin():  # a resident who has used the bot
        resident_id = (await load(sessions, req.id)).resident_id
        assert resident_id is not None
        await save_state(session, resident_id, "menu", {}, [])
    chat = Chat(Conversation(sessions, cfg), RESIDENT, channel="test")
    replies = await chat.payload(follow[0].reply.payloads()[0])  # "Yes, fixed"
    assert to_plain(replies[0].text) == t("feedback.thanks_rate", number=req.number)
    assert (await load(sessions, req.id)).status is Status.CLOSED

    clock.move(days=3)
    assert (await jobs.scan())["fix_closed"] == 0  # answered: nothing to close


async def test_unanswered_question_reminded_once_then_closed(
    sessions: async_sessionmaker[AsyncSession], cfg: Settings
) -> None:
    assert Status.CLOSED in TRANSITIONS[Status.NEEDS_INFO]
    question = "Which pole exactly — the one by the bus stop?"
    req = await add(
        sessions,
        status=Status.NEEDS_INFO,
        created=T0 - timedelta(days=1),
        waiting_since=T0,
        question=question,
    )
    other = await add(sessions, created=T0, resident="2002")  # someone else's: untouched
    async with sessions() as session, session.begin():
        resident = await session.get(Resident, (await load(sessions, req.id)).resident_id)
        assert resident is not None
        resident.awaiting_request_id = None  # e.g. since asked about another request
    clock = Clock(T0 + timedelta(days=7) - timedelta(seconds=1))
    jobs = make_jobs(sessions, cfg, clock)
    assert (await jobs.scan())["needinfo_followups"] == 0

    clock.move(seconds=1)
    assert (await jobs.scan())["needinfo_followups"] == 1
    got = of(await outbox(sessions, cfg), "needinfo_followup")
    assert [(g.channel, g.recipient) for g in got] == [("telegram", RESIDENT)]
    close_at = local_time(cfg, clock.now + timedelta(days=7))
    assert got[0].text == "\n".join(
        [
            t("notify.needinfo_followup", number=req.number, question=question),
            t("notify.closes_at", close_at=close_at),
        ]
    )
    async with sessions() as session:
        resident = await session.get(Resident, (await load(sessions, req.id)).resident_id)
        assert resident is not None
        assert resident.awaiting_request_id == req.id, "the next message answers the question"

    clock.move(days=6, hours=23)
    done = await jobs.scan()
    assert done["needinfo_followups"] == done["needinfo_closed"] == 0

    clock.move(hours=1)
    before = (await outbox(sessions, cfg))[-1].id
    assert (await jobs.scan())["needinfo_closed"] == 1
    stored = await load(sessions, req.id)
    assert stored.status is Status.CLOSED
    note = translator().plain("en", "jobs.closed_no_answer")
    last = (await events_of(sessions, req.id))[-1]
    assert (last.actor, last.old_status, last.new_status, last.text) == (
        Actor.SYSTEM,
        Status.NEEDS_INFO,
        Status.CLOSED,
        note,
    )
    got = await outbox(sessions, cfg, after=before)
    told = [g for g in got if g.recipient == RESIDENT]
    assert [g.body.get("status") for g in told] == ["closed"]
    assert t("notify.note", note=note) in told[0].text
    assert [g.recipient for g in of(got, "desk_closed_no_answer")] == DESK
    async with sessions() as session:
        resident = await session.get(Resident, stored.resident_id)
        assert resident is not None and resident.awaiting_request_id is None
    assert (await load(sessions, other.id)).status is Status.NEW


async def test_a_question_without_text_is_still_followed_up(
    sessions: async_sessionmaker[AsyncSession], cfg: Settings
) -> None:
    req = await add(sessions, status=Status.NEEDS_INFO, created=T0, waiting_since=T0)
    await make_jobs(sessions, cfg, Clock(T0 + timedelta(days=8))).scan()
    got = of(await outbox(sessions, cfg), "needinfo_followup")
    assert len(got) == 1
    assert got[0].text.startswith(t("notify.needinfo_followup_plain", number=req.number))


async def test_a_forgotten_resident_is_not_written_to_but_the_request_closes(
    sessions: async_sessionmaker[AsyncSession], cfg: Settings
) -> None:
    req = await add(
        sessions, status=Status.RESOLVED, created=T0, resolved=T0, waiting_since=T0, lang="ru"
    )
    async with sessions() as session, session.begin():
        resident = await session.get(Resident, (await load(sessions, req.id)).resident_id)
        assert resident is not None
        resident.external_id = None
    clock = Clock(T0 + timedelta(days=3))
    jobs = make_jobs(sessions, cfg, clock)
    await jobs.scan()
    clock.move(days=3)
    await jobs.scan()
    got = await outbox(sessions, cfg)
    assert [g for g in got if g.recipient == RESIDENT] == []
    assert len(of(got, "desk_closed_unconfirmed")) == 2
    stored = await load(sessions, req.id)
    assert stored.status is Status.CLOSED
    assert (await events_of(sessions, req.id))[-1].text == translator().plain(
        "ru", "jobs.closed_unconfirmed"
    )


async def test_a_failing_step_does_not_stop_the_others(
    sessions: async_sessionmaker[AsyncSession], cfg: Settings
) -> None:
    await add(sessions, created=T0, start_clock=cfg)
    jobs = make_jobs(sessions, cfg, Clock(T0 + timedelta(days=5, hours=7)))

    async def broken(_: object) -> int:
        raise RuntimeError("boom")

    jobs.escalations = broken  # type: ignore[method-assign,assignment]
    done = await jobs.scan()
    assert done["escalations"] == 0 and done["reminders"] == 1


# --- the scheduler ------------------------------------------------------------------------


def test_one_interval_job_without_a_persistent_store(cfg: Settings) -> None:
    cfg = job_settings(cfg, scan_seconds=45)
    jobs = make_jobs(session_factory(create_engine("sqlite+aiosqlite://")), cfg, Clock(T0))
    scheduler = make_scheduler(jobs, cfg)
    [job] = scheduler.get_jobs()
    assert job.id == SCAN_JOB_ID
    assert job.name == "reminders, escalations, follow-ups, digest"
    assert job.trigger.interval == timedelta(seconds=45)
    assert (job.coalesce, job.max_instances, job.misfire_grace_time) == (True, 1, 45)
    assert [type(s).__name__ for s in scheduler._jobstores.values()] == ["MemoryJobStore"]


async def test_scheduling_scans_at_start_and_stops_cleanly(
    sessions: async_sessionmaker[AsyncSession], cfg: Settings
) -> None:
    await add(sessions, created=T0, start_clock=cfg)
    jobs = make_jobs(sessions, cfg, Clock(T0 + timedelta(days=5, hours=7)))
    scanned = asyncio.Event()
    real_scan = jobs.scan

    async def scan() -> dict[str, int]:
        done = await real_scan()
        scanned.set()
        return done

    jobs.scan = scan  # type: ignore[method-assign]
    async with scheduling(jobs, cfg) as scheduler:
        await asyncio.wait_for(scanned.wait(), 10)
        assert scheduler.running
    assert not scheduler.running
    assert len(of(await outbox(sessions, cfg), "desk_reminder")) == 2
