"""Issue 16's measure: do 200 concurrent readers of the public page raise the dialog's p99?

citybot runs in its own process in webhook mode over a SQLite file seeded with --requests
requests, with the page on its own web server (`python -m bot run` with [web] enabled) or,
with --separate, in a process of its own (`python -m bot web`, the bot run with [web] enabled
= false). Three phases of --users residents doing the whole dialog (closed loop as
bench/conversation.py; --dialog-think seconds between a resident's steps, 0 for none):
alone, with --readers readers fetching the page (each its own client address, via
X-Forwarded-For, and [web] limits raised so that the load, not the limiter, is measured; the
readers run in a process of their own so that they do not slow the residents' client), and
alone again. The page's [web] cache_seconds is the bot.toml default unless --cache says.

    .venv/bin/python -m bench.web [--users 200] [--readers 200] [--think 0] [--requests 20000]
                                  [--cache 30] [--separate] [--dialog-think 0]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import multiprocessing
import multiprocessing.synchronize
import random
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import (
    Child,
    CpuMeter,
    MachineMeter,
    bot_env,
    free_port,
    fresh_database,
    latency_summary,
    wait_port,
    write_config,
)
from bench.conversation import DEFAULT_EXPECT, Transport, calibrate, dialog, run_residents
from bench.fake import BenchServer
from bench.seed import seed_database


@contextlib.asynccontextmanager
async def bot_with_page(
    srv: BenchServer, db_url: str, workdir: Path, cache: float | None, *, separate: bool
) -> AsyncIterator[tuple[Child, Child | None, int, int]]:
    """The bot, and with ``separate`` the web process; yields both, the bot's webhook port
    and the port the page is served on."""
    port, web_port = free_port(), free_port()
    web: dict[str, Any] = {
        "enabled": not separate,
        "trust_forwarded_for": True,
        "rate_per_minute": 1_000_000,
        "rate_burst": 1_000_000,
        "listen_host": "127.0.0.1",
        "listen_port": web_port,
    }
    if cache is not None:
        web["cache_seconds"] = cache
    config = write_config(
        workdir / f"bot-{port}.toml", mode="webhook", listen_port=port, overrides={"web": web}
    )
    env = bot_env(srv.base_url, db_url, config)
    child = Child([sys.executable, "-m", "bot", "run"], env, workdir / f"web-bot-{port}.log")
    page: Child | None = None
    await child.start()
    try:
        deadline = time.monotonic() + 90
        while not srv.saw("setWebhook"):
            if not child.alive():
                raise RuntimeError(f"the bot exited during start-up:\n{child.tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the bot did not start in 90 s:\n{child.tail()}")
            await asyncio.sleep(0.05)
        await wait_port(port)
        if separate:
            page = Child([sys.executable, "-m", "bot", "web"], env, workdir / "web.log")
            await page.start()
            await wait_port(web_port, timeout=90)
        yield child, page, port, web_port if separate else port
    finally:
        if page is not None:
            await page.stop()
        await child.stop()


def _readers_process(
    port: int,
    readers: int,
    stop: multiprocessing.synchronize.Event,
    paths: tuple[str, ...],
    think: float,
    results: multiprocessing.Queue[dict[str, Any]],
) -> None:
    async def main() -> dict[str, Any]:
        stopped = asyncio.Event()

        async def watch() -> None:
            await asyncio.to_thread(stop.wait)  # the other process's event, in a thread
            stopped.set()

        watcher = asyncio.create_task(watch())
        try:
            return await readers_loop(port, readers, stopped, paths, think)
        finally:
            watcher.cancel()

    results.put(asyncio.run(main()))


async def readers_elsewhere(
    port: int, readers: int, stop: asyncio.Event, paths: tuple[str, ...], think: float
) -> dict[str, Any]:
    """readers_loop in a process of its own, until ``stop``."""
    ctx = multiprocessing.get_context("spawn")
    done, results = ctx.Event(), ctx.Queue()
    proc = ctx.Process(
        target=_readers_process, args=(port, readers, done, paths, think, results), daemon=True
    )
    proc.start()
    await stop.wait()
    done.set()
    result: dict[str, Any] = await asyncio.to_thread(results.get, True, 60)
    await asyncio.to_thread(proc.join, 10)
    return result


async def readers_loop(
    port: int, readers: int, stop: asyncio.Event, paths: tuple[str, ...], think: float
) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    started = time.monotonic()

    async def reader(i: int, http: aiohttp.ClientSession) -> None:
        headers = {"X-Forwarded-For": f"10.{i // 250}.{i % 250}.1"}
        for n in itertools.count():
            if stop.is_set():
                return
            path = paths[n % len(paths)]
            sent = time.monotonic()
            try:
                async with http.get(f"http://127.0.0.1:{port}{path}", headers=headers) as r:
                    await r.read()
                    statuses[r.status] = statuses.get(r.status, 0) + 1
            except aiohttp.ClientError:
                statuses[0] = statuses.get(0, 0) + 1
            latencies.append(time.monotonic() - sent)
            if think:
                # Spread out: a reader reads the page for about ``think`` seconds.
                await asyncio.sleep(random.uniform(0.5, 1.5) * think)

    connector = aiohttp.TCPConnector(limit=readers)
    async with aiohttp.ClientSession(connector=connector) as http:
        await asyncio.gather(*(reader(i, http) for i in range(readers)))
    wall = time.monotonic() - started
    return {
        "readers": readers,
        "think_s": think,
        "pages": len(latencies),
        "pages_per_s": round(len(latencies) / wall, 1),
        "statuses": statuses,
        "latency": latency_summary(latencies),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {
        "users": args.users,
        "readers": args.readers,
        "think_s": args.think,
        "dialog_think_s": args.dialog_think,
        "cache": args.cache,
        "page_in": "its own process" if args.separate else "the bot process",
    }
    ids = itertools.count(1_000_000)
    with tempfile.TemporaryDirectory(prefix="citybot-bench-web-") as tmp:
        workdir = Path(tmp)
        async with fresh_database("sqlite", workdir) as db_url:
            if args.requests:
                await seed_database(db_url, args.requests)
            out["seeded_requests"] = args.requests
            async with (
                BenchServer() as srv,
                bot_with_page(srv, db_url, workdir, args.cache, separate=args.separate) as (
                    child,
                    page,
                    port,
                    page_port,
                ),
                Transport(srv, "webhook", port) as transport,
            ):
                counts = await calibrate(srv, transport, dialog(), next(ids))
                steps = dialog(tuple(counts) or DEFAULT_EXPECT)
                await run_residents(srv, transport, steps, users=10, rounds=1, ids=ids)

                async def phase(name: str, readers: int) -> None:
                    stop = asyncio.Event()
                    bot_cpu, machine = CpuMeter(child.pid), MachineMeter()
                    page_cpu = CpuMeter(page.pid) if page is not None else None
                    for meter in (bot_cpu, machine, page_cpu):
                        if meter is not None:
                            meter.start()
                    reading = (
                        asyncio.create_task(
                            readers_elsewhere(
                                page_port,
                                readers,
                                stop,
                                ("/", "/en", "/open311/v2/requests.json"),
                                args.think,
                            )
                        )
                        if readers
                        else None
                    )
                    if reading is not None:
                        await asyncio.sleep(1)  # the readers are at full pace first
                    dialog_phase = await run_residents(
                        srv,
                        transport,
                        steps,
                        users=args.users,
                        rounds=args.rounds,
                        ids=ids,
                        think=args.dialog_think,
                    )
                    stop.set()
                    result: dict[str, Any] = {
                        "dialog": latency_summary(dialog_phase.all_latencies()),
                        "dialog_p95_ms_by_step": {
                            step.name: latency_summary(lat)["p95_ms"]
                            for step, lat in zip(steps, dialog_phase.latencies, strict=True)
                            if lat
                        },
                        "dialog_updates_per_s": round(dialog_phase.updates / dialog_phase.wall, 1),
                        "dialog_failures": dialog_phase.failures,
                        "cpu_bot": round(bot_cpu.share(), 3),
                        "cpu_page_process": round(page_cpu.share(), 3) if page_cpu else None,
                        "machine_cores_busy": round(machine.cores(), 3),
                    }
                    if reading is not None:
                        result["page"] = await reading
                    out[name] = result
                    print(name, json.dumps(result), flush=True)

                await phase("alone", 0)
                await phase("with_readers", args.readers)
                await phase("alone_again", 0)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.web", description=__doc__)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--readers", type=int, default=200)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--cache", type=float, default=None, help="[web] cache_seconds")
    parser.add_argument(
        "--think", type=float, default=0.0, help="seconds a reader spends on a page (0: none)"
    )
    parser.add_argument(
        "--dialog-think", type=float, default=0.0, help="seconds between a resident's steps"
    )
    parser.add_argument(
        "--separate", action="store_true", help="the page in its own process (python -m bot web)"
    )
    parser.add_argument("--save", type=Path, default=None, help="write the figures as JSON here")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    if args.save is not None:
        args.save.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
