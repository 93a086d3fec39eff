"""Benchmark 1 and 2: the whole dialog, closed loop, against citybot and against a bare aiogram
echo bot driven by the same harness, in webhook and polling mode.

A simulated resident sends one update and sends the next only when the bot's answer to it has
arrived at the fake Bot API server (the known number of messages of that step: found once by a
calibration run, see :func:`calibrate`). Latency is from just before the update is sent (POST to
the webhook, or queued for getUpdates) to the arrival of the step's last answer message.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import func, select

from bench.common import (
    SECRET,
    TOKEN,
    WEBHOOK_PATH,
    Child,
    CpuMeter,
    MachineMeter,
    bot_env,
    citybot_argv,
    echo_argv,
    free_port,
    fresh_database,
    latency_summary,
    median,
    median_of,
    rss_mb,
    wait_port,
    write_config,
)
from bench.fake import BenchServer

Update = dict[str, Any]
MakeUpdate = Callable[[BenchServer, int], Update]

ADDRESS = "вул. Соборності, 12, під'їзд 3"
DESCRIPTION = "Не працює ліфт у під'їзді третій день, мешканці 9 поверху не можуть вийти з дому"
# What each step of the dialog produces when nothing went wrong
# (bot/channels/telegram/channel.py): the language choice sends the greeting, the help line and
# the menu; the phone step's answer removes the phone keyboard in one message and shows the
# summary's buttons in another (Reply.remove_input_keyboard → TelegramChannel.send_one); the
# confirmation answers with the number, then the menu. Checked against the running bot by
# :func:`calibrate`.
DEFAULT_EXPECT = (1, 1, 1, 1, 1, 1, 1, 2, 1)


@dataclass(frozen=True)
class Step:
    name: str
    make: MakeUpdate
    expect: int = 1


def dialog(expect: tuple[int, ...] = DEFAULT_EXPECT) -> list[Step]:
    """/start → lang:en → menu:new → cat:other → address → description → photos:done →
    phone:skip → confirm. Photos and phone use the phone's input keyboard, which sends the
    button's label back as text."""
    from handlers.i18n import translator

    tr = translator()
    skip_photos = tr.t("en", "photos.skip")
    skip_phone = tr.t("en", "new.skip_phone")

    def msg(text: str) -> MakeUpdate:
        return lambda srv, user: srv.message_update(user, text, language_code="en")

    def press(data: str) -> MakeUpdate:
        return lambda srv, user: srv.press(user, data)

    makers: list[tuple[str, MakeUpdate]] = [
        ("start", msg("/start")),
        ("lang", press("lang:en")),
        ("menu_new", press("menu:new")),
        ("category", press("cat:other")),
        ("address", msg(ADDRESS)),
        ("description", msg(DESCRIPTION)),
        ("photos_skip", msg(skip_photos)),
        ("phone_skip", msg(skip_phone)),
        ("confirm", press("confirm")),
    ]
    return [Step(name, make, n) for (name, make), n in zip(makers, expect, strict=True)]


def echo_steps(steps: list[Step]) -> list[Step]:
    """The same updates; the echo bot answers each with one message."""
    return [Step(s.name, s.make, 1) for s in steps]


# ---- sending updates ----------------------------------------------------------------------------


class Transport:
    """How an update reaches the bot: POSTed to its webhook, or queued for its getUpdates."""

    def __init__(self, srv: BenchServer, mode: str, port: int) -> None:
        self.srv, self.mode = srv, mode
        self.url = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"
        self.http: aiohttp.ClientSession | None = None
        self.errors = 0

    async def __aenter__(self) -> Transport:
        if self.mode == "webhook":
            # Telegram opens at most 40 connections by default (setWebhook max_connections);
            # 100 keeps connection setup out of the figures.
            self.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.http is not None:
            await self.http.close()

    async def send(self, update: Update) -> None:
        if self.http is None:
            self.srv.push_update(update)
            return
        body = json.dumps(self.srv.prepare(update)).encode()
        async with self.http.post(
            self.url,
            data=body,
            headers={
                "Content-Type": "application/json",
                "X-Telegram-Bot-Api-Secret-Token": SECRET,
            },
        ) as resp:
            # As Telegram does: a method in the answer (citybot's button spinner, a step's
            # last message) is carried out by the server.
            answer = await self.srv.process_webhook_answer(resp, TOKEN)
            if answer.status != 200:
                self.errors += 1
                raise RuntimeError(f"webhook answered {answer.status}")


