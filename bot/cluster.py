"""Several workers on one PostgreSQL database: which one sends and schedules, and how the
others reach it.

Each worker holds one connection of its own (not from the pool) on which it

- tries a session-level advisory lock, ``LEADER_KEY``: whoever holds it is the deployment's
  one sender (the outbox worker) and one scheduler, so the messengers' rate limits are kept in
  one place. The lock belongs to the connection: when the holder dies, even by SIGKILL,
  PostgreSQL drops the connection and the lock with it, and another worker takes it at its next
  try, within ``retry_seconds``. A holder that loses its connection (a restarted database, a
  cut network) steps down at once, before another can take over;
- listens on ``OUTBOX`` (something was queued: the sender sends it now rather than at its next
  poll) and ``STAFF`` (someone was made staff or removed: every worker's in-memory list is
  corrected at once, not after its refresh interval).

A notification is sent after the transaction that caused it committed, so whoever hears it
finds the rows. Notifications are only hints: the sender also polls, and the staff list is
also read again from time to time, so a notification lost with a dropped connection delays
things by seconds and loses nothing.

SQLite deployments are one process and use none of this.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import asyncpg
from sqlalchemy import make_url

if TYPE_CHECKING:
    from handlers.desk.engine import StaffDesk

log = logging.getLogger(__name__)

# Advisory lock keys are one namespace per database: "cit" + 2, beside the migration's "city".
LEADER_KEY = 0x63697402
OUTBOX = "citybot_outbox"
STAFF = "citybot_staff"
PING_TIMEOUT_SECONDS = 5.0


def asyncpg_dsn(url: str) -> str:
    """The SQLAlchemy URL (``postgresql+asyncpg://…``) as asyncpg itself takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class Cluster:
    """This worker's place among the others: leadership and the notifications."""

    def __init__(self, url: str, *, retry_seconds: float = 2.0) -> None:
        self.dsn = asyncpg_dsn(url)
        self.retry_seconds = retry_seconds
        self.leading = asyncio.Event()
        self.stepped_down = asyncio.Event()
        self.stepped_down.set()
        self.connected = False
        # Set by the runner: the sender's wake-up, and the desk's list of staff ids.
        self.on_outbox: Callable[[], None] = lambda: None
        self.on_staff: Callable[[int, bool], None] = lambda telegram_id, is_staff: None
        self._conn: asyncpg.Connection | None = None
        self._outbox_notice: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def attach(self, desk: StaffDesk) -> None:
        """Staff added or removed on this worker are told to the others' desks, and theirs to
        this one (StaffDesk keeps the list of staff ids in memory)."""
        self.on_staff = desk.staff_ids.mark
        desk.on_staff_marked = self.notify_staff

    # -- telling the others

    def notify_outbox(self) -> None:
        """Something was committed to the outbox; one notice at a time is enough."""
        if self._outbox_notice is not None and not self._outbox_notice.done():
            return
        self._outbox_notice = self._notify(OUTBOX, "")
        if self.leading.is_set():
            self.on_outbox()  # no need to wait for the round trip

    def notify_staff(self, telegram_id: int, is_staff: bool) -> None:
        self._notify(STAFF, f"{telegram_id}:{int(is_staff)}")

    def _notify(self, channel: str, payload: str) -> asyncio.Task[None] | None:
        conn = self._conn
        if conn is None:
            return None  # between connections: the others poll and refresh anyway

        async def send() -> None:
            try:
                await conn.execute("SELECT pg_notify($1, $2)", channel, payload)
            except Exception as exc:  # a hint only (see the module's docstring)
                log.warning("could not notify %s: %s", channel, exc)

        task = asyncio.create_task(send(), name=f"notify-{channel}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _heard(self, _conn: Any, _pid: int, channel: str, payload: str) -> None:
        if channel == OUTBOX:
            if self.leading.is_set():
                self.on_outbox()
        elif channel == STAFF:
            user, _, flag = payload.partition(":")
            with contextlib.suppress(ValueError):
                self.on_staff(int(user), flag == "1")

    # -- leadership

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop``: stay connected, listen, and take the lead when it is free."""
        while not stop.is_set():
            try:
                await self._connected_round(stop)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                log.warning("cluster connection lost: %s", exc)
            finally:
                await self._disconnect()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.retry_seconds)

    async def _connected_round(self, stop: asyncio.Event) -> None:
        conn = await asyncio.wait_for(asyncpg.connect(self.dsn), PING_TIMEOUT_SECONDS)
        self._conn = conn
        self.connected = True
        await conn.add_listener(OUTBOX, self._heard)
        await conn.add_listener(STAFF, self._heard)
        while not stop.is_set():
            if not self.leading.is_set():
                if await conn.fetchval("SELECT pg_try_advisory_lock($1)", LEADER_KEY):
                    log.info("this worker is now the sender and the scheduler")
                    self.stepped_down.clear()
                    self.leading.set()
            else:
                # The lock lives as long as this connection: make sure it still does.
                await asyncio.wait_for(conn.fetchval("SELECT 1"), PING_TIMEOUT_SECONDS)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.retry_seconds)

    async def _disconnect(self) -> None:
        if self.leading.is_set():
            log.info("this worker is no longer the sender and the scheduler")
        self.leading.clear()
        self.stepped_down.set()
        self.connected = False
        conn, self._conn = self._conn, None
        for task in list(self._tasks):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 1)
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), PING_TIMEOUT_SECONDS)  # frees the lock
            conn.terminate()
