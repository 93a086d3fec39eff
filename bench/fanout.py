"""Benchmark 3: fan-out. ``count`` status notifications to ``count`` distinct residents are
queued at once (outbox rows written straight into the bot's database with
``models.domain.outbox.enqueue``, as a staff action or a job would); the fake server enforces
Telegram's limits (30 messages/s per bot, 1/s per private chat, 20/min per group) and answers
429 with retry_after beyond them. The bot's delivery worker must send them all, as fast as its
share of the limit allows (``[delivery] global_per_second`` less ``dialog_reserve_per_second``,
25/s by default) and never over it.

With ``workers`` > 1 (PostgreSQL, webhook mode) that many bot processes run on the database:
one of them is elected the sender (bot/cluster.py), so the rate and the 429s must be those of
one worker, with nothing lost or sent twice."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.common import ROOT, CpuMeter, fresh_database, rss_mb
from bench.conversation import running
from bench.fake import BenchServer

FIRST_CHAT = 700_000_000
TEXT = "Статус вашого звернення 2026-{n:06d} змінено: виконано. Дякуємо, що повідомили!"


async def enqueue_all(db_url: str, count: int, chunk: int = 2000) -> float:
    """Write the rows in chunks of ``chunk`` (one transaction each, so the bot's worker is
    never locked out for long); returns the monotonic time the last chunk was committed."""
    from models.domain.outbox import enqueue
    from models.storage.engine import create_engine, session_factory

    engine = create_engine(db_url)
    sessions = session_factory(engine)
    try:
        for start in range(0, count, chunk):
            async with sessions() as session, session.begin():
                for n in range(start, min(count, start + chunk)):
                    enqueue(
                        session,
                        "telegram",
                        str(FIRST_CHAT + n),
                        {"event": "text", "text": TEXT.format(n=n + 1), "lang": "uk"},
                    )
        return time.monotonic()
    finally:
        await engine.dispose()


async def outbox_statuses(db_url: str) -> dict[str, int]:
    from models.domain.outbox import OutboxMessage
    from models.storage.engine import create_engine

    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
            )
            return {str(getattr(s, "value", s)): int(n) for s, n in rows}
    finally:
        await engine.dispose()


def outbox_rate() -> float:
    """The outbox's configured rate in the shipped bot.toml."""
    from bot.config import load_settings

    return load_settings(ROOT / "bot.toml").delivery.outbox_per_second


async def bench_fanout(
    *,
    count: int = 10_000,
    db: str = "sqlite",
    mode: str = "polling",
    workers: int = 1,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Achieved rate over the configured outbox rate (first to last delivered message), 429s,
    delivered, missing and doubled."""
    limit_per_s = outbox_rate()
    if workers > 1:
        if db != "postgresql":
            raise ValueError("several workers need PostgreSQL (BENCH_DATABASE_URL)")
        mode = "webhook"  # one poller per bot token: several workers take webhooks
    with tempfile.TemporaryDirectory(prefix="citybot-bench-") as tmp:
        workdir = Path(tmp)
        async with (
            BenchServer(keep_calls=False) as srv,
            fresh_database(db, workdir) as db_url,
            contextlib.AsyncExitStack() as stack,
        ):
            children = [
                (await stack.enter_async_context(running(srv, "citybot", mode, db_url, workdir)))[0]
                for _ in range(workers)
            ]
            child = children[0]
            srv.enforce_limits()  # Telegram's: 30/s, 1/s per private chat, 20/min per group
            meters = [CpuMeter(c.pid) for c in children]
            for meter in meters:
                meter.start()
            t_enqueue = time.monotonic()
            t_committed = await enqueue_all(db_url, count)
            # Bounded: the expected time at the limit, half as much again, plus a minute.
            deadline = t_enqueue + count / limit_per_s * 1.5 + 60
            last_progress, last_seen = time.monotonic(), -1
            next_log = time.monotonic() + 30
            while srv.sending_ok < count and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
                if srv.sending_ok != last_seen:
                    last_seen, last_progress = srv.sending_ok, time.monotonic()
                elif time.monotonic() - last_progress > 60:
                    break  # stalled for a minute: report what there is
                if time.monotonic() > next_log:
                    next_log += 30
                    log(f"    fan-out: {srv.sending_ok}/{count} sent, 429s {srv.stats.http_429}")
            cpu_share = sum(meter.share() for meter in meters)
            rss = rss_mb(child.pid)
            statuses = await outbox_statuses(db_url)
        first, last = srv.first_sent_at, srv.last_sent_at
        delivered = srv.sending_ok
        chats = set(range(FIRST_CHAT, FIRST_CHAT + count))
        received = {chat for chat, n in srv.sent.items() if n and chat in chats}
        doubled = sum(n - 1 for chat, n in srv.sent.items() if chat in chats and n > 1)
        steady = (delivered - 1) / (last - first) if first and last and last > first else 0.0
        end_to_end = delivered / (last - t_enqueue) if last else 0.0
        return {
            "count": count,
            "db": db,
            "mode": mode,
            "workers": workers,
            "limit_per_s": limit_per_s,
            "delivered": delivered,
            "missing": len(chats - received),
            "doubled": doubled,
            "http_429": srv.stats.http_429,
            "msgs_per_s": round(steady, 2),
            "ratio_to_limit": round(steady / limit_per_s, 4),
            "end_to_end_msgs_per_s": round(end_to_end, 2),
            "first_message_after_s": round(first - t_enqueue, 2) if first else None,
            "enqueue_s": round(t_committed - t_enqueue, 2),
            "seconds": round(last - t_enqueue, 1) if last else None,
            "outbox_status": statuses,
            "cpu_bot": round(cpu_share, 3),
            "rss_mb_bot": round(rss, 1),
            "requests_by_status": dict(srv.stats.by_status),
        }
