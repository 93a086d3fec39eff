"""Shared fixtures: a real database (a SQLite file; PostgreSQL too when TEST_DATABASE_URL is
set), the repo's bot.toml, and a collecting chat that talks to the conversation core."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import Settings, load_settings
from handlers.dialog.conversation import Conversation
from models.domain.base import Base
from models.storage.engine import create_engine, session_factory, sqlite_url
from models.storage.migrate import upgrade
from tests.chat import Chat

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("TEST_DATABASE_URL", "")
BACKENDS = ["sqlite", "postgresql"]


class _UndeclaredMoves(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.moves: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.moves.append(record.getMessage())


@pytest.fixture(autouse=True)
def dialog_moves_are_declared(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test that drives the dialog also checks the step table: a step that moved
    somewhere its row in handlers/dialog/flow.py does not declare fails the test."""
    watch = _UndeclaredMoves()
    logger = logging.getLogger("handlers.dialog.flow")
    logger.addHandler(watch)
    try:
        yield
    finally:
        logger.removeHandler(watch)
    if request.node.get_closest_marker("undeclared_moves") is None:
        assert not watch.moves, watch.moves


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings(ROOT / "bot.toml")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrated once per run; each test gets a copy, which is much faster than migrating."""
    import asyncio

    path = tmp_path_factory.mktemp("template") / "template.sqlite3"

    async def build() -> None:
        engine = create_engine(sqlite_url(path))
        await upgrade(engine)
        await engine.dispose()

    asyncio.run(build())
    return path


_pg_migrated = False


async def _fresh_postgres() -> AsyncEngine:
    global _pg_migrated
    engine = create_engine(PG_URL)
    if not _pg_migrated:
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await upgrade(engine)
        _pg_migrated = True
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    return engine


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql" and not PG_URL:
        pytest.skip("TEST_DATABASE_URL is not set")
    return str(request.param)


@pytest.fixture
def db_url(backend: str, tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    if backend == "postgresql":
        yield PG_URL
        return
    path = tmp_path / "citybot.sqlite3"
    shutil.copy(sqlite_template, path)
    yield sqlite_url(path)


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    eng = await _fresh_postgres() if db_url == PG_URL and PG_URL else create_engine(db_url)
    yield eng
    await eng.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(engine)


@pytest.fixture
def conversation(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> Conversation:
    return Conversation(sessions, settings)


@pytest.fixture
def chat(conversation: Conversation) -> Chat:
    return Chat(conversation, "1001")
