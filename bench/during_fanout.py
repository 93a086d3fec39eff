"""Benchmark: residents' dialogs while a fan-out runs (``python -m bench conversation
--during-fanout``). A city-wide notice to ``count`` residents is queued, and while the outbox
sends it at its pace (Telegram's limits enforced by the fake) ``users`` residents go through the
whole filing dialog, ``think`` seconds between steps as people do. Every step must be answered
(none failed, no webhook error) and promptly: the outbox leaves ``dialog_reserve_per_second``
of Telegram's rate to the answers, and an answer that meets a 429 waits it out."""

from __future__ import annotations

import asyncio
import itertools
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import fresh_database, latency_summary
from bench.conversation import Transport, calibrate, dialog, run_residents, running
from bench.fake import BenchServer
from bench.fanout import FIRST_CHAT, enqueue_all, outbox_rate


async def bench_during_fanout(
    *,
    count: int = 3000,
    users: int = 20,
    rounds: int = 3,
    think: float = 1.0,
    db: str = "sqlite",
    mode: str = "webhook",
    per_chat_per_s: int = 1,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """``per_chat_per_s``: the fake's limit per private chat. 1 is the Bot API FAQ's "avoid
    sending more than one message per second"; the FAQ adds "we may allow short bursts", which
    a step answered with two messages (a summary and its buttons) is: 3 models that."""
    ids = itertools.count(1_000_000)
    with tempfile.TemporaryDirectory(prefix="citybot-bench-") as tmp:
        workdir = Path(tmp)
        async with (
            BenchServer(keep_calls=False) as srv,
            fresh_database(db, workdir) as db_url,
            running(srv, "citybot", mode, db_url, workdir) as (_child, port),
            Transport(srv, mode, port) as transport,
        ):
            counts = await calibrate(srv, transport, dialog(), next(ids))
            steps = dialog(tuple(counts))
            srv.enforce_limits(per_chat_per_s=per_chat_per_s)  # from here on: 30/s, per chat
            fan_started = time.monotonic()
            await enqueue_all(db_url, count)
            # The notices are under way (the first ones out) before the residents come.
            await asyncio.wait_for(srv.expect(FIRST_CHAT + 49, 1), 60)
            sent_before = srv.sending_ok
            phase = await run_residents(
                srv,
                transport,
                steps,
                users=users,
                rounds=rounds,
                ids=ids,
                think=think,
                step_timeout=30.0,
            )
            during = srv.sending_ok - sent_before
            log(
                f"  {users} residents × {rounds} dialogs during a fan-out of {count:,}: "
                f"{phase.dialogs} dialogs, {phase.failures} failed, "
                f"p99 {latency_summary(phase.all_latencies())['p99_ms']} ms"
            )
            lat = latency_summary(phase.all_latencies())
            return {
                "db": db,
                "mode": mode,
                "fanout_count": count,
                "outbox_rate_per_s": outbox_rate(),
                "per_chat_per_s": per_chat_per_s,
                "users": users,
                "rounds": rounds,
                "think_s": think,
                "dialogs": phase.dialogs,
                "failed_steps": phase.failures,
                "failure_examples": phase.failure_examples,
                "webhook_errors": transport.errors,
                "step_latency": lat,
                "p99_ms": lat["p99_ms"],
                "steps": {s.name: latency_summary(phase.latencies[i]) for i, s in enumerate(steps)},
                "messages_sent_meanwhile": during,
                "messages_per_s_meanwhile": round(during / phase.wall, 1),
                "http_429": srv.stats.http_429,
                "seconds": round(phase.wall, 1),
                "fanout_elapsed_s": round(time.monotonic() - fan_started, 1),
            }
