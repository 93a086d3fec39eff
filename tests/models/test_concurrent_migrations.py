"""A release that starts several workers at once, each running ``python -m bot migrate``: on
PostgreSQL they take turns (an advisory lock), so none fails or hangs and the schema ends at
head. Without the lock three upgrades at once wait on each other's DDL until the timeout."""

from __future__ import annotations

import asyncio

import pytest
from alembic.script import ScriptDirectory

from models.storage.engine import create_engine
from models.storage.migrate import alembic_config, current_revision, upgrade
from tests.conftest import PG_URL
from tests.scratch_db import scratch_database

pytestmark = pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL is not set")


async def test_migrations_started_at_the_same_instant_take_turns() -> None:
    async with scratch_database("citybot_migrate") as url:
        engines = [create_engine(url) for _ in range(3)]
        try:
            await asyncio.wait_for(asyncio.gather(*(upgrade(e) for e in engines)), 30)
            async with engines[0].connect() as conn:
                revision = await conn.run_sync(current_revision)
            assert revision == ScriptDirectory.from_config(alembic_config()).get_current_head()
        finally:
            for engine in engines:
                await engine.dispose()
