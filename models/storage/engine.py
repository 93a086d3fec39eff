"""Engines and sessions: SQLite (embedded default) or PostgreSQL, chosen by URL only."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from models.storage.sqlite_driver import BUSY_TIMEOUT_MS, FastConnection, inline_statements
from models.storage.sqlite_driver import connector as sqlite_connector


def sqlite_url(path: str | Path) -> str:
    return f"sqlite+aiosqlite:///{Path(path)}"


def normalise_url(url: str) -> str:
    """Accept the usual postgres:// spellings and pick the async driver for them."""
    u = make_url(url)
    if u.drivername in ("postgres", "postgresql", "postgresql+psycopg2"):
        u = u.set(drivername="postgresql+asyncpg")
    elif u.drivername == "sqlite":
        u = u.set(drivername="sqlite+aiosqlite")
    return u.render_as_string(hide_password=False)


def _setup_sqlite(engine: AsyncEngine) -> None:
    sync = engine.sync_engine

    @event.listens_for(sync, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        # The driver's implicit transactions lost concurrent read-modify-write updates; we
        # take control (isolation_level=None) and open every transaction with BEGIN IMMEDIATE.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        for pragma in (
            "journal_mode=WAL",
            f"busy_timeout={BUSY_TIMEOUT_MS}",
            "synchronous=NORMAL",
            "foreign_keys=ON",
        ):
            cur.execute(f"PRAGMA {pragma}")
        cur.close()

    @event.listens_for(sync, "begin")
    def _begin(conn: Any) -> None:
        driver = conn.connection.driver_connection
        if isinstance(driver, FastConnection):
            driver.defer_begin("BEGIN IMMEDIATE")  # sent with the first statement, one hop
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    url = normalise_url(url)
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        # SQLite has one writer at a time, and every transaction here writes. With several
        # connections, the waiting ones sleep in SQLite's busy handler (1, 2, 5 … 100 ms
        # naps), which under load stretched a step to seconds. One connection, handed out in
        # turn by an asyncio-aware pool, queues transactions without sleeping.
        in_memory = not u.database or u.database == ":memory:"
        pool: dict[str, Any] = (
            {} if in_memory else {"pool_size": 1, "max_overflow": 0, "pool_timeout": 60}
        )
        if not in_memory:
            database = str(u.database)

            async def fast() -> FastConnection:
                conn = sqlite_connector(database)
                await conn
                return conn

            pool["async_creator"] = fast
        engine = create_async_engine(url, echo=echo, **pool)
        _setup_sqlite(engine)
        return engine
    return create_async_engine(url, echo=echo, pool_size=10, max_overflow=10, pool_pre_ping=True)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


READ_POOL_SIZE = 3


def _setup_sqlite_reader(engine: AsyncEngine) -> None:
    sync = engine.sync_engine

    @event.listens_for(sync, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        # The writer's connection set WAL on the file (it is persistent). A reader only
        # reads: query_only makes any write an error instead of a silent lock.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        for pragma in ("busy_timeout=5000", "foreign_keys=ON", "query_only=ON"):
            cur.execute(f"PRAGMA {pragma}")
        cur.close()

    @event.listens_for(sync, "begin")
    def _begin(conn: Any) -> None:
        # A deferred BEGIN takes a read snapshot at its first SELECT and, under WAL, never
        # waits for the writer nor makes it wait.
        conn.exec_driver_sql("BEGIN")


def create_read_engine(engine: AsyncEngine, *, pool_size: int = READ_POOL_SIZE) -> AsyncEngine:
    """The engine for read-only work (staff queues, statistics, exports) beside ``engine``.

    SQLite file: a second engine on the same file with a few connections of its own, so a
    long read never holds the writer's one connection. PostgreSQL: the same pool, with every
    transaction READ ONLY. SQLite in memory (one private database per connection): ``engine``
    itself. Dispose it with :func:`dispose_read_engine`."""
    u = engine.url
    if u.get_backend_name() == "sqlite":
        if not u.database or u.database == ":memory:":
            return engine
        reader = create_async_engine(
            u, pool_size=pool_size, max_overflow=0, pool_timeout=60, echo=engine.echo
        )
        _setup_sqlite_reader(reader)
        return reader
    if u.get_backend_name() == "postgresql":
        return engine.execution_options(postgresql_readonly=True)
    return engine


async def dispose_read_engine(reader: AsyncEngine, engine: AsyncEngine) -> None:
    """Close the reader's own connections, if it has any (PostgreSQL's shares the pool)."""
    if reader.sync_engine.pool is not engine.sync_engine.pool:
        await reader.dispose()


def read_session_factory(reader: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for read-only commands: open one, read, let it close (no ``begin()``)."""
    return async_sessionmaker(reader, expire_on_commit=False, autoflush=False)


def short_transaction() -> AbstractContextManager[None]:
    """Around a transaction of a few indexed point queries and writes (a dialog step): the
    database driver may run its statements without handing them to a worker thread (SQLite:
    see sqlite_driver.inline_statements; other drivers ignore it)."""
    return inline_statements()
