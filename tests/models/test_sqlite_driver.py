"""The SQLite connection the bot runs on (models/sqlite_driver.py): one thread hop per statement,
or none inside a dialog step, and nothing SQLAlchemy relies on lost on the way."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from models.storage.engine import create_engine, session_factory
from models.storage.sqlite_driver import PREFETCH, inline_statements

pytestmark = pytest.mark.asyncio


@pytest.fixture
async def engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    eng = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    async with eng.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)"))
    yield eng
    await eng.dispose()


@pytest.mark.parametrize("inline", [False, True])
async def test_rowcount_lastrowid_and_long_results_survive(engine, inline: bool) -> None:  # type: ignore[no-untyped-def]
    sessions = session_factory(engine)
    rows = PREFETCH * 2 + 7  # longer than one read: the rest is read on
    with inline_statements() if inline else _nothing():
        async with sessions() as s, s.begin():
            await s.execute(text("INSERT INTO t (n) VALUES (:n)"), [{"n": i} for i in range(rows)])
            res = await s.execute(text("INSERT INTO t (n) VALUES (-1)"))
            assert res.lastrowid == rows + 1  # type: ignore[attr-defined]
            moved = await s.execute(text("UPDATE t SET n = n + 1 WHERE n < 10"))
            assert moved.rowcount == 11  # type: ignore[attr-defined]
            none = await s.execute(text("UPDATE t SET n = 0 WHERE n > 1000000"))
            assert none.rowcount == 0  # type: ignore[attr-defined]
            got = (await s.execute(text("SELECT n FROM t ORDER BY id"))).scalars().all()
            assert len(got) == rows + 1
            streamed = await s.stream(text("SELECT id FROM t ORDER BY id"))
            assert [r[0] async for r in streamed] == list(range(1, rows + 2))


async def test_a_transaction_with_no_statement_commits_and_rolls_back(engine) -> None:  # type: ignore[no-untyped-def]
    sessions = session_factory(engine)
    async with sessions() as s, s.begin():
        pass
    async with sessions() as s:
        await s.begin()
        await s.rollback()
    async with sessions() as s:
        assert (await s.execute(text("SELECT count(*) FROM t"))).scalar_one() == 0


@pytest.mark.parametrize("inline", [False, True])
async def test_a_failed_statement_rolls_back_its_transaction(engine, inline: bool) -> None:  # type: ignore[no-untyped-def]
    sessions = session_factory(engine)
    with inline_statements() if inline else _nothing(), pytest.raises(Exception, match="NOT NULL"):
        async with sessions() as s, s.begin():
            await s.execute(text("INSERT INTO t (n) VALUES (1)"))
            await s.execute(text("INSERT INTO t (n) VALUES (NULL)"))
    async with sessions() as s:
        assert (await s.execute(text("SELECT count(*) FROM t"))).scalar_one() == 0


async def test_two_processes_worth_of_writers_lose_no_increment(tmp_path: Path) -> None:
    """Two engines on one file (as two bot processes would be): BEGIN IMMEDIATE, now sent with
    the first statement, still makes each read-modify-write whole."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    first, second = create_engine(url), create_engine(url)
    async with first.begin() as conn:
        await conn.execute(text("CREATE TABLE c (id INTEGER PRIMARY KEY, v INTEGER)"))
        await conn.execute(text("INSERT INTO c VALUES (1, 0)"))

    async def bump(engine, inline: bool) -> None:  # type: ignore[no-untyped-def]
        sessions = session_factory(engine)
        for _ in range(50):
            with inline_statements() if inline else _nothing():
                async with sessions() as s, s.begin():
                    v = (await s.execute(text("SELECT v FROM c WHERE id = 1"))).scalar_one()
                    await asyncio.sleep(0)
                    await s.execute(text("UPDATE c SET v = :v WHERE id = 1"), {"v": v + 1})

    try:
        await asyncio.gather(bump(first, False), bump(second, False), bump(first, True))
        async with first.connect() as conn:
            assert (await conn.execute(text("SELECT v FROM c"))).scalar_one() == 150
    finally:
        await first.dispose()
        await second.dispose()


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
