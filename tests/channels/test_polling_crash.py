"""Polling through crashes (issue 17, break 1): the real bot process (`python -m bot run`,
polling the fake Bot API server over HTTP) is killed with SIGKILL again and again while staff
commands pour in and a third of its Bot API calls fail with 429 or 500. Every update is acted
on exactly once: none lost (confirmed to Telegram before its transaction committed), none
done twice (handed out again after a crash)."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handlers.dialog.conversation import Conversation
from models.domain.base import as_utc, utcnow
from models.domain.outbox import OutboxMessage, OutboxStatus, enqueue
from models.domain.tables import Actor, EventKind, Request, RequestEvent
from tests.chat import Chat
from tests.fakes.telegram_server import FakeTelegramServer

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "123456:TEST-token-for-the-fake-server"
STAFF = 777_001
UPDATES, WAVES, REQUESTS = 300, 6, 5


@pytest.fixture
async def srv() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer() as server:
        yield server


def config(tmp_path: Path) -> Path:
    """The shipped bot.toml with one admin, who sends the commands."""
    text = (ROOT / "bot.toml").read_text(encoding="utf-8")
    assert "\nadmins = []\n" in text
    path = tmp_path / "bot.toml"
    path.write_text(text.replace("\nadmins = []\n", f"\nadmins = [{STAFF}]\n"), encoding="utf-8")
    return path


def bot_env(srv: FakeTelegramServer, db_url: str, config_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE": srv.base_url,
        "DATABASE_URL": db_url,
        "BOT_CONFIG": str(config_path),
        "LOG_LEVEL": "WARNING",
    }


async def start_bot(
    srv: FakeTelegramServer,
    db_url: str,
    config_path: Path,
    stderr: IO[bytes] | int = asyncio.subprocess.DEVNULL,
    log_level: str = "WARNING",
) -> asyncio.subprocess.Process:
    """`python -m bot run`, polling the fake server."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        cwd=ROOT,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=stderr,
        env=bot_env(srv, db_url, config_path) | {"LOG_LEVEL": log_level},
    )


async def kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGKILL)
    await proc.wait()


async def replies(sessions: async_sessionmaker[AsyncSession]) -> Counter[str]:
    async with sessions() as session:
        texts = await session.scalars(
            select(RequestEvent.text).where(
                RequestEvent.kind == EventKind.REPLY, RequestEvent.actor == Actor.STAFF
            )
        )
        return Counter(t or "" for t in texts)


@pytest.mark.slow
async def test_every_polled_update_is_acted_on_once_through_kill_9(
    srv: FakeTelegramServer,
    conversation: Conversation,
    sessions: async_sessionmaker[AsyncSession],
    db_url: str,
    tmp_path: Path,
) -> None:
    for i in range(REQUESTS):
        await Chat(conversation, str(5000 + i), channel="telegram").file_request()
    async with sessions() as session:
        numbers = list(await session.scalars(select(Request.number).order_by(Request.id)))
    assert len(numbers) == REQUESTS
    path = config(tmp_path)
    srv.faults(rate=0.3, kinds=("429", "500"), seed=17, retry_after=1)
    rnd = random.Random(17)
    expected = [f"Answer {i}: the crew is on its way" for i in range(UPDATES)]
    per_wave = UPDATES // WAVES
    kills = 0
    for wave in range(WAVES):
        proc = await start_bot(srv, db_url, path)
        try:
            for i in range(wave * per_wave, (wave + 1) * per_wave):
                srv.push_update(
                    srv.message_update(STAFF, f"/reply {numbers[i % REQUESTS]} {expected[i]}")
                )
            # Killed in the middle of the wave: some of it handled, some not, some confirmed.
            before = sum((await replies(sessions)).values())
            deadline = time.monotonic() + 30
            while sum((await replies(sessions)).values()) < before + rnd.randint(5, per_wave // 2):
                assert time.monotonic() < deadline, "the bot handles nothing"
                await asyncio.sleep(0.01)
        finally:
            await kill(proc)
        assert proc.returncode == -signal.SIGKILL
        kills += 1
    # A last process, left running until every update is confirmed and nothing is new.
    proc = await start_bot(srv, db_url, path)
    try:
        deadline = time.monotonic() + 60
        while srv.pending_updates or sum((await replies(sessions)).values()) < UPDATES:
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 20)
        finally:
            await kill(proc)

    assert kills == WAVES
    done = await replies(sessions)
    lost = [t for t in expected if t not in done]
    twice = {t: n for t, n in done.items() if n > 1}
    assert not lost, f"{len(lost)} updates lost, e.g. {lost[:3]}"
    assert not twice, f"{len(twice)} updates acted on more than once: {list(twice.items())[:3]}"
    assert srv.stats.http_429 > 0, "the faults were on"


@pytest.mark.slow
async def test_sigterm_stops_at_once_and_hands_the_outbox_back(
    srv: FakeTelegramServer,
    sessions: async_sessionmaker[AsyncSession],
    db_url: str,
    tmp_path: Path,
) -> None:
    """Issue 12: SIGTERM (a service manager, a rolling restart) killed the bot at once with
    nothing logged, and what it had claimed from the outbox waited out the 60 s lease."""
    chat = 5_200
    async with sessions() as session, session.begin():
        for i in range(40):  # one a second to one chat: far more than it can send before
            enqueue(session, "telegram", str(chat), {"event": "text", "text": f"News {i}"})
    log = tmp_path / "bot.log"
    with log.open("wb") as stderr:
        proc = await start_bot(srv, db_url, config(tmp_path), stderr, log_level="INFO")
        try:
            await srv.wait_for(lambda c: c.method == "sendMessage" and c.ok, count=2, timeout=60)
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 15) == 0
        finally:
            await kill(proc)
    assert "SIGTERM: stopping" in log.read_text()
    now = utcnow()
    async with sessions() as session:
        rows = list(await session.scalars(select(OutboxMessage)))
    waiting = [m for m in rows if m.status is OutboxStatus.PENDING]
    assert waiting, "stopped before the end"
    assert all(m.locked_until is None or as_utc(m.locked_until) <= now for m in waiting)
