"""Migration 0005 and what the queries need of it: the open queues read the partial indexes
(SQLite uses one only when the query repeats its condition exactly), the address search table
is filled from the rows already there and has its triggers, the migration goes down and up
again, statistics are taken after a migration, and on PostgreSQL a role that may not create
pg_trgm still gets the migration."""

from __future__ import annotations

import importlib.util
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import event, insert, select, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from models.domain.base import Base, as_utc
from models.domain.scheduling import claim_followups
from models.domain.status import OPEN_STATUS_SQL, Status
from models.domain.tables import Request
from models.storage.desk_queries import queue, search
from models.storage.engine import create_engine, session_factory, sqlite_url
from models.storage.migrate import MIGRATIONS_DIR, alembic_config, has_statistics, optimize, upgrade
from tests.conftest import PG_URL

TRIGGERS = {"requests_fts_insert", "requests_fts_delete", "requests_fts_update"}
OPEN_INDEXES = {"ix_requests_open_created", "ix_requests_open_dept_created"}


def migration_0005() -> Any:
    path = next((MIGRATIONS_DIR / "versions").glob("0005_*.py"))
    spec = importlib.util.spec_from_file_location("migration_0005", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_queries_repeat_the_partial_indexes_condition() -> None:
    assert migration_0005().OPEN == OPEN_STATUS_SQL


async def migrate(engine: AsyncEngine, revision: str) -> None:
    def run(connection: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        current = MigrationContext.configure(connection).get_current_revision()
        if current is not None and current > revision:
            command.downgrade(cfg, revision)
        else:
            command.upgrade(cfg, revision)

    async with engine.begin() as conn:
        await conn.run_sync(run)


async def schema(engine: AsyncEngine) -> set[str]:
    """Names of the indexes on requests, and (SQLite) of its triggers and the FTS table."""
    async with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            sql = "SELECT name FROM sqlite_master WHERE tbl_name IN ('requests', 'requests_fts')"
        else:
            sql = "SELECT indexname FROM pg_indexes WHERE tablename = 'requests'"
        return {str(n) for (n,) in await conn.execute(text(sql))}


def requests_rows(n: int) -> list[dict[str, Any]]:
    return [
        {
            "number": f"2026-{i:06d}",
            "channel": "telegram",
            "language": "uk",
            "category": "lighting",
            "department": "lighting" if i % 2 else "roads",
            "address": f"вул. Соборності, {i}",
            "status": "new" if i % 3 else "closed",
        }
        for i in range(1, n + 1)
    ]


@pytest.fixture
async def empty(backend: str, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A database migrated to 0004 only (PostgreSQL: the test schema, brought back to head
    afterwards so that the other tests find it as they expect)."""
    if backend == "postgresql":
        engine = create_engine(PG_URL)
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    else:
        engine = create_engine(sqlite_url(tmp_path / "old.sqlite3"))
    await migrate(engine, "0004")
    try:
        yield engine
    finally:
        if backend == "postgresql":
            await migrate(engine, "head")
            async with engine.begin() as conn:
                await conn.execute(text("TRUNCATE requests RESTART IDENTITY CASCADE"))
        await engine.dispose()


# Added by migrations after 0005 on the same table ("this is my problem too", 0014).
LATER_INDEXES = {"ix_requests_category_place", "ix_requests_category_lat"}


async def test_migration_0005_up_down_and_up_again(backend: str, empty: AsyncEngine) -> None:
    engine = empty
    async with engine.begin() as conn:
        await conn.execute(insert(Request), requests_rows(30))
    before = await schema(engine)
    await upgrade(engine)  # as the bot starts: to head, then ANALYZE
    added = await schema(engine) - before
    expected = set(OPEN_INDEXES)
    expected |= {"requests_fts"} | TRIGGERS if backend == "sqlite" else {"ix_requests_address_trgm"}
    expected |= LATER_INDEXES
    assert added == expected
    async with engine.connect() as conn:
        assert await conn.run_sync(has_statistics)
    sessions = session_factory(engine)
    async with sessions() as session:  # the rows that were there are found (backfilled)
        found = await search(session, "СОБОРНОСТІ, 7", None, phone=None)
        assert [r.address for r in found] == ["вул. Соборності, 7"]
        rows, total = await queue(session, None)
        assert total == 20 and len(rows) == 20
        await optimize(session)
    await migrate(engine, "0004")
    assert await schema(engine) == before
    await migrate(engine, "head")
    assert await schema(engine) - before == expected


async def test_model_and_migrations_agree_on_the_requests_indexes(engine: AsyncEngine) -> None:
    def diff(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with engine.connect() as conn:
        changes = await conn.run_sync(diff)
    sqlite = engine.dialect.name == "sqlite"
    about_requests = [
        c
        for c in changes
        if isinstance(c, tuple)
        and c[0] in ("add_index", "remove_index")
        and c[1].table.name == "requests"
        # pg_trgm's index is PostgreSQL's only (the model says so with ddl_if).
        and not (sqlite and c[1].name == "ix_requests_address_trgm")
    ]
    assert about_requests == []


async def test_the_open_queues_read_the_partial_indexes(backend: str, engine: AsyncEngine) -> None:
    """With a few thousand rows and fresh statistics, the queue of all departments and a
    department's queue are read off the partial indexes, not sorted."""
    async with engine.begin() as conn:
        rows = requests_rows(3000)
        for i, row in enumerate(rows):
            # 300 open (the queues), half of them the roads department's.
            row["status"] = Status.NEW.value if i % 20 in (0, 1) else Status.CLOSED.value
        await conn.execute(insert(Request), rows)
        await conn.execute(text("ANALYZE"))
    statements: list[tuple[str, Any]] = []

    def seen(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if "ORDER BY" in statement:
            statements.append((statement, params))

    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    try:
        async with session_factory(engine)() as session:
            everyone, total = await queue(session, None)
            roads, roads_total = await queue(session, "roads")
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", seen)
    assert (len(everyone), total, len(roads), roads_total) == (20, 300, 20, 150)
    assert [r.created_at for r in everyone] == sorted(r.created_at for r in everyone)
    plans = []
    async with engine.connect() as conn:
        for statement, params in statements:
            if backend == "sqlite":
                result = await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)
                plans.append(" / ".join(str(r[-1]) for r in result))
            else:
                await conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
                result = await conn.exec_driver_sql("EXPLAIN " + statement, params)
                plans.append(" / ".join(str(r[0]) for r in result))
    assert len(plans) == 2
    assert "ix_requests_open_created" in plans[0], plans[0]
    # PostgreSQL may as well filter the all-departments index when a department is half of it.
    dept_index = "ix_requests_open_dept_created" if backend == "sqlite" else "ix_requests_open_"
    assert dept_index in plans[1], plans[1]
    for plan in plans:
        assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan


async def test_analysed_once_there_are_rows_and_after_each_migration(tmp_path: Path) -> None:
    path = tmp_path / "fresh.sqlite3"
    engine = create_engine(sqlite_url(path))
    try:
        await upgrade(engine)
        async with engine.connect() as conn:
            assert not await conn.run_sync(has_statistics)  # nothing to take from empty tables
        async with engine.begin() as conn:
            await conn.execute(insert(Request), requests_rows(50))
        await upgrade(engine)  # the next start: no migration, but no statistics yet
        async with engine.connect() as conn:
            assert await conn.run_sync(has_statistics)
            stat = await conn.execute(text("SELECT count(*) FROM sqlite_stat1"))
            assert stat.scalar()
    finally:
        await engine.dispose()


@pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL is not set")
async def test_postgres_without_the_right_to_create_pg_trgm(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A city's database role that owns its schema but may not create extensions: the
    migration succeeds without the trigram index, and /find by address still works."""
    admin = create_engine(PG_URL)
    name = f"citybot_lowpriv_{uuid.uuid4().hex[:8]}"
    role = "citybot_lowpriv"
    async with admin.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        exists = await auto.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role})
        if exists.first() is None:
            await auto.execute(text(f"CREATE ROLE {role} LOGIN"))
        await auto.execute(text(f"CREATE DATABASE {name}"))
    url = make_url(PG_URL).set(database=name)
    owner = create_engine(url.render_as_string(hide_password=False))
    async with owner.begin() as conn:
        await conn.execute(text(f"GRANT CREATE, USAGE ON SCHEMA public TO {role}"))
    await owner.dispose()
    engine = create_engine(url.set(username=role).render_as_string(hide_password=False))
    try:
        with caplog.at_level(logging.WARNING):
            await upgrade(engine)
        assert "pg_trgm could not be created" in caplog.text
        names = await schema(engine)
        assert names >= OPEN_INDEXES and "ix_requests_address_trgm" not in names
        async with engine.begin() as conn:
            await conn.execute(insert(Request), requests_rows(3))
        async with session_factory(engine)() as session:
            found = await search(session, "соборності, 2", None, phone=None)
            assert [r.address for r in found] == ["вул. Соборності, 2"]
    finally:
        await engine.dispose()
        async with admin.connect() as conn:
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await auto.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        await admin.dispose()


async def test_requests_waiting_before_0003_get_their_follow_up(
    backend: str, empty: AsyncEngine
) -> None:
    """Resolved, or waiting for the resident's information, before waiting_since existed: dated
    from when they were resolved (or last changed), so "Is it fixed?" and the closure come."""
    resolved_at = datetime(2026, 9, 1, 10, tzinfo=UTC)
    changed_at = datetime(2026, 9, 2, 12, tzinfo=UTC)
    rows = [row | {"updated_at": changed_at, "resolved_at": None} for row in requests_rows(3)]
    rows[0] |= {"status": "resolved", "resolved_at": resolved_at}
    rows[1] |= {"status": "needs_info"}
    rows[2] |= {"status": "in_progress"}
    async with empty.begin() as conn:
        await conn.execute(insert(Request), rows)
    await upgrade(empty)
    sessions = session_factory(empty)
    async with sessions() as session:
        rows_now = (await session.execute(select(Request.number, Request.waiting_since))).all()
    got = {number: as_utc(at) if at else None for number, at in rows_now}
    assert got == {"2026-000001": resolved_at, "2026-000002": changed_at, "2026-000003": None}
    later = datetime(2026, 10, 1, tzinfo=UTC)
    async with sessions() as session, session.begin():
        due = await claim_followups(session, later, Status.RESOLVED, timedelta(days=3))
    assert [r.number for r in due] == ["2026-000001"]
