"""Benchmark 4: the queries behind the resident's and the staff's screens on a city's years of
data (``bench.seed``): p50/p99 of each, their query plans (which indexes are missing), and the
CSV export's speed and peak memory at two sizes.

Each query runs as the bot runs it: a new session and transaction per call (on SQLite that is
``BEGIN IMMEDIATE``), through the functions of ``models/``, with parameters drawn from the data.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import event, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bench.common import BENCH_DIR, ROOT, backend_of, fresh_database, latency_summary
from bench.seed import seed_database

DATA_DIR = BENCH_DIR / ".data"
SEED_VERSION = 1  # bump when bench/seed.py changes what it writes
INTERACTIVE_P99_MS = 20.0
STATS_MS = 1000.0


@dataclass
class Sample:
    resident_ids: list[int]
    numbers: list[str]
    phones: list[str]
    addresses: list[str]
    departments: list[str]
    now: datetime
    tz: ZoneInfo

    def day_start(self, days_ago: int) -> datetime:
        """The city's midnight ``days_ago`` days before today, in UTC (as the desk computes)."""
        today = self.now.astimezone(self.tz).date() - timedelta(days=days_ago)
        return datetime(today.year, today.month, today.day, tzinfo=self.tz).astimezone(UTC)


Query = Callable[[AsyncSession, Sample, random.Random], Awaitable[object]]


def queries() -> dict[str, tuple[str, Query]]:
    """name → (kind, query); kind "interactive" (target p99 < 20 ms) or "stats" (< 1 s)."""
    from models.domain.requests import list_for_resident
    from models.storage.desk_queries import by_number, queue, search, stats
    from models.storage.digest_queries import digest_figures
    from models.storage.quality import quality

    async def my_requests(s: AsyncSession, x: Sample, r: random.Random) -> object:
        return await list_for_resident(s, r.choice(x.resident_ids), offset=0, limit=5)

    async def queue_department(s: AsyncSession, x: Sample, r: random.Random) -> object:
        return await queue(s, r.choice(x.departments))

    async def queue_all(s: AsyncSession, x: Sample, r: random.Random) -> object:
        return await queue(s, None)

    async def number(s: AsyncSession, x: Sample, r: random.Random) -> object:
        return await by_number(s, r.choice(x.numbers), None)

    async def find_number(s: AsyncSession, x: Sample, r: random.Random) -> object:
        return await search(s, r.choice(x.numbers), None, phone=None)

    async def find_phone(s: AsyncSession, x: Sample, r: random.Random) -> object:
        phone = r.choice(x.phones)
        return await search(s, phone, None, phone=phone)

    async def find_address(s: AsyncSession, x: Sample, r: random.Random) -> object:
        return await search(s, r.choice(x.addresses), None, phone=None)

    async def find_address_lower(s: AsyncSession, x: Sample, r: random.Random) -> object:
        # As typed on a phone: lower case ("соборності, 12"); SQLite's LIKE folds ASCII only.
        return await search(s, r.choice(x.addresses).lower(), None, phone=None)

    async def find_street(s: AsyncSession, x: Sample, r: random.Random) -> object:
        # A whole street ("соборності"): thousands of matches, the newest 20 shown.
        return await search(s, r.choice(x.addresses).split(",")[0].lower(), None, phone=None)

    async def stats_day(s: AsyncSession, x: Sample, r: random.Random) -> object:
        return await stats(s, x.day_start(0), None)

    async def stats_month(s: AsyncSession, x: Sample, r: random.Random) -> object:
        return await stats(s, x.day_start(29), None)

    async def digest(s: AsyncSession, x: Sample, r: random.Random) -> object:
        return await digest_figures(
            s, x.now, resolved_since=x.day_start(1), resolved_until=x.day_start(0)
        )

    async def quality_30_days(s: AsyncSession, x: Sample, r: random.Random) -> object:
        # The digest's and /stats' quality figures: every department, the last 30 days.
        return await quality(s, x.day_start(30), x.day_start(0), x.now)

    return {
        "my_requests": ("interactive", my_requests),
        "queue_department": ("interactive", queue_department),
        "queue_all": ("interactive", queue_all),
        "by_number": ("interactive", number),
        "find_number": ("interactive", find_number),
        "find_phone": ("interactive", find_phone),
        "find_address": ("interactive", find_address),
        "find_address_lower": ("interactive", find_address_lower),
        "find_street": ("interactive", find_street),
        "stats_day": ("stats", stats_day),
        "digest_day": ("stats", digest),
        "quality_30_days": ("stats", quality_30_days),
        "stats_month": ("stats", stats_month),
    }


