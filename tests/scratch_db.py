"""A PostgreSQL database of a test's own on the server of TEST_DATABASE_URL, dropped after:
for what needs an empty database (migrations from nothing, a copy into a new one)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

from sqlalchemy import make_url, text

from models.storage.engine import create_engine
from tests.conftest import PG_URL


@contextlib.asynccontextmanager
async def scratch_database(prefix: str) -> AsyncIterator[str]:
    """The URL of a new, empty database (``<prefix>_<random>``)."""
    admin = create_engine(PG_URL)
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    async with admin.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await auto.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await auto.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        await admin.dispose()
