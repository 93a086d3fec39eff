"""Benchmark: a surge (``python -m bench surge``). ``reports`` residents report one broken
street light at one building within ``minutes`` — typing the address a dozen ways — while
``others`` residents file unrelated road reports; Telegram's limits are enforced by the fake
(30 messages a second, 1 a second per private chat with short bursts, 20 a minute per group).

Reported (``surge.*`` in bench/results.json): requests filed; how many residents were offered
"this is my problem too" and took it; the messages each department group got (new cards and
lists, card edits); the longest time a group's message waited in the outbox; and the p99 of
the residents' dialog steps meanwhile. Targets: no group message waits more than 60 s, every
dialog step under 200 ms at p99."""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.common import (
    Child,
    bot_env,
    citybot_argv,
    dump_toml,
    free_port,
    fresh_database,
    latency_summary,
    wait_port,
    write_config,
)
from bench.conversation import Transport
from bench.fake import BenchServer

LIGHTING_GROUP = -100_200
ROADS_GROUP = -100_300
FIRST_USER = 2_000_000
SPELLINGS = (
    "вул. Соборності, 12",
    "вулиця Соборності 12",
    "ул. Соборности, д. 12",
    "Соборності 12, кв. 40",
    "соборности 12 подъезд 2",
    "СОБОРНОСТІ,12",
    "Соборності вул., буд. 12",
    "м. Кривий Ріг, вул. Соборності, 12, кв. 7",
)
THINK = (2.0, 6.0)  # seconds a person takes between two steps


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    failures: int = 0
    examples: list[str] = field(default_factory=list)
    offered: int = 0
    joined: int = 0
    filed: int = 0


def surge_config(workdir: Path, port: int) -> Path:
    path = write_config(workdir / f"bot-{port}.toml", mode="webhook", listen_port=port)
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    for dept in data["departments"]:
        dept["telegram_chat_id"] = {"lighting": LIGHTING_GROUP, "roads": ROADS_GROUP}.get(
            dept["code"]
        )
        if dept["telegram_chat_id"] is None:
            del dept["telegram_chat_id"]
    path.write_text(dump_toml(data), encoding="utf-8")
    return path


def _offer(srv: BenchServer, user: int) -> str:
    """The "this is my problem too" button the bot just showed ``user``, if any."""
    for params in reversed(srv.sent_messages(user)[-3:]):
        for row in (params.get("reply_markup") or {}).get("inline_keyboard", []):
            for button in row:
                data = str(button.get("callback_data", ""))
                if data.startswith("near:join:"):
                    return data
    return ""


async def resident(
    srv: BenchServer,
    transport: Transport,
    tally: Tally,
    user: int,
    *,
    category: str,
    sub: str,
    address: str,
    start_at: float,
) -> None:
    from handlers.i18n import translator

    tr = translator()
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))

    async def step(update: dict[str, Any], name: str) -> bool:
        before = srv.sent[user]
        sent = time.monotonic()
        try:
            await transport.send(update)
            done = await asyncio.wait_for(srv.expect(user, before + 1), 30)
        except (TimeoutError, RuntimeError) as exc:
            tally.failures += 1
            if len(tally.examples) < 5:
                tally.examples.append(f"user {user} {name}: {type(exc).__name__} {exc}")
            return False
        tally.latencies.append(done - sent)
        await asyncio.sleep(random.uniform(*THINK))
        return True

    def press(data: str) -> dict[str, Any]:
        return srv.press(user, data)

    steps: list[tuple[str, dict[str, Any] | None]] = [
        ("start", srv.message_update(user, "/start", language_code="uk")),
        ("lang", None),
        ("menu", None),
        ("category", None),
        ("sub", None),
    ]
    presses = {"lang": "lang:uk", "menu": "menu:new", "category": f"cat:{category}", "sub": sub}
    for name, update in steps:
        if not await step(update or press(presses[name]), name):
            return
    if not await step(srv.message_update(user, address, language_code="uk"), "address"):
        return
    join = _offer(srv, user)
    if join:
        tally.offered += 1
        if await step(press(join), "join"):
            tally.joined += 1
        return
    rest = [
        ("description", srv.message_update(user, "Не світить ліхтар біля будинку, темно")),
        ("photos", srv.message_update(user, tr.t("uk", "photos.skip"))),
        ("phone", srv.message_update(user, tr.t("uk", "new.skip_phone"))),
    ]
    for name, update in rest:
        if not await step(update, name):
            return
    if await step(press("confirm"), "confirm"):
        tally.filed += 1


