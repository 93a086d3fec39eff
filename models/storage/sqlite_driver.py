"""aiosqlite with one thread hop per statement instead of four.

aiosqlite runs every call of the sqlite3 API on its worker thread: through SQLAlchemy a
statement costs a hop to create the cursor, one to execute, one to fetch and one to close, and
each hop is a queue put, a thread wake-up and a wake-up of the event loop (~0.1–0.2 ms of CPU
here). A dialog step is a handful of statements, so the hops were a third of the bot's CPU.

``FastConnection`` is aiosqlite's own ``Connection`` with a cursor that does the sqlite3 work of
a statement — create the cursor, execute, read the first rows — in one hop, and a transaction's
``BEGIN IMMEDIATE`` sent in the same hop as its first statement; inside
``inline_statements()`` (the dialog's short transactions) with no hop at all. Everything else
(the worker thread, commit, rollback, close, create_function) is aiosqlite's. SQLAlchemy's
aiosqlite dialect uses it through ``create_async_engine(async_creator=...)``.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from functools import partial
from pathlib import Path
from typing import Any

import aiosqlite

BUSY_TIMEOUT_MS = 5000  # how long a writer waits for another process's write lock

_inline: ContextVar[bool] = ContextVar("sqlite_inline", default=False)


@contextmanager
def inline_statements() -> Iterator[None]:
    """Run this task's SQLite statements on the event loop's own thread, with no hop at all.

    For the short transactions of a dialog step (a few indexed point queries and writes,
    tens of microseconds each in WAL mode): a hop to the worker thread costs more CPU than the
    statement — a queue put, a thread wake-up and an event-loop wake-up, each a system call
    that wakes another core. Long reads (statistics, exports, the digest) keep the thread, so
    the loop is never held for them."""
    token = _inline.set(True)
    try:
        yield
    finally:
        _inline.reset(token)


# Rows read in the statement's own hop; a longer result is read on in chunks of this size, so a
# large read streams rather than landing in memory at once.
PREFETCH = 512


class FastCursor:
    """The part of aiosqlite's ``Cursor`` SQLAlchemy uses, doing each statement in one hop."""

    arraysize = 1

    def __init__(self, conn: FastConnection) -> None:
        self._conn = conn
        self._cursor: sqlite3.Cursor | None = None
        self._rows: deque[Any] = deque()
        self._more = False

    async def __aenter__(self) -> FastCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _run(self, many: bool, sql: str, parameters: Any) -> tuple[sqlite3.Cursor, list[Any]]:
        db = self._conn._conn
        begin = self._conn._pending_begin
        if begin is not None:
            self._conn._pending_begin = None
            db.execute(begin)
        cur = db.cursor()
        if many:
            cur.executemany(sql, parameters)
        else:
            cur.execute(sql, parameters)
        rows = cur.fetchmany(PREFETCH) if cur.description else []
        return cur, rows

    async def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> FastCursor:
        return await self._start(False, sql, [] if parameters is None else parameters)

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> FastCursor:
        return await self._start(True, sql, parameters)

    async def _start(self, many: bool, sql: str, parameters: Any) -> FastCursor:
        if _inline.get() and self._conn._begin_without_waiting():
            self._cursor, rows = self._run(many, sql, parameters)
        else:
            self._cursor, rows = await self._conn._execute(  # type: ignore[no-untyped-call]
                self._run, many, sql, parameters
            )
        self._rows = deque(rows)
        self._more = len(rows) == PREFETCH
        return self

    async def _read_on(self, size: int | None) -> None:
        if not self._more or self._cursor is None:
            return
        cur = self._cursor
        rows: list[Any] = await self._conn._execute(  # type: ignore[no-untyped-call]
            cur.fetchall if size is None else partial(cur.fetchmany, size)
        )
        self._more = size is not None and len(rows) == size
        self._rows.extend(rows)

    async def fetchone(self) -> Any | None:
        if not self._rows:
            await self._read_on(PREFETCH)
        return self._rows.popleft() if self._rows else None

    async def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        size = size or self.arraysize
        if len(self._rows) < size:
            await self._read_on(max(size, PREFETCH))
        return [self._rows.popleft() for _ in range(min(size, len(self._rows)))]

    async def fetchall(self) -> Sequence[Any]:
        await self._read_on(None)
        rows = list(self._rows)
        self._rows.clear()
        return rows

    async def close(self) -> None:
        # A result read to its end needs no closing (SQLAlchemy still reads rowcount and
        # lastrowid after close, so the sqlite3 cursor is kept); one left unread is reset, so
        # it holds no snapshot of the database.
        if self._more and self._cursor is not None:
            await self._conn._execute(self._cursor.close)  # type: ignore[no-untyped-call]
        self._rows.clear()
        self._more = False

    @property
    def description(self) -> Any:
        return self._cursor.description if self._cursor is not None else None

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount if self._cursor is not None else -1

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid if self._cursor is not None else None


class FastConnection(aiosqlite.Connection):
    _pending_begin: str | None = None

    def cursor(self) -> FastCursor:  # type: ignore[override]
        return FastCursor(self)

    def defer_begin(self, statement: str) -> None:
        """Open the transaction with ``statement`` in the same hop as its first statement."""
        self._pending_begin = statement

    def _begin_without_waiting(self) -> bool:
        """Open the deferred transaction now if the database's write lock is free. If another
        process holds it, SQLite's busy handler would sleep on the event loop's thread: then
        False, and the statement goes to the worker thread to wait there."""
        begin = self._pending_begin
        if begin is None:
            return True
        db = self._conn
        db.execute("PRAGMA busy_timeout=0")
        try:
            db.execute(begin)
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                return False
            raise
        finally:
            db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        self._pending_begin = None
        return True

    def _idle(self) -> bool:
        """No transaction is open: commit and rollback have nothing to do (the pool rolls
        back every connection it takes back, usually right after a commit)."""
        self._pending_begin = None
        conn = self._connection
        return conn is None or not conn.in_transaction

    async def commit(self) -> None:
        if self._idle():
            return
        if _inline.get():
            self._conn.commit()
        else:
            await super().commit()

    async def rollback(self) -> None:
        if not self._idle():
            await super().rollback()


def connector(database: str | Path) -> FastConnection:
    """An unopened connection: SQLAlchemy awaits it, which starts its thread and connects."""
    # check_same_thread=False: result attributes (description, rowcount) are read from the
    # event loop's thread; every sqlite3 call still runs on the connection's own thread.
    conn = FastConnection(
        partial(sqlite3.connect, str(database), check_same_thread=False), iter_chunk_size=64
    )
    conn._thread.daemon = True
    return conn
