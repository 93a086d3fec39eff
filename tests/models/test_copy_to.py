"""Moving a city from SQLite to PostgreSQL (`python -m bot copy-to <url>`): every row arrives,
and the bot goes on there as if nothing happened: the next request gets the next number and
new rows new ids."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.config import Settings
from handlers.dialog.conversation import Conversation
from models.domain.base import Base
from models.domain.tables import Request, RequestEvent
from models.storage.engine import create_engine, session_factory, sqlite_url
from models.storage.migrate import upgrade
from tests.chat import Chat
from tests.conftest import PG_URL, ROOT
from tests.scratch_db import scratch_database

pytestmark = pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL is not set")


async def counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return {
                t.name: int(await conn.scalar(select(func.count()).select_from(t)) or 0)
                for t in Base.metadata.sorted_tables
            }
    finally:
        await engine.dispose()


async def test_an_sqlite_city_moves_to_postgresql(tmp_path: Path, settings: Settings) -> None:
    source_url = sqlite_url(tmp_path / "city.sqlite3")
    source = create_engine(source_url)
    await upgrade(source)
    conversation = Conversation(session_factory(source), settings)
    for user in ("3001", "3002", "3003"):
        await Chat(conversation, user, channel="telegram").file_request()
    await source.dispose()

    async with scratch_database("citybot_copy") as target_url:
        env = {"DATABASE_URL": source_url, "BOT_CONFIG": str(ROOT / "bot.toml"), "PATH": ""}
        run = [sys.executable, "-m", "bot", "copy-to", target_url]
        done = await asyncio.to_thread(
            subprocess.run, run, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        assert "copied" in done.stdout
        before, after = await counts(source_url), await counts(target_url)
        assert after == before and before["requests"] == 3 and before["request_events"] >= 3

        # Life goes on in PostgreSQL: a fourth request, new ids, the next number.
        target = create_engine(target_url)
        sessions = session_factory(target)
        await Chat(Conversation(sessions, settings), "3004", channel="telegram").file_request()
        async with sessions() as session:
            numbers = list(await session.scalars(select(Request.number).order_by(Request.id)))
            events = await session.scalar(select(func.count(func.distinct(RequestEvent.id))))
        await target.dispose()
        assert len(numbers) == 4 and len(set(numbers)) == 4
        assert numbers[-1].endswith("000004")
        assert events is not None and events > after["request_events"]

        # Copying again into the now used database is refused, and changes nothing.
        again = await asyncio.to_thread(
            subprocess.run, run, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        assert again.returncode == 2 and "not empty" in again.stderr