async def group_figures(db_url: str) -> dict[str, Any]:
    """From the outbox: the messages each group got and the longest any of them waited."""
    from models.domain.outbox import OutboxMessage, OutboxStatus
    from models.domain.tables import Request, RequestSubscriber
    from models.storage.engine import create_engine, session_factory

    engine = create_engine(db_url)
    try:
        async with session_factory(engine)() as session:
            out: dict[str, Any] = {
                "requests": await session.scalar(select(func.count()).select_from(Request)),
                "subscribers": await session.scalar(
                    select(func.count()).select_from(RequestSubscriber)
                ),
            }
            for name, chat in (("lighting", LIGHTING_GROUP), ("roads", ROADS_GROUP)):
                rows = (
                    await session.execute(
                        select(
                            OutboxMessage.created_at,
                            OutboxMessage.sent_at,
                            OutboxMessage.last_error,
                            OutboxMessage.status,
                        ).where(OutboxMessage.recipient == str(chat))
                    )
                ).all()
                sent = [r for r in rows if r.status is OutboxStatus.SENT and not r.last_error]
                waits = [(r.sent_at - r.created_at).total_seconds() for r in sent if r.sent_at]
                out[name] = {
                    "queued": len(rows),
                    "sent": len(sent),
                    "left_out": sum(1 for r in rows if r.last_error in ("superseded", "batched")),
                    "pending": sum(1 for r in rows if r.status is OutboxStatus.PENDING),
                    "max_wait_s": round(max(waits, default=0.0), 1),
                }
            return out
    finally:
        await engine.dispose()


async def bench_surge(
    *,
    reports: int = 300,
    others: int = 30,
    minutes: float = 10.0,
    db: str = "sqlite",
    log: Any = print,
) -> dict[str, Any]:
    random.seed(1520)
    with tempfile.TemporaryDirectory(prefix="citybot-surge-") as tmp:
        workdir = Path(tmp)
        async with BenchServer(keep_calls=True) as srv, fresh_database(db, workdir) as db_url:
            port = free_port()
            config = surge_config(workdir, port)
            child = Child(
                citybot_argv(), bot_env(srv.base_url, db_url, config), workdir / "bot.log"
            )
            await child.start()
            try:
                deadline = time.monotonic() + 90
                while not srv.saw("setWebhook"):
                    if time.monotonic() > deadline or not child.alive():
                        raise RuntimeError(f"citybot did not start:\n{child.tail()}")
                    await asyncio.sleep(0.05)
                await wait_port(port)
                srv.enforce_limits(per_chat_per_s=3)  # the FAQ's 1 a second, "short bursts"
                tally = Tally()
                began = time.monotonic()
                span = minutes * 60
                async with Transport(srv, "webhook", port) as transport:
                    jobs = [
                        resident(
                            srv,
                            transport,
                            tally,
                            FIRST_USER + i,
                            category="lighting",
                            sub="sub:light_off",
                            address=SPELLINGS[i % len(SPELLINGS)],
                            start_at=began + span * i / reports,
                        )
                        for i in range(reports)
                    ]
                    jobs += [
                        resident(
                            srv,
                            transport,
                            tally,
                            FIRST_USER + reports + i,
                            category="roads",
                            sub="sub:pothole",
                            address=f"просп. Металургів, {i + 1}",
                            start_at=began + span * random.random(),
                        )
                        for i in range(others)
                    ]
                    await asyncio.gather(*jobs)
                    # The outbox finishes what the surge queued.
                    await asyncio.sleep(10)
                wall = time.monotonic() - began
            finally:
                await child.stop()
            groups = await group_figures(db_url)
    lat = latency_summary(tally.latencies)
    messages = {
        name: srv.sent[chat]
        for name, chat in (("lighting", LIGHTING_GROUP), ("roads", ROADS_GROUP))
    }
    edits = sum(1 for c in srv.calls_of("editMessageText") if c.ok)
    result = {
        "db": db,
        "reports": reports,
        "others": others,
        "minutes": minutes,
        "requests_filed": groups["requests"],
        "offered_me_too": tally.offered,
        "took_me_too": tally.joined,
        "filed_by_residents": tally.filed,
        "subscribers": groups["subscribers"],
        "group_messages": messages,
        "card_edits": edits,
        "groups": {k: groups[k] for k in ("lighting", "roads")},
        "max_group_wait_s": max(groups["lighting"]["max_wait_s"], groups["roads"]["max_wait_s"]),
        "step_latency": lat,
        "p99_ms": lat["p99_ms"],
        "failed_steps": tally.failures,
        "failure_examples": tally.examples,
        "webhook_errors": transport.errors,
        "http_429": srv.stats.http_429,
        "seconds": round(wall, 1),
    }
    log(
        f"  surge: {reports}+{others} residents in {minutes} min: {result['requests_filed']} "
        f"requests, me-too offered {tally.offered} / taken {tally.joined}; group messages "
        f"{messages}, edits {edits}; longest group wait {result['max_group_wait_s']} s; "
        f"step p99 {lat['p99_ms']} ms; failed {tally.failures}"
    )
    return result