# ---- residents ----------------------------------------------------------------------------------


@dataclass
class Phase:
    steps: list[Step]
    latencies: list[list[float]] = field(default_factory=list)  # per step
    dialogs: int = 0
    failures: int = 0
    failure_examples: list[str] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0

    @property
    def updates(self) -> int:
        return sum(len(x) for x in self.latencies)

    @property
    def wall(self) -> float:
        return max(1e-9, self.ended - self.started)

    def all_latencies(self) -> list[float]:
        return [v for per_step in self.latencies for v in per_step]


async def run_residents(
    srv: BenchServer,
    transport: Transport,
    steps: list[Step],
    *,
    users: int,
    rounds: int,
    ids: itertools.count[int],
    step_timeout: float = 30.0,
    deadline: float = 600.0,
    think: float = 0.0,
) -> Phase:
    """``users`` residents at once, closed loop; each slot files ``rounds`` requests one after
    the other as new residents. With ``think`` a resident pauses about that long (0.5 to 1.5
    times) before each step, as a person reading and typing does (and arrives within twice
    that): an offered
    load below the bot's ceiling, where latency is the bot's and not a queue's. Bounded: a
    step waits ``step_timeout`` at most, the phase ``deadline`` seconds at most."""
    phase = Phase(steps, [[] for _ in steps])

    async def resident(user: int) -> bool:
        total = 0
        for i, step in enumerate(steps):
            if think:
                # The first step too: residents arrive spread out, not all in the same
                # millisecond (which measured the queue of 200 simultaneous /start).
                await asyncio.sleep(
                    random.uniform(0.5, 1.5) * think if i else random.uniform(0, 2 * think)
                )
            total += step.expect
            answered = srv.expect(user, total)
            update = step.make(srv, user)
            sent = time.monotonic()
            try:
                await transport.send(update)
                done = await asyncio.wait_for(answered, step_timeout)
            except (TimeoutError, RuntimeError, aiohttp.ClientError) as exc:
                phase.failures += 1
                if len(phase.failure_examples) < 5:
                    got = srv.sent[user]
                    phase.failure_examples.append(
                        f"user {user} step {step.name}: {type(exc).__name__} {exc} "
                        f"(messages {got}/{total})"
                    )
                return False
            phase.latencies[i].append(done - sent)
        phase.dialogs += 1
        return True

    async def slot() -> None:
        for _ in range(rounds):
            if not await resident(next(ids)):
                return

    phase.started = time.monotonic()
    try:
        await asyncio.wait_for(asyncio.gather(*(slot() for _ in range(users))), deadline)
    except TimeoutError:
        phase.failures += 1
        phase.failure_examples.append(f"phase deadline of {deadline}s reached")
    phase.ended = time.monotonic()
    return phase


async def calibrate(
    srv: BenchServer, transport: Transport, steps: list[Step], user: int, settle: float = 0.4
) -> list[int]:
    """Run the dialog once, waiting after each step until the chat has been quiet for
    ``settle`` seconds; return how many messages each step produced."""
    counts: list[int] = []
    for step in steps:
        before = srv.sent[user]
        await transport.send(step.make(srv, user))
        await asyncio.wait_for(srv.expect(user, before + 1), 15)
        seen = srv.sent[user]
        while True:
            await asyncio.sleep(settle)
            if srv.sent[user] == seen:
                break
            seen = srv.sent[user]
        counts.append(srv.sent[user] - before)
    return counts


