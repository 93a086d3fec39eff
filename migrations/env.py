"""Alembic environment: runs on the bot's own async engine (SQLite or PostgreSQL)."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

import models.domain.metadata  # noqa: F401  (every table on the metadata)
from models.domain.base import Base
from models.storage.engine import create_engine

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    dialect = connection.dialect.name

    def include(obj: object, name: str | None, kind: str, reflected: bool, other: object) -> bool:
        """What autogenerate compares. Migration 0005 makes the address search by hand: the
        FTS5 table (and its shadow tables) on SQLite, the trigram index only on PostgreSQL."""
        if kind == "table" and name and name.startswith("requests_fts"):
            return False
        return not (
            kind == "index" and name == "ix_requests_address_trgm" and dialect != "postgresql"
        )

    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite can only ALTER a table by copying it
        compare_type=True,
        include_object=include,
    )
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    url = context.config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from bot.app import database_url

    return database_url()


async def _run_online() -> None:
    engine = create_engine(_url())
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_run)
    finally:
        await engine.dispose()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
elif context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_online())
