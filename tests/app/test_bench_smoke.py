"""Every benchmark of bench/ with tiny numbers, so that the harness never rots: it starts the
real bot (and the echo bot) in their own processes against the fake Bot API server, and checks
that the figures come out and make sense, not that they meet their targets.

They run at once: most of their time is the start-up of the bots' processes (importing aiogram
takes seconds of CPU), which overlaps."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

import pytest

from bench.__main__ import table
from bench.common import median_of
from bench.conversation import RunConfig, measure
from bench.fanout import bench_fanout
from bench.memory import bench_memory
from bench.storage import bench_storage
from bench.web import run as bench_web

TINY = RunConfig(users=4, rounds=1, small_users=2, small_rounds=1, warmup=1, settle=0.15)


def quiet(_: str) -> None:
    pass


def check_conversation(bot: dict[str, Any], echo: dict[str, Any]) -> None:
    assert bot["calibrated_messages_per_step"] == [1, 1, 1, 1, 1, 1, 1, 2, 1]
    assert bot["failures"] == 0 and echo["failures"] == 0, bot["failure_examples"]
    assert bot["dialogs"] == 4 and bot["requests_in_db"] == bot["dialogs_completed"]
    assert bot["updates_per_s"] > 0 and echo["updates_per_s"] > 0
    assert set(bot["steps_20_users"]) >= {"start", "confirm"}
    merged = median_of([bot, bot | {"updates_per_s": bot["updates_per_s"] + 2}])
    assert merged["updates_per_s"] == bot["updates_per_s"] + 1
    bot["ratio_to_echo"] = bot["updates_per_s"] / echo["updates_per_s"]
    assert "citybot webhook/sqlite" in table(
        {"conversation": {"webhook": {"echo": echo, "sqlite": bot}}}
    )


def check_fanout(result: dict[str, Any]) -> None:
    assert result["delivered"] == 12 and result["http_429"] == 0
    assert result["outbox_status"] == {"sent": 12}


def check_storage(result: dict[str, Any]) -> None:
    for name in ("my_requests", "queue_department", "find_address", "stats_month"):
        assert result[name]["n"] >= 1 and result[name]["p99_ms"] > 0, name
    assert result["export_summary"]["rows_all"] == 300
    hints = result["missing_index_hints"]
    assert not any("SCAN requests" in h for h in hints.get("queue_all", [])), hints


WEB_TINY = argparse.Namespace(
    users=3,
    rounds=1,
    readers=3,
    # No seeding in this process: Alembic's migration context is process-global, and
    # bench_storage migrates here at the same time; the bot's own process migrates instead.
    requests=0,
    cache=None,
    think=0.0,
    dialog_think=0.0,
    separate=True,
)


def check_web(result: dict[str, Any]) -> None:
    assert result["page_in"] == "its own process"
    for phase in ("alone", "with_readers", "alone_again"):
        assert result[phase]["dialog_failures"] == 0, phase
        assert result[phase]["dialog"]["n"] == 3 * 9, phase
    page = result["with_readers"]["page"]
    assert page["pages"] > 0 and set(page["statuses"]) == {200}
    # The readers were served by the page's process, not by the bot.
    assert result["with_readers"]["cpu_page_process"] > 0


def check_memory(result: dict[str, Any]) -> None:
    assert result["drafts"] == 6 and result["failures"] == 0
    assert result["rss_mb_idle"] > 0


@pytest.mark.slow
async def test_every_benchmark_runs(tmp_path: Path) -> None:
    bot, echo, fanout, storage, memory, page = await asyncio.gather(
        measure("citybot", "webhook", "sqlite", TINY, workdir=tmp_path),
        measure("echo", "polling", "sqlite", TINY, workdir=tmp_path),
        bench_fanout(count=12, log=quiet),
        bench_storage(
            requests=300,
            iterations=2,
            stats_iterations=1,
            export_small=100,
            data_dir=tmp_path,
            log=quiet,
        ),
        bench_memory(drafts=6, concurrency=3, settle=0.1, log=quiet),
        bench_web(WEB_TINY),
    )
    check_conversation(bot, echo)
    check_fanout(fanout)
    check_storage(storage)
    check_memory(memory)
    check_web(page)
