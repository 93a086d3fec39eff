"""Moving a deployment from SQLite to PostgreSQL (``python -m bot copy-to <DATABASE_URL>``):
every table of the bot, row for row, into a freshly migrated database, then PostgreSQL's id
sequences set past the copied ids so that the next request, message or event gets a new one.

Run it with the bot stopped: rows written while it copies would be missed. The target must be
empty (no requests, no residents): copying into a database in use would mix two cities'
numbers."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Integer, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

import models.domain.metadata  # noqa: F401  (every table on the metadata, to be copied)
from models.domain.base import Base
from models.domain.tables import Request, Resident
from models.storage.migrate import upgrade

CHUNK = 2000


class TargetNotEmpty(Exception):
    pass


async def copy_database(
    source: AsyncEngine, target: AsyncEngine, say: Callable[[str], None] = print
) -> dict[str, int]:
    """Copy every table; returns the rows copied per table."""
    await upgrade(target)
    async with target.connect() as conn:
        for model in (Request, Resident):
            if await conn.scalar(select(func.count()).select_from(model)):
                raise TargetNotEmpty(f"the target already has {model.__tablename__}: not empty")
    copied: dict[str, int] = {}
    async with source.connect() as src, target.begin() as dst:
        # Parents before children (the foreign keys), all in one transaction on the target:
        # a copy that fails half-way leaves it as empty as it was.
        for table in Base.metadata.sorted_tables:
            count = 0
            result = await src.stream(select(table).order_by(*table.primary_key.columns))
            async for chunk in result.mappings().partitions(CHUNK):
                await dst.execute(insert(table), [dict(row) for row in chunk])
                count += len(chunk)
            copied[table.name] = count
            say(f"{table.name}: {count} rows")
        if target.dialect.name == "postgresql":
            for table in Base.metadata.sorted_tables:
                ids = [c for c in table.primary_key.columns if isinstance(c.type, Integer)]
                if len(ids) != 1 or not ids[0].autoincrement:
                    continue
                name, column = table.name, ids[0].name
                sequence = await dst.scalar(
                    text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": name, "c": column}
                )
                if sequence is None:
                    continue
                await dst.execute(
                    text(
                        f"SELECT setval(:s, coalesce(max({column}), 1), max({column}) IS NOT NULL)"
                        f" FROM {name}"
                    ),
                    {"s": sequence},
                )
    return copied