# ---- one bot, one run ----------------------------------------------------------------------------


@dataclass
class RunConfig:
    users: int = 200
    rounds: int = 3
    small_users: int = 20
    small_rounds: int = 5
    warmup: int = 10
    step_timeout: float = 30.0
    deadline: float = 600.0
    settle: float = 0.4  # calibration: a step is over after this long without a message


@contextlib.asynccontextmanager
async def running(
    srv: BenchServer, kind: str, mode: str, db_url: str, workdir: Path
) -> AsyncIterator[tuple[Child, int]]:
    """citybot (``python -m bot run``) or the echo bot in its own process, ready to take
    updates; yields the child and the webhook port."""
    port = free_port()
    log = workdir / f"{kind}-{mode}-{port}.log"
    if kind == "citybot":
        config = write_config(workdir / f"bot-{port}.toml", mode=mode, listen_port=port)
        env = bot_env(srv.base_url, db_url, config)
        child = Child(citybot_argv(), env, log)
    else:
        env = bot_env(
            srv.base_url,
            db_url,
            workdir / "unused.toml",
            ECHO_MODE=mode,
            ECHO_PORT=str(port),
            ECHO_WEBHOOK_PATH=WEBHOOK_PATH,
        )
        child = Child(echo_argv(), env, log)
    await child.start()
    try:
        ready = "setWebhook" if mode == "webhook" else "getUpdates"
        deadline = time.monotonic() + 90
        while not srv.saw(ready):
            if not child.alive():
                raise RuntimeError(f"{kind} exited during start-up:\n{child.tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{kind} did not start in 90 s:\n{child.tail()}")
            await asyncio.sleep(0.05)
        if mode == "webhook":
            await wait_port(port)
        yield child, port
    finally:
        await child.stop()


async def count_requests(db_url: str) -> int:
    from models.domain.tables import Request
    from models.storage.engine import create_engine

    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(Request))).scalar_one())
    finally:
        await engine.dispose()


