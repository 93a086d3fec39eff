"""Several workers on one PostgreSQL database (bot/cluster.py): exactly one is the sender and
scheduler at any time, another takes over when it stops or its connection dies, and what one
worker does (a message queued, a staff member added) reaches the others at once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.cluster import Cluster, asyncpg_dsn
from bot.config import Settings
from handlers.desk.engine import StaffDesk
from handlers.i18n import translator
from handlers.types import Incoming, Kind
from tests.conftest import PG_URL
from tests.desk_settings import ADMIN, desk_settings

pytestmark = pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL is not set")
RETRY = 0.2


@contextlib.asynccontextmanager
async def worker() -> AsyncIterator[tuple[Cluster, asyncio.Event]]:
    cluster = Cluster(PG_URL, retry_seconds=RETRY)
    stop = asyncio.Event()
    task = asyncio.create_task(cluster.run(stop))
    try:
        yield cluster, stop
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def until(condition: object, within: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():  # type: ignore[operator]
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_one_leader_and_another_takes_over_when_it_stops() -> None:
    async with worker() as (a, stop_a), worker() as (b, stop_b):
        await until(lambda: a.leading.is_set() or b.leading.is_set())
        await asyncio.sleep(RETRY * 3)  # several rounds: still only one
        assert a.leading.is_set() != b.leading.is_set()
        leader, stop, other = (a, stop_a, b) if a.leading.is_set() else (b, stop_b, a)
        stop.set()  # SIGTERM, a rolling restart
        await until(lambda: other.leading.is_set(), within=RETRY * 5 + 1)
        assert not leader.leading.is_set()


async def _takeover_by_terminate(leader: Cluster, other: Cluster) -> None:
    await _terminate(leader)
    await until(lambda: other.leading.is_set(), within=RETRY * 5 + 2)
    await until(lambda: not leader.leading.is_set())


async def _terminate(cluster: Cluster) -> None:
    """What the database sees of a worker killed with SIGKILL: its connection gone."""
    conn = cluster._conn
    assert conn is not None
    admin = await asyncpg.connect(asyncpg_dsn(PG_URL))
    try:
        await admin.execute("SELECT pg_terminate_backend($1)", conn.get_server_pid())
    finally:
        await admin.close()


async def test_a_leader_whose_connection_dies_steps_down_and_another_leads() -> None:
    async with worker() as (a, _), worker() as (b, _):
        await until(lambda: a.leading.is_set() or b.leading.is_set())
        leader, other = (a, b) if a.leading.is_set() else (b, a)
        await _takeover_by_terminate(leader, other)
        # The old leader reconnects, and follows.
        await until(lambda: leader.connected)
        await asyncio.sleep(RETRY * 3)
        assert other.leading.is_set() and not leader.leading.is_set()


async def test_what_one_worker_does_reaches_the_others_at_once() -> None:
    async with worker() as (a, _), worker() as (b, _):
        await until(lambda: a.leading.is_set() or b.leading.is_set())
        await until(lambda: a.connected and b.connected)
        leader, other = (a, b) if a.leading.is_set() else (b, a)
        woken = asyncio.Event()
        leader.on_outbox = woken.set
        other.on_outbox = lambda: pytest.fail("only the sender is woken")
        other.notify_outbox()  # a staff command on the other worker queued a message
        await asyncio.wait_for(woken.wait(), 1)
        marked: list[tuple[int, bool]] = []
        leader.on_staff = other.on_staff = lambda user, is_staff: marked.append((user, is_staff))
        other.notify_staff(42, True)
        await until(lambda: len(marked) == 2, within=1)  # every worker, itself included
        assert marked == [(42, True), (42, True)]


async def test_someone_made_staff_on_one_worker_is_staff_on_the_other_at_once(
    backend: str, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    """Issue 12: an operator added with /staff on one worker was taken for a resident by the
    other for up to 30 s (its in-memory list of staff ids), e.g. their answer to a prompt."""
    if backend != "postgresql":
        pytest.skip("several workers need PostgreSQL")
    cfg = desk_settings(settings)
    desks = [StaffDesk(sessions, cfg, translator()) for _ in range(2)]
    async with worker() as (a, _), worker() as (b, _):
        for cluster, desk in zip((a, b), desks, strict=True):
            cluster.attach(desk)
            await desk.load_staff()
        await until(lambda: a.connected and b.connected)
        newcomer = 777_123
        assert not await desks[1].may_be_staff(newcomer)
        add = Incoming(
            "telegram", str(ADMIN), Kind.COMMAND, command="staff", text=f"add {newcomer} operator"
        )
        assert await desks[0].handle(add)
        await until(lambda: newcomer in desks[1].staff_ids.ids, within=1)
        assert await desks[1].may_be_staff(newcomer)
