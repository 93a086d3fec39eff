"""Staff work must not hold up residents: read-only desk commands run on a read path of their
own (on SQLite a second pool on the same file, deferred and query_only; on PostgreSQL
READ ONLY transactions), /export reads in short pages, and a resident's message costs the
desk no database query at all, while staff rights still change at once."""

from __future__ import annotations

import asyncio
import codecs
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import handlers.desk.export as export_module
import handlers.desk.reports as reports_module
import models.storage.desk_queries as desk_queries
from bot.app import build_app
from bot.config import Env, Settings
from handlers.desk.engine import StaffDesk
from handlers.dialog.conversation import Conversation, FloodGuard
from handlers.i18n import translator
from handlers.types import Incoming, Kind, Reply
from models.domain.staff import Role
from models.storage.engine import create_read_engine, dispose_read_engine, read_session_factory
from tests.conftest import ROOT
from tests.desk_data import Desk, add_request, add_staff
from tests.desk_settings import ADMIN, LIGHTING_CHAT

LIGHTING = 740_001
RESIDENT = 555_701
LATER = 740_002  # staff added while the bot runs
QUICK = 2.0  # a resident's update must be answered within this while staff read


def t(key: str, **kw: object) -> str:
    return translator().t("en", key, **kw)


@pytest.fixture
async def reader(engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    read_engine = create_read_engine(engine)
    yield read_engine
    await dispose_read_engine(read_engine, engine)


@pytest.fixture
def read_sessions(reader: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return read_session_factory(reader)


class Kicks:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


@pytest.fixture
def kicks() -> Kicks:
    return Kicks()


@pytest.fixture
def desk(
    sessions: async_sessionmaker[AsyncSession],
    read_sessions: async_sessionmaker[AsyncSession],
    cfg: Settings,
    kicks: Kicks,
) -> Desk:
    conversation = Conversation(sessions, cfg, flood=FloodGuard(limit=100_000))
    staff_desk = StaffDesk(
        sessions, cfg, conversation.tr, read_sessions=read_sessions, on_commit=kicks
    )
    return Desk(staff_desk, conversation)


class Statements:
    """Counts the SQL statements sent through some engines."""

    def __init__(self, *engines: AsyncEngine) -> None:
        self.count = 0
        self.engines = {id(e.sync_engine): e.sync_engine for e in engines}

    def _seen(self, *_: Any) -> None:
        self.count += 1

    def __enter__(self) -> Statements:
        for sync in self.engines.values():
            event.listen(sync, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *_: object) -> None:
        for sync in self.engines.values():
            event.remove(sync, "before_cursor_execute", self._seen)


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[asyncio.Event, asyncio.Event]]:
    """(/stats has read and now waits, let it go on): a slow /stats that keeps its read
    transaction open (its snapshot taken) until the test lets it finish."""
    reached, release = asyncio.Event(), asyncio.Event()
    real = desk_queries.stats

    async def slow_stats(session: AsyncSession, *args: Any) -> Any:
        rows = await real(session, *args)
        reached.set()
        await release.wait()
        return rows

    monkeypatch.setattr(reports_module, "stats", slow_stats)
    yield reached, release
    release.set()


async def test_a_long_read_only_command_does_not_hold_up_a_residents_update(
    desk: Desk,
    sessions: async_sessionmaker[AsyncSession],
    cfg: Settings,
    kicks: Kicks,
    gate: tuple[asyncio.Event, asyncio.Event],
) -> None:
    reached, release = gate
    await add_request(sessions, cfg, resident="555799", category="lighting")
    stats = asyncio.create_task(desk.command(ADMIN, "/stats month"))
    await asyncio.wait_for(reached.wait(), QUICK)
    # While the staff member's read transaction is open, a resident starts, chooses a
    # language and files a request: every step is a write transaction.
    resident = Desk(desk.desk, desk.conversation)
    async with asyncio.timeout(QUICK):
        await resident.command(RESIDENT, "/start")
        await resident.press(RESIDENT, "lang:en")
        await resident.press(RESIDENT, "menu:new")
        await resident.press(RESIDENT, "cat:lighting")
    assert not stats.done()
    release.set()
    answer = await asyncio.wait_for(stats, QUICK)
    assert answer[0].startswith(t("staff.stats_head", period=t("staff.period.month")))
    # A read-only command queues nothing: the delivery worker is not woken for it.
    assert kicks.count == 0
    await desk.command(ADMIN, f"/staff add {LATER} operator")
    assert kicks.count == 1


async def test_an_export_reads_in_pages_while_residents_write(
    desk: Desk,
    sessions: async_sessionmaker[AsyncSession],
    cfg: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Several requests filed at the very same moment: paging must not lose or repeat any.
    same = datetime(2026, 4, 10, 8, 0, tzinfo=UTC)
    for i in range(5):
        await add_request(sessions, cfg, resident=f"5557{i:02d}", category="lighting", now=same)
    await add_request(
        sessions, cfg, resident="555790", category="roads", now=datetime(2026, 4, 9, tzinfo=UTC)
    )
    whole = await export_file(desk.desk, "2026-04-01 2026-04-30")

    monkeypatch.setattr(desk_queries, "EXPORT_PAGE", 2)
    reached, release = asyncio.Event(), asyncio.Event()
    real = desk_queries.export_rows

    async def pausing(*args: Any, **kw: Any) -> AsyncIterator[Any]:
        async for n, row in aenumerate(real(*args, **kw)):
            if n == 3:  # between the second and the third page
                reached.set()
                await release.wait()
            yield row

    monkeypatch.setattr(export_module, "export_rows", pausing)
    export = asyncio.create_task(export_file(desk.desk, "2026-04-01 2026-04-30"))
    await asyncio.wait_for(reached.wait(), QUICK)
    async with asyncio.timeout(QUICK):
        await desk.command(RESIDENT, "/start")
        await desk.press(RESIDENT, "lang:en")
    release.set()
    paged = await asyncio.wait_for(export, QUICK)
    assert paged == whole
    assert paged.startswith(codecs.BOM_UTF8)
    assert paged.count(b"\r\n") == 1 + 6


async def aenumerate(rows: AsyncIterator[Any]) -> AsyncIterator[tuple[int, Any]]:
    n = 0
    async for row in rows:
        yield n, row
        n += 1


async def export_file(desk: StaffDesk, args: str) -> bytes:
    replies = await desk.handle(command(ADMIN, "export", args))
    assert replies is not None and replies[0].document is not None, replies
    return await asyncio.to_thread(take_file, Path(replies[0].document.path))


def take_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    finally:
        path.unlink()


def command(user: int, name: str, args: str = "", chat: int | None = None) -> Incoming:
    return Incoming(
        channel="telegram",
        user_id=str(user),
        chat_id=str(chat or user),
        group=(chat or user) < 0,
        kind=Kind.COMMAND,
        command=name,
        text=args,
    )


async def test_the_read_path_cannot_write(read_sessions: async_sessionmaker[AsyncSession]) -> None:
    async with read_sessions() as session:
        assert await session.scalar(text("SELECT count(*) FROM staff")) == 0
        with pytest.raises(DBAPIError):
            await session.execute(text("DELETE FROM staff"))


async def test_a_residents_message_costs_the_desk_no_query(
    desk: Desk,
    engine: AsyncEngine,
    reader: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await add_staff(sessions, LIGHTING, Role.DEPARTMENT, "lighting")
    await desk.desk.load_staff()
    events = [
        Incoming(channel="telegram", user_id=str(RESIDENT), kind=Kind.TEXT, text="hello"),
        Incoming(channel="telegram", user_id=str(RESIDENT), kind=Kind.PHOTO, photo="p1"),
        Incoming(channel="telegram", user_id=str(RESIDENT), kind=Kind.COMMAND, command="start"),
        Incoming(channel="telegram", user_id=str(RESIDENT), kind=Kind.BUTTON, payload="lang:en"),
    ]
    with Statements(engine, reader) as statements:
        for ev in events:
            assert await desk.desk.handle(ev) is None
    assert statements.count == 0
    # Staff's text may answer a prompt, and a desk command is always checked in the database.
    with Statements(engine, reader) as statements:
        assert await desk.text(LIGHTING, "no prompt open", LIGHTING_CHAT) == []
    assert statements.count > 0
    with Statements(engine, reader) as statements:
        assert await desk.desk.handle(command(RESIDENT, "queue")) is None
    assert statements.count > 0


async def test_staff_rights_change_at_once_in_this_process_and_soon_in_another(
    desk: Desk,
    sessions: async_sessionmaker[AsyncSession],
    read_sessions: async_sessionmaker[AsyncSession],
    cfg: Settings,
) -> None:
    lamp = await add_request(sessions, cfg, resident=str(RESIDENT), category="lighting")
    await desk.desk.load_staff()
    # Added by an admin: acts at once, and a prompt it opens is answered by its next text.
    assert await desk.command(ADMIN, f"/staff add {LIGHTING} department lighting") == [
        t("staff.added", id=LIGHTING, role="department", department="lighting")
    ]
    assert lamp.number in (await desk.command(LIGHTING, "/queue"))[0]
    assert await desk.press(LIGHTING, f"s:needinfo:{lamp.id}", LIGHTING_CHAT) == [
        t("staff.prompt.needinfo", number=lamp.number)
    ]
    assert await desk.text(LIGHTING, "Which pole exactly?", LIGHTING_CHAT, reply_to="1") == [
        t("staff.done_status", number=lamp.number, status=t("status.needs_info"))
    ]
    # Removed: refused at once, by read-only and writing commands alike.
    await desk.command(ADMIN, f"/staff remove {LIGHTING}")
    assert await desk.command(LIGHTING, "/queue", LIGHTING_CHAT) == []
    assert await desk.command(LIGHTING, f"/status {lamp.number} resolved", LIGHTING_CHAT) == []
    assert await desk.press(LIGHTING, f"s:accept:{lamp.id}", LIGHTING_CHAT) == []

    # Another process (its own desk) adds someone: their commands work here at once, and their
    # plain text (the answer to a prompt opened there) once this desk re-reads the staff list.
    other = Desk(
        StaffDesk(sessions, cfg, translator(), read_sessions=read_sessions), desk.conversation
    )
    desk.desk.staff_ids.ttl = 0.2
    await desk.desk.load_staff()
    await other.command(ADMIN, f"/staff add {LATER} operator")
    assert await other.press(LATER, f"s:reject:{lamp.id}", LIGHTING_CHAT) == [
        t("staff.prompt.reject", number=lamp.number)
    ]
    await asyncio.sleep(0.25)
    assert await desk.text(LATER, "Not a city lamp", LIGHTING_CHAT, reply_to="1") == [
        t("staff.done_status", number=lamp.number, status=t("status.rejected"))
    ]
    await other.command(ADMIN, f"/staff remove {LATER}")
    assert await desk.command(LATER, "/queue", LIGHTING_CHAT) == []


async def test_writing_staff_commands_still_run_in_one_transaction_with_their_effects(
    desk: Desk, sessions: async_sessionmaker[AsyncSession], cfg: Settings, kicks: Kicks
) -> None:
    lamp = await add_request(sessions, cfg, resident=str(RESIDENT), category="lighting")
    replies: list[Reply] | None = await desk.desk.handle(
        command(ADMIN, "status", f"{lamp.number} in_progress")
    )
    assert replies is not None
    assert replies[0].text == t(
        "staff.done_status", number=lamp.number, status=t("status.in_progress")
    )
    assert kicks.count == 1
    assert lamp.number in (await desk.command(ADMIN, f"/show {lamp.number}"))[0]
    assert kicks.count == 1


async def test_the_app_gives_the_desk_its_read_path(db_url: str, backend: str) -> None:
    app = await build_app(Env(database_url=db_url, config_path=str(ROOT / "bot.toml")))
    try:
        assert app.read_engine is not None
        assert app.desk.read_sessions is not app.sessions
        assert not app.desk.staff_ids.stale()  # the staff list was read at start
        async with app.desk.read_sessions() as session:
            if backend == "sqlite":
                assert app.read_engine is not app.engine
                assert await session.scalar(text("PRAGMA query_only")) == 1
            else:
                assert await session.scalar(text("SHOW transaction_read_only")) == "on"
    finally:
        await app.close()
