"""Delivery that loses nothing: the outbox worker against the fake Bot API server over real
HTTP. Faults (429 with retry_after, 500s, slow answers), a worker killed with SIGKILL in the
middle of a thousand messages, a resident who blocked the bot, Telegram's flood limits, and a
message that keeps failing until it is given up."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import sys
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.telegram.client import make_bot
from bot.channels.telegram.sender import TelegramSender
from bot.config import Settings
from bot.delivery import Delivery, Sender
from handlers.dialog.conversation import Conversation
from handlers.i18n import translator
from handlers.types import Incoming, Kind
from models.domain.base import utcnow
from models.domain.lifecycle import change_status
from models.domain.outbox import OutboxMessage, OutboxStatus, enqueue, pending_count
from models.domain.status import Status
from models.domain.tables import Actor, Request, Resident
from tests.desk_data import add_request
from tests.desk_settings import desk_settings
from tests.fakes.telegram_server import Call, FakeTelegramServer

ROOT = Path(__file__).resolve().parent.parent.parent
TOKEN = "123456:TEST-token-for-the-fake-server"
FIRST_CHAT = 600_000


@pytest.fixture
async def srv() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer(timeout_delay=0.3) as server:
        yield server


def sender_for(srv: FakeTelegramServer, timeout: float | None = None) -> TelegramSender:
    if timeout is None:
        return TelegramSender(make_bot(TOKEN, srv.base_url), translator())
    session = AiohttpSession(api=TelegramAPIServer.from_base(srv.base_url), timeout=timeout)
    bot = Bot(TOKEN, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))
    return TelegramSender(bot, translator())


@contextlib.asynccontextmanager
async def worker(
    sessions: async_sessionmaker[AsyncSession],
    cfg: Settings,
    sender: TelegramSender,
    idle_poll: float = 1.0,
) -> AsyncIterator[Delivery]:
    """The outbox worker running, as ``bot.runner.delivering`` runs it beside the bot."""
    senders: dict[str, Sender] = {"telegram": sender}
    delivery = Delivery(sessions, cfg, translator(), senders)
    stop = asyncio.Event()
    task = asyncio.create_task(delivery.run(stop, idle_poll=idle_poll))
    try:
        yield delivery
    finally:
        stop.set()
        delivery.kick()
        await task
        await sender.bot.session.close()


async def enqueue_texts(
    sessions: async_sessionmaker[AsyncSession], items: list[tuple[int, str]]
) -> None:
    async with sessions() as session, session.begin():
        for chat, text in items:
            enqueue(session, "telegram", str(chat), {"event": "text", "text": text, "lang": "en"})


async def drained(sessions: async_sessionmaker[AsyncSession], within: float) -> None:
    """Wait until the outbox has nothing pending."""
    deadline = time.monotonic() + within
    while True:
        async with sessions() as session:
            left = await pending_count(session)
        if left == 0:
            return
        assert time.monotonic() < deadline, f"{left} messages still pending after {within}s"
        await asyncio.sleep(0.05)


async def outbox(sessions: async_sessionmaker[AsyncSession]) -> list[OutboxMessage]:
    async with sessions() as session:
        return list(
            (await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars()
        )


def sends(srv: FakeTelegramServer) -> list[Call]:
    return [c for c in srv.calls if c.method == "sendMessage"]


def chat(c: Call) -> int:
    """The chat a call was for (a call refused before validation keeps the raw form value)."""
    return int(c.params["chat_id"])


def delivered(srv: FakeTelegramServer) -> Counter[tuple[int, str]]:
    """(chat, text) → how many times Telegram accepted it."""
    return Counter((chat(c), c.params["text"]) for c in sends(srv) if c.ok)


# --- faults ---------------------------------------------------------------------------------


@pytest.mark.slow
async def test_every_message_arrives_once_through_429s_500s_and_slow_answers(
    srv: FakeTelegramServer, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    cfg = desk_settings(
        settings,
        delivery={
            "global_per_second": 200,
            "private_per_second": 50,
            "backoff_base_seconds": 0.05,
            "backoff_max_seconds": 0.5,
            "max_attempts": 30,
        },
    )
    n = 60
    expected = [(FIRST_CHAT + i, f"Notification {i}") for i in range(n)]
    await enqueue_texts(sessions, expected)
    srv.faults(rate=0.3, kinds=("429", "500", "timeout"), seed=1, retry_after=1)
    async with worker(sessions, cfg, sender_for(srv), idle_poll=0.05):
        await drained(sessions, within=60)
    srv.clear_faults()

    assert delivered(srv) == Counter(expected), "each exactly once"
    rows = await outbox(sessions)
    assert [m.status for m in rows] == [OutboxStatus.SENT] * n
    by_chat: dict[int, list[Call]] = defaultdict(list)
    for c in sends(srv):
        by_chat[chat(c)].append(c)
    refused = [c for c in sends(srv) if c.status == 429]
    assert refused and any(c.status == 500 for c in sends(srv)), "the faults did happen"
    assert any(len(calls) == 1 for calls in by_chat.values())  # most go at the first try
    for c in refused:
        retry_after = c.response["parameters"]["retry_after"]
        later = [x for x in by_chat[chat(c)] if x.time > c.time]
        assert later, f"chat {chat(c)} was never retried"
        # Never before Telegram said it may (a little slack for the two clocks' rounding).
        assert later[0].time - c.time >= retry_after - 0.01, (str(c), str(later[0]))
        # And a 429 holds the whole bot back: nothing new goes to any chat meanwhile (what was
        # already on its way when the 429 came arrives within moments: half a second, for a
        # loaded CI machine whose event loop stalls).
        others = [x for x in sends(srv) if c.time + 0.5 < x.time < c.time + retry_after - 0.01]
        assert not others, [str(x) for x in others]
    # What a 429 or a 500 answered was retried: some rows needed several attempts.
    assert max(m.attempts for m in rows) >= 2


async def test_a_timed_out_send_is_retried(
    srv: FakeTelegramServer, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    """The bot gives up waiting after its request timeout and sends again. Telegram may well
    have taken the first one (the fake does, late): at least once, never lost."""
    cfg = desk_settings(settings, delivery={"backoff_base_seconds": 0.05})
    expected = [(FIRST_CHAT + i, f"Notification {i}") for i in range(5)]
    await enqueue_texts(sessions, expected)
    srv.fail_next("sendMessage", 2, "timeout", delay=1.5)
    async with worker(sessions, cfg, sender_for(srv, timeout=0.5), idle_poll=0.05):
        await drained(sessions, within=20)
        await asyncio.sleep(1.5)  # the late answers land
    counts = delivered(srv)
    assert set(counts) == set(expected)
    assert sum(counts.values()) - len(expected) <= 2, counts
    rows = await outbox(sessions)
    assert all(m.status is OutboxStatus.SENT for m in rows)
    assert sorted(m.attempts for m in rows)[-2:] == [2, 2]
    assert sum(m.last_error is not None for m in rows) == 2


async def test_after_max_attempts_of_500_a_message_is_failed_with_its_error(
    srv: FakeTelegramServer, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    cfg = desk_settings(settings, delivery={"max_attempts": 3, "backoff_base_seconds": 0.05})
    broken, fine = FIRST_CHAT, FIRST_CHAT + 1
    srv.fail_chat(broken, 500, "Internal Server Error")
    await enqueue_texts(sessions, [(broken, "Lost cause"), (fine, "Fine")])
    async with worker(sessions, cfg, sender_for(srv), idle_poll=0.05):
        await drained(sessions, within=20)
    rows = {int(m.recipient): m for m in await outbox(sessions)}
    assert rows[broken].status is OutboxStatus.FAILED
    assert rows[broken].attempts == 3
    assert "Internal Server Error" in (rows[broken].last_error or "")
    assert rows[fine].status is OutboxStatus.SENT
    assert len([c for c in sends(srv) if chat(c) == broken]) == 3
    assert delivered(srv) == Counter({(fine, "Fine"): 1})


# --- blocked residents ----------------------------------------------------------------------


async def test_a_resident_who_blocked_the_bot_is_marked_and_left_alone(
    srv: FakeTelegramServer, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    cfg = desk_settings(settings)
    blocker, other = FIRST_CHAT, FIRST_CHAT + 1
    req = await add_request(sessions, cfg, resident=str(blocker), category="lighting")
    await add_request(sessions, cfg, resident=str(other), category="lighting")
    srv.fail_chat(blocker, 403)
    await enqueue_texts(
        sessions,
        [(blocker, "First"), (blocker, "Second"), (other, "Hello"), (blocker, "Third")],
    )

    async def staff_changes(status: Status) -> None:
        async with sessions() as session, session.begin():
            r = await session.get(Request, req.id)
            assert r is not None
            await change_status(
                session,
                r,
                status,
                actor=Actor.STAFF,
                actor_id="1",
                note=None,
                now=utcnow(),
                desk_chats=[],
            )

    async with worker(sessions, cfg, sender_for(srv), idle_poll=0.05):
        await drained(sessions, within=20)
        async with sessions() as session:
            person = (
                await session.execute(select(Resident).where(Resident.external_id == str(blocker)))
            ).scalar_one()
        assert person.blocked_at is not None
        # A status change later is not sent to them, only kept for their return.
        await staff_changes(Status.IN_PROGRESS)
        await drained(sessions, within=20)
        to_blocker = [c for c in srv.calls if "chat_id" in c.params and chat(c) == blocker]
        assert len(to_blocker) == 1 and to_blocker[0].status == 403, [str(c) for c in to_blocker]
        rows = [m for m in await outbox(sessions) if m.recipient == str(blocker)]
        assert [m.status for m in rows] == [OutboxStatus.UNDELIVERABLE] * 4
        assert "blocked" in (rows[0].last_error or "") and "held" in (rows[-1].last_error or "")
        assert delivered(srv) == Counter({(other, "Hello"): 1})

        # They unblock the bot and write again: reachable again, and what was kept goes out.
        srv.clear_faults()
        conversation = Conversation(sessions, cfg)
        await conversation.handle(
            Incoming(channel="telegram", user_id=str(blocker), kind=Kind.COMMAND, command="start")
        )
        async with sessions() as session:
            person = (
                await session.execute(select(Resident).where(Resident.external_id == str(blocker)))
            ).scalar_one()
        assert person.blocked_at is None
        await staff_changes(Status.RESOLVED)
        await drained(sessions, within=20)
    got = [c.params["text"] for c in sends(srv) if c.ok and chat(c) == blocker]
    assert got[:3] == ["First", "Second", "Third"]
    assert len(got) == 5 and all(req.number in text for text in got[3:])


# --- Telegram's limits ----------------------------------------------------------------------


async def test_sixty_residents_in_two_seconds_without_a_single_429(
    srv: FakeTelegramServer, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    cfg = desk_settings(settings, delivery={})  # bot.toml: 30/s overall, 1/s per chat
    assert cfg.delivery.global_per_second == 30
    srv.enforce_limits()
    expected = [(FIRST_CHAT + i, f"Notification {i}") for i in range(60)]
    await enqueue_texts(sessions, expected)
    async with worker(sessions, cfg, sender_for(srv)):
        await drained(sessions, within=20)
    assert srv.stats.http_429 == 0, [str(c) for c in srv.calls if c.status == 429]
    assert delivered(srv) == Counter(expected)
    times = [c.time for c in sends(srv)]
    span = times[-1] - times[0]
    assert 1.8 <= span <= 3.0, (
        span
    )  # ≈ 59 gaps of 1/25 s (30/s less the dialogs' reserve): steady, not a burst and a wait
    # Steady: no 1-second window ever holds more than 30.
    assert max(sum(1 for u in times if t <= u < t + 1) for t in times) <= 30


async def test_messages_to_one_resident_are_a_second_apart(
    srv: FakeTelegramServer, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    cfg = desk_settings(settings, delivery={})
    srv.enforce_limits()
    expected = [(FIRST_CHAT, f"Part {i}") for i in range(3)]
    await enqueue_texts(sessions, expected)
    async with worker(sessions, cfg, sender_for(srv)):
        await drained(sessions, within=20)
    calls = sends(srv)
    assert srv.stats.http_429 == 0, [str(c) for c in calls if c.status == 429]
    assert [c.params["text"] for c in calls] == [t for _, t in expected], "in order"
    gaps = [b.time - a.time for a, b in itertools.pairwise(calls)]
    assert all(gap >= 1.0 for gap in gaps), gaps
    assert all(gap < 1.6 for gap in gaps), gaps  # and not much more


# --- a crash in the middle ------------------------------------------------------------------


async def load_worker(db_url: str, api_base: str) -> asyncio.subprocess.Process:
    """A worker process, loaded and waiting for ``go``."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.delivery_worker_main",
        db_url,
        api_base,
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    return proc


