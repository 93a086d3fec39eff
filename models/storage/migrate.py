"""Applying Alembic migrations on the bot's own async engine, and keeping the query planner's
statistics: ANALYZE after a migration changed the schema (new indexes have none) or while the
database has none yet; on SQLite, ``optimize`` once a day (handlers/jobs.py)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
# Rows per index that the daily PRAGMA optimize may read (SQLite's advice for long-lived
# connections): enough for the planner, and a bounded pause however big the database grows.
OPTIMIZE_ANALYSIS_LIMIT = 1000
# The key of the advisory lock that lets one `migrate` at a time read and move the revision
# ("city" in ASCII): several workers started together by a release migrate one after another,
# the later ones finding nothing left to do.
MIGRATION_LOCK_KEY = 0x63697479


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def has_statistics(connection: Connection) -> bool:
    """Whether the planner has statistics of the requests table."""
    if connection.dialect.name == "sqlite":
        found = connection.execute(
            text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'")
        ).first()
        return bool(
            found
            and connection.execute(
                text("SELECT 1 FROM sqlite_stat1 WHERE tbl = 'requests' LIMIT 1")
            ).first()
        )
    if connection.dialect.name == "postgresql":
        return bool(
            connection.execute(
                text(
                    "SELECT 1 FROM pg_stat_user_tables WHERE relname = 'requests' "
                    "AND coalesce(last_analyze, last_autoanalyze) IS NOT NULL"
                )
            ).first()
        )
    return True


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    def run(connection: Connection) -> None:
        if connection.dialect.name == "postgresql":
            # Held to the end of this transaction, so until the new revision is committed.
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        before = current_revision(connection)
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)
        if current_revision(connection) != before or not has_statistics(connection):
            connection.execute(text("ANALYZE"))

    async with engine.begin() as conn:
        await conn.run_sync(run)


async def optimize(session: AsyncSession) -> None:
    """SQLite's periodic upkeep: ``PRAGMA optimize`` re-analyses the tables whose statistics
    the queries of this connection relied on, once they are missing or the table has grown a
    lot, reading at most OPTIMIZE_ANALYSIS_LIMIT rows per index. PostgreSQL: nothing, its
    autovacuum analyses."""
    if session.get_bind().dialect.name != "sqlite":
        return
    await session.execute(text(f"PRAGMA analysis_limit = {OPTIMIZE_ANALYSIS_LIMIT}"))
    try:
        await session.execute(text("PRAGMA optimize"))
    finally:
        await session.execute(text("PRAGMA analysis_limit = 0"))
