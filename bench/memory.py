"""Benchmark 5: the bot process's memory with ``drafts`` residents stopped halfway through a
request (/start → language → New request → category → typed address: their draft is in the
database, waiting for the description) against the same process idle after start-up."""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import CpuMeter, fresh_database, latency_summary, peak_rss_mb, rss_mb
from bench.conversation import DEFAULT_EXPECT, Transport, dialog, run_residents, running
from bench.fake import BenchServer

HALF = 5  # steps of the dialog done: up to and including the typed address


async def bench_memory(
    *,
    drafts: int = 10_000,
    concurrency: int = 200,
    db: str = "sqlite",
    mode: str = "webhook",
    expect: tuple[int, ...] = DEFAULT_EXPECT,
    settle: float = 2.0,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    steps = dialog(expect)[:HALF]
    with tempfile.TemporaryDirectory(prefix="citybot-bench-") as tmp:
        workdir = Path(tmp)
        async with (
            BenchServer(keep_calls=False) as srv,
            fresh_database(db, workdir) as db_url,
            running(srv, "citybot", mode, db_url, workdir) as (child, port),
            Transport(srv, mode, port) as transport,
        ):
            await asyncio.sleep(settle)  # let start-up work (the first scan, menus) settle
            idle = rss_mb(child.pid)
            cpu = CpuMeter(child.pid)
            cpu.start()
            rounds = max(1, drafts // concurrency)
            phase = await run_residents(
                srv,
                transport,
                steps,
                users=min(concurrency, drafts),
                rounds=rounds,
                ids=itertools.count(5_000_000),
                deadline=max(600.0, drafts * HALF / 10),  # ≥ 10 updates/s, or stop
            )
            cpu_share = cpu.share()
            await asyncio.sleep(settle)
            loaded = rss_mb(child.pid)
            peak = peak_rss_mb(child.pid)
            done = phase.dialogs
            updates_per_s = phase.updates / phase.wall
            # Latency of the first and the last tenth of the residents (each step's list is in
            # completion order): does the bot slow down as residents accumulate?
            tenth = max(1, done // 10)
            early = [v for per_step in phase.latencies for v in per_step[:tenth]]
            late = [v for per_step in phase.latencies for v in per_step[-tenth:]]
            everything = phase.all_latencies()
        log(
            f"  {done:,} drafts: RSS {idle:.1f} MB idle → {loaded:.1f} MB "
            f"(+{loaded - idle:.1f} MB, {(loaded - idle) * 1024 / max(done, 1):.2f} KB/draft)"
        )
        return {
            "drafts": done,
            "failures": phase.failures,
            "failure_examples": phase.failure_examples,
            "rss_mb_idle": round(idle, 1),
            "rss_mb_with_drafts": round(loaded, 1),
            "peak_rss_mb": round(peak, 1),
            "growth_mb": round(loaded - idle, 1),
            "kb_per_draft": round((loaded - idle) * 1024 / max(done, 1), 2),
            "updates_per_s_while_filling": round(updates_per_s, 1),
            "latency_while_filling": latency_summary(everything),
            "p50_ms_first_tenth": latency_summary(early)["p50_ms"],
            "p50_ms_last_tenth": latency_summary(late)["p50_ms"],
            "cpu_bot": round(cpu_share, 3),
        }