async def go(proc: asyncio.subprocess.Process) -> None:
    assert proc.stdout is not None and proc.stdin is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 60)
    assert line.strip() == b"ready", line
    proc.stdin.write(b"go\n")
    await proc.stdin.drain()


async def kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGKILL)
    await proc.wait()


@pytest.mark.slow
async def test_a_worker_killed_mid_way_loses_nothing(
    srv: FakeTelegramServer,
    sessions: async_sessionmaker[AsyncSession],
    db_url: str,
) -> None:
    n = 1000
    expected = [(FIRST_CHAT + i, f"Notification {i}") for i in range(n)]
    await enqueue_texts(sessions, expected)

    def ok_send(c: Call) -> bool:
        return c.ok and c.method == "sendMessage"

    # Both processes are loaded up front (aiogram takes seconds to import); the second one
    # starts working only once the first is dead.
    first = await load_worker(db_url, srv.base_url)
    second = await load_worker(db_url, srv.base_url)
    try:
        await go(first)
        await srv.wait_for(ok_send, count=350, timeout=30)  # in the middle of a batch
        await kill(first)
        assert first.returncode == -signal.SIGKILL
        assert sum(delivered(srv).values()) < n, "killed in the middle, not at the end"
        # What the dead worker had claimed stays leased to it for a while.
        held = {
            m.id
            for m in await outbox(sessions)
            if m.status is OutboxStatus.PENDING and m.locked_until is not None
        }
        assert held
        await go(second)
        await drained(sessions, within=30)
    finally:
        await kill(first)
        await kill(second)

    counts = delivered(srv)
    assert set(counts) == set(expected), f"lost: {len(set(expected) - set(counts))}"
    duplicates = sum(counts.values()) - n
    # At most what was in flight when the worker died (one per concurrent chat).
    assert duplicates <= 8, duplicates
    rows = await outbox(sessions)
    assert all(m.status is OutboxStatus.SENT for m in rows)
    assert {m.id for m in rows if m.id in held and m.sent_at is not None} == held