async def draw_sample(engine: AsyncEngine, n: int, rng: random.Random) -> Sample:
    from bot.config import load_settings
    from models.domain.tables import Request

    settings = load_settings(ROOT / "bot.toml")
    async with engine.connect() as conn:
        top = int((await conn.execute(text("SELECT max(id) FROM requests"))).scalar_one() or 0)
        ids = [rng.randrange(1, top + 1) for _ in range(n)]
        rows = (
            await conn.execute(
                select(Request.number, Request.resident_id, Request.phone, Request.address).where(
                    Request.id.in_(ids)
                )
            )
        ).all()
    addresses = [
        a.split(", кв.")[0].split(" ", 1)[-1] for _, _, _, a in rows if a and "📍" not in a
    ]
    return Sample(
        resident_ids=[r for _, r, _, _ in rows if r is not None],
        numbers=[num for num, _, _, _ in rows],
        phones=[p for _, _, p, _ in rows if p],
        addresses=addresses,
        departments=[d.code for d in settings.departments],
        now=datetime.now(UTC),
        tz=ZoneInfo(settings.city.timezone),
    )


@contextlib.contextmanager
def captured_sql(engine: AsyncEngine) -> Any:
    """The statements (and parameters) the engine runs inside the block."""
    seen: list[tuple[str, Any]] = []

    def listener(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        seen.append((statement, params))

    event.listen(engine.sync_engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", listener)


async def explain(engine: AsyncEngine, statement: str, params: Any) -> list[str]:
    sqlite = engine.dialect.name == "sqlite"
    prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
    async with engine.connect() as conn:
        rows = await conn.exec_driver_sql(prefix + statement, params)
        if sqlite:
            return [str(r[-1]) for r in rows]
        return [str(r[0]) for r in rows]


def plan_flags(lines: list[str]) -> list[str]:
    """What in a plan reads more than it should: full scans of requests, sorts in a temporary
    B-tree, or (PostgreSQL) sequential scans. Not flagged: SQLite's scan of a partial index
    (it holds only the rows of its condition, e.g. the open requests) and of the FTS5 table
    (``requests_fts``, a MATCH)."""
    from models.domain.tables import Request

    partial = {
        str(index.name).lower()
        for index in Request.metadata.tables["requests"].indexes
        if index.dialect_options["sqlite"].get("where") is not None
    }
    flags = []
    for line in lines:
        low = line.lower()
        full_scan = (
            re.search(r"\bscan requests\b(?!_)", low) is not None
            and "using covering index" not in low
            and not any(f"using index {name}" in low for name in partial)
        )
        if full_scan or "seq scan on requests" in low or "temp b-tree" in low:
            flags.append(line.strip())
    return flags


async def time_query(
    engine: AsyncEngine,
    q: Query,
    sample: Sample,
    rng: random.Random,
    iterations: int,
    budget_s: float,
) -> list[float]:
    from models.storage.engine import session_factory

    sessions = session_factory(engine)
    out: list[float] = []
    deadline = time.monotonic() + budget_s
    for _ in range(iterations):
        began = time.perf_counter()
        async with sessions() as session, session.begin():
            await q(session, sample, rng)
        out.append(time.perf_counter() - began)
        if time.monotonic() > deadline:
            break
    return out


async def run_export(url: str, start: date, end: date) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.export_worker",
        url,
        start.isoformat(),
        end.isoformat(),
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 1800)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        raise RuntimeError(f"export failed: {err.decode(errors='replace')[-2000:]}")
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    result["range"] = [start.isoformat(), end.isoformat()]
    return result


@contextlib.asynccontextmanager
async def seeded(
    requests: int, db: str, log: Callable[[str], None], data_dir: Path = DATA_DIR
) -> AsyncIterator[str]:
    """A database with ``requests`` seeded requests: for SQLite a file kept in ``data_dir``
    (bench/.data) and reused by later runs (migrated to the current schema first); for
    PostgreSQL a fresh database, dropped after."""
    if db == "sqlite":
        os.makedirs(data_dir, exist_ok=True)
        path = data_dir / f"seed-{requests}-v{SEED_VERSION}.sqlite3"
        url = f"sqlite+aiosqlite:///{path}"
        if not path.exists():
            tmp = path.with_suffix(".partial")
            for p in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
                p.unlink(missing_ok=True)
            log(f"  seeding {requests:,} requests into {path.name} (kept for later runs)…")
            info = await seed_database(f"sqlite+aiosqlite:///{tmp}", requests)
            log(f"  seeded in {info.seconds:.0f} s ({info.as_dict()['rows_per_s']:,} rows/s)")
            tmp.rename(path)
        else:  # a cached file: bring its schema to this code's (e.g. new indexes)
            from models.storage.engine import create_engine
            from models.storage.migrate import upgrade

            engine = create_engine(url)
            try:
                await upgrade(engine)
            finally:
                await engine.dispose()
        yield url
        return
    with tempfile.TemporaryDirectory() as tmpdir:
        async with fresh_database(db, Path(tmpdir)) as url:
            log(f"  seeding {requests:,} requests into a fresh PostgreSQL database…")
            info = await seed_database(url, requests)
            log(f"  seeded in {info.seconds:.0f} s ({info.as_dict()['rows_per_s']:,} rows/s)")
            yield url


async def bench_storage(
    *,
    requests: int = 1_000_000,
    db: str = "sqlite",
    iterations: int = 200,
    stats_iterations: int = 20,
    export_small: int = 100_000,
    data_dir: Path = DATA_DIR,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    from models.storage.engine import create_engine

    rng = random.Random(42)
    result: dict[str, Any] = {"requests": requests, "db": db}
    async with seeded(requests, db, log, data_dir) as url:
        engine = create_engine(url)
        try:
            sample = await draw_sample(engine, 500, rng)
            for name, (kind, q) in queries().items():
                with captured_sql(engine) as statements:
                    await time_query(engine, q, sample, rng, 1, 60)  # warm, and the SQL
                plans: list[dict[str, Any]] = []
                for statement, params in statements:
                    if statement.strip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
                        continue
                    try:
                        lines = await explain(engine, statement, params)
                    except Exception as exc:  # a plan is a diagnosis, never a failure
                        lines = [f"(EXPLAIN failed: {exc})"]
                    sql = " ".join(statement.split())
                    if len(sql) > 600:  # the column list is long: keep what says what it does
                        sql = f"{sql[:120]} … {sql[-450:]}"
                    plans.append({"sql": sql, "plan": lines, "flags": plan_flags(lines)})
                n = iterations if kind == "interactive" else stats_iterations
                took = await time_query(engine, q, sample, rng, n, 30 if n > 1 else 300)
                summary = latency_summary(took)
                target = INTERACTIVE_P99_MS if kind == "interactive" else STATS_MS
                result[name] = {
                    "kind": kind,
                    **summary,
                    "target_ms": target,
                    "ok": summary["p99_ms"] < target,
                    "plans": plans,
                }
                log(
                    f"  {name:17} p50 {summary['p50_ms']:9.2f} ms  p99 {summary['p99_ms']:9.2f} ms"
                    f"  (n={summary['n']}, target {target:.0f} ms)"
                )
            # Export sizes: the newest ``export_small`` rows, one year, everything.
            async with engine.connect() as conn:
                counted = await conn.execute(text("SELECT count(*) FROM requests"))
                total = int(counted.scalar_one())
                first = (await conn.execute(text("SELECT min(created_at) FROM requests"))).scalar()
                cut = (
                    await conn.execute(
                        text("SELECT created_at FROM requests ORDER BY id DESC LIMIT 1 OFFSET :n"),
                        {"n": max(0, min(export_small, total) - 1)},
                    )
                ).scalar()
        finally:
            await engine.dispose()
        today = sample.now.astimezone(sample.tz).date()

        def local_day(value: Any) -> date:
            moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            return moment.astimezone(sample.tz).date()

        ranges = {
            f"newest_{export_small // 1000}k": (local_day(cut), today),
            "one_year": (today - timedelta(days=364), today),
            "all": (local_day(first), today),
        }
        exports = {}
        for label, (start, end) in ranges.items():
            exports[label] = await run_export(url, start, end)
            e = exports[label]
            log(
                f"  export {label:12} {e['rows']:>9,} rows  {e['rows_per_s']:>7,} rows/s  "
                f"peak RSS {e['peak_rss_mb']} MB (+{e['peak_rss_growth_mb']} MB)"
            )
        result["export"] = exports
        small, big = exports[f"newest_{export_small // 1000}k"], exports["all"]
        result["export_summary"] = {
            "peak_rss_mb": big["peak_rss_mb"],
            "peak_rss_mb_small": small["peak_rss_mb"],
            "rows_small": small["rows"],
            "rows_all": big["rows"],
            "rows_per_s": big["rows_per_s"],
            "growth_ratio": round(
                big["peak_rss_growth_mb"] / max(small["peak_rss_growth_mb"], 1.0), 2
            ),
        }
        result["missing_index_hints"] = missing_index_hints(result)
        result["backend"] = backend_of(url)
    return result


def missing_index_hints(result: dict[str, Any]) -> dict[str, list[str]]:
    """Per query, the plan lines that show a full scan or a sort (see ``plan_flags``)."""
    hints: dict[str, list[str]] = {}
    for name, value in result.items():
        if isinstance(value, dict) and "plans" in value:
            flags = [f for p in value["plans"] for f in p["flags"]]
            if flags:
                hints[name] = flags
    return hints