class Profiler:
    """py-spy attached to the bot process for one phase (``--profile``): raw collapsed stacks,
    summarised by :func:`bench.profile.summarise`. Non-blocking (the bot is never paused)."""

    def __init__(self, pid: int, out: Path, rate: int = 250) -> None:
        self.pid, self.out, self.rate = pid, out, rate
        self.proc: asyncio.subprocess.Process | None = None

    @staticmethod
    def available() -> str | None:
        local = Path(sys.executable).with_name("py-spy")
        return str(local) if local.exists() else shutil.which("py-spy")

    async def __aenter__(self) -> Profiler:
        exe = self.available()
        if exe is None:
            return self
        self.proc = await asyncio.create_subprocess_exec(
            exe,
            "record",
            "--pid",
            str(self.pid),
            "--rate",
            str(self.rate),
            "--format",
            "raw",
            "--nonblocking",
            # Samples of the thread holding the GIL: where the bot's Python CPU goes
            # (BENCH_PROFILE_IDLE=1: every running thread instead).
            *([] if os.environ.get("BENCH_PROFILE_IDLE") else ["--gil"]),
            "--output",
            str(self.out),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await asyncio.sleep(0.5)  # attached before the load starts
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(self.proc.wait(), 30)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


async def measure(
    kind: str,
    mode: str,
    db: str,
    cfg: RunConfig,
    *,
    workdir: Path,
    expect: tuple[int, ...] | None = None,
    profile_to: Path | None = None,
) -> dict[str, Any]:
    """One process of ``kind`` (citybot | echo): warm-up, ``small_users`` residents (per-step
    latency), then ``users`` residents (throughput, latency, CPU)."""
    ids = itertools.count(1_000_000)
    out: dict[str, Any] = {"kind": kind, "mode": mode, "db": db, "loadavg_1m": os.getloadavg()[0]}
    async with (
        BenchServer() as srv,
        fresh_database(db, workdir) as db_url,
        running(srv, kind, mode, db_url, workdir) as (child, port),
        Transport(srv, mode, port) as transport,
    ):
        steps = dialog(expect or DEFAULT_EXPECT)
        if kind == "citybot" and expect is None:
            counts = await calibrate(srv, transport, dialog(), next(ids), cfg.settle)
            out["calibrated_messages_per_step"] = counts
            steps = dialog(tuple(counts))
        elif kind == "echo":
            steps = echo_steps(steps)
        out["messages_per_dialog"] = sum(s.expect for s in steps)
        out["rss_mb_idle"] = round(rss_mb(child.pid), 1)
        warm = await run_residents(
            srv, transport, steps, users=cfg.warmup, rounds=1, ids=ids, deadline=cfg.deadline
        )
        # One resident at a time: the service time of each step, with no queue in front.
        solo = await run_residents(
            srv, transport, steps, users=1, rounds=3, ids=ids, deadline=cfg.deadline
        )
        small = await run_residents(
            srv,
            transport,
            steps,
            users=cfg.small_users,
            rounds=cfg.small_rounds,
            ids=ids,
            step_timeout=cfg.step_timeout,
            deadline=cfg.deadline,
        )
        bot_cpu, bench_cpu, machine = CpuMeter(child.pid), CpuMeter(), MachineMeter()
        profiler = (
            Profiler(child.pid, profile_to)
            if profile_to is not None and kind == "citybot"
            else contextlib.nullcontext()
        )
        async with profiler:
            bot_cpu.start()
            bench_cpu.start()
            machine.start()
            big = await run_residents(
                srv,
                transport,
                steps,
                users=cfg.users,
                rounds=cfg.rounds,
                ids=ids,
                step_timeout=cfg.step_timeout,
                deadline=cfg.deadline,
            )
            out["cpu_bot"] = round(bot_cpu.share(), 3)
            out["cpu_bench"] = round(bench_cpu.share(), 3)
            # Cores busy with anything else (the machine has 2): a figure taken while another
            # process ate a core is not comparable with one taken on a quiet machine.
            out["cpu_other"] = round(
                max(0.0, machine.cores() - out["cpu_bot"] - out["cpu_bench"]), 3
            )
            # (With PostgreSQL, "other" includes the database server, which is part of the
            # system measured.)
            out["machine_busy"] = db != "postgresql" and out["cpu_other"] > 0.25
        out["rss_mb_after"] = round(rss_mb(child.pid), 1)
        out["webhook_errors"] = transport.errors
        if kind == "citybot":
            # Every completed dialog must have stored its request (the calibration's too).
            completed = warm.dialogs + solo.dialogs + small.dialogs + big.dialogs
            completed += 1 if expect is None else 0  # the calibration's
            out["dialogs_completed"] = completed
            out["requests_in_db"] = await count_requests(db_url)
    lat = big.all_latencies()
    out.update(
        users=cfg.users,
        updates=big.updates,
        dialogs=big.dialogs,
        seconds=round(big.wall, 3),
        updates_per_s=round(big.updates / big.wall, 1),
        # CPU the bot spent per update: less sensitive than throughput to what else runs on
        # the machine, so the better figure to compare a change with.
        cpu_ms_per_update=round(out["cpu_bot"] * big.wall / max(big.updates, 1) * 1000, 2),
        requests_per_s=round(big.dialogs / big.wall, 2),
        latency=latency_summary(lat),
        p50_ms=latency_summary(lat)["p50_ms"],
        p95_ms=latency_summary(lat)["p95_ms"],
        p99_ms=latency_summary(lat)["p99_ms"],
        failures=warm.failures + solo.failures + small.failures + big.failures,
        failure_examples=warm.failure_examples
        + solo.failure_examples
        + small.failure_examples
        + big.failure_examples,
        p99_ms_1_user=latency_summary(solo.all_latencies())["p99_ms"],
        steps_1_user={s.name: latency_summary(solo.latencies[i]) for i, s in enumerate(solo.steps)},
        small_users=cfg.small_users,
        updates_per_s_20_users=round(small.updates / small.wall, 1),
        p99_ms_20_users=latency_summary(small.all_latencies())["p99_ms"],
        steps_20_users={
            s.name: latency_summary(small.latencies[i]) for i, s in enumerate(small.steps)
        },
    )
    return out


# ---- the benchmark ------------------------------------------------------------------------------


async def bench_conversation(
    *,
    modes: tuple[str, ...] = ("webhook", "polling"),
    dbs: tuple[str, ...] = ("sqlite",),
    cfg: RunConfig | None = None,
    repeat: int = 1,
    profile_dir: Path | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """``conversation.<mode>.<db>`` and ``conversation.<mode>.echo``: medians of ``repeat``
    runs, citybot and the echo bot alternating so both see the machine in the same state."""
    cfg = cfg or RunConfig()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="citybot-bench-") as tmp:
        workdir = Path(tmp)
        expect: tuple[int, ...] | None = None
        for mode in modes:
            echo_runs: list[dict[str, Any]] = []
            bot_runs: dict[str, list[dict[str, Any]]] = {db: [] for db in dbs}
            for k in range(repeat):
                echo = await measure("echo", mode, "sqlite", cfg, workdir=workdir)
                echo_runs.append(echo)
                log(
                    f"  {mode:8} echo     run {k + 1}/{repeat}: {echo['updates_per_s']:8.1f} "
                    f"updates/s  p99 {echo['p99_ms']} ms  bot CPU {echo['cpu_bot']:.2f}  "
                    f"bench CPU {echo['cpu_bench']:.2f}  other CPU {echo['cpu_other']:.2f}"
                    f"{'  (BUSY MACHINE: not comparable)' if echo['machine_busy'] else ''}"
                )
                for db in dbs:
                    prof = None
                    if profile_dir is not None and k == 0:
                        os.makedirs(profile_dir, exist_ok=True)
                        prof = profile_dir / f"citybot-{mode}-{db}.raw.txt"
                    run = await measure(
                        "citybot", mode, db, cfg, workdir=workdir, expect=expect, profile_to=prof
                    )
                    if expect is None:
                        expect = tuple(run["calibrated_messages_per_step"])
                    run["ratio_to_echo"] = round(
                        run["updates_per_s"] / max(echo["updates_per_s"], 1e-9), 3
                    )
                    bot_runs[db].append(run)
                    log(
                        f"  {mode:8} citybot/{db:10} run {k + 1}/{repeat}: "
                        f"{run['updates_per_s']:8.1f} updates/s "
                        f"(ratio {run['ratio_to_echo']:.3f})  p99 {run['p99_ms']} ms  "
                        f"p99@{cfg.small_users} {run['p99_ms_20_users']} ms  "
                        f"bot CPU {run['cpu_bot']:.2f}  other CPU {run['cpu_other']:.2f}  "
                        f"failures {run['failures']}"
                    )
                    if prof is not None and prof.exists():
                        from bench.profile import summarise

                        run["profile"] = summarise(prof)
                        run["profile"]["file"] = str(prof)
            results.setdefault(mode, {})["echo"] = median_of(echo_runs)
            for db in dbs:
                runs = bot_runs[db]
                merged = median_of(runs)
                # The ratio of the medians, and the spread of the per-repeat ratios.
                merged["ratio_to_echo"] = round(
                    merged["updates_per_s"] / max(results[mode]["echo"]["updates_per_s"], 1e-9), 3
                )
                merged["ratio_to_echo_runs"] = [r["ratio_to_echo"] for r in runs]
                merged["ratio_to_echo_median_of_runs"] = median([r["ratio_to_echo"] for r in runs])
                merged["repeat"] = repeat
                if "profile" in runs[0]:
                    merged["profile"] = runs[0]["profile"]
                results[mode][db] = merged
    return results
