"""Two real workers (`python -m bot run`, webhook mode) on one PostgreSQL database behind a
round-robin forwarder, as a city runs them behind its reverse proxy, over the fake Bot API
server (issue 12):

- the same update delivered to both, a double tap landing on both, a staff command delivered
  again: one request, one reply, one notification;
- one worker is the sender; killed with SIGKILL mid-fan-out, the other takes over and every
  message arrives (at most the few in flight at the kill twice), in order per chat;
- stopped with SIGTERM mid-fan-out, it hands its claimed messages back: the rest go out at
  once from the other worker, none waits out a lease.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models.domain.outbox import enqueue
from models.domain.tables import Actor, EventKind, Request, RequestEvent
from tests.conftest import PG_URL
from tests.fakes.telegram_server import FakeTelegramServer
from tests.telegram_harness import free_port

pytestmark = [
    pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL is not set"),
    pytest.mark.slow,
]

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "123456:TEST-token-for-the-fake-server"
SECRET = "two-workers-secret"
STAFF = 777_002
RESIDENTS = 10
LEASE = 12


def worker_config(tmp_path: Path) -> Path:
    """One bot.toml for both workers, as deploy/citybot@.service has it: only the port differs
    (CITYBOT_LISTEN_PORT)."""
    text = (ROOT / "bot.toml").read_text(encoding="utf-8")
    for old, new in [
        ("\nadmins = []\n", f"\nadmins = [{STAFF}]\n"),
        (
            '\nmode = "polling"\n',
            '\nmode = "webhook"\nwebhook_url = "https://bot.example.gov.ua"\n',
        ),
        ("\nlease_seconds = 60\n", f"\nlease_seconds = {LEASE}\n"),
        ("\nsend_timeout_seconds = 15\n", "\nsend_timeout_seconds = 5\n"),
    ]:
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "bot.toml"
    path.write_text(text, encoding="utf-8")
    return path


class Worker:
    def __init__(self, srv: FakeTelegramServer, tmp_path: Path) -> None:
        self.port = free_port()
        self.config = worker_config(tmp_path)
        self.log = tmp_path / f"worker-{self.port}.log"
        self.srv = srv
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        env = {
            **os.environ,
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE": self.srv.base_url,
            "TELEGRAM_WEBHOOK_SECRET": SECRET,
            "DATABASE_URL": PG_URL,
            "BOT_CONFIG": str(self.config),
            "CITYBOT_LISTEN_PORT": str(self.port),
            "LOG_LEVEL": "INFO",
        }
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "run",
                cwd=ROOT,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=out,
            )

    async def health(self, http: aiohttp.ClientSession) -> dict[str, Any] | None:
        try:
            async with http.get(f"{self.url}/healthz") as resp:
                return dict(await resp.json()) if resp.status == 200 else None
        except aiohttp.ClientError:
            return None

    async def stop(self, sig: int) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(sig)
            try:
                await asyncio.wait_for(self.proc.wait(), 20)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


async def forwarder(workers: list[Worker]) -> web.AppRunner:
    """The reverse proxy: each webhook call to the next worker in turn."""
    turn = itertools.count()

    async def forward(request: web.Request) -> web.Response:
        target = workers[next(turn) % len(workers)]
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{target.url}{request.path}", data=await request.read(), headers=request.headers
            ) as resp,
        ):
            return web.Response(
                status=resp.status,
                body=await resp.read(),
                headers={"Content-Type": resp.headers.get("Content-Type", "text/plain")},
            )

    app = web.Application()
    app.router.add_post("/{path:.*}", forward)
    runner = web.AppRunner(app)
    await runner.setup()
    return runner


@pytest.fixture
async def srv() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer() as server:
        yield server


async def until(condition: Any, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        assert time.monotonic() < deadline, f"timed out: {what}"
        await asyncio.sleep(0.05)


async def to_confirm(srv: FakeTelegramServer, user: int) -> None:
    steps: list[dict[str, Any]] = [
        srv.message_update(user, "/start"),
        srv.callback_update(user, "lang:en"),
        srv.callback_update(user, "menu:new"),
        srv.callback_update(user, "cat:lighting"),
        srv.callback_update(user, "sub:light_off"),
        srv.message_update(user, "вул. Соборності, 10"),
        srv.message_update(user, "Не світить ліхтар біля під'їзду вже тиждень"),
        srv.callback_update(user, "photos:done"),
        srv.callback_update(user, "phone:skip"),
    ]
    for update in steps:
        answer = await srv.deliver_webhook(update)
        assert answer.status == 200, answer


def delivered(srv: FakeTelegramServer, chats: set[int]) -> Counter[tuple[int, str]]:
    return Counter(
        (int(c.params["chat_id"]), str(c.params.get("text", "")))
        for c in srv.calls_of("sendMessage")
        if c.ok and int(c.params["chat_id"]) in chats
    )


async def test_two_workers_one_database(
    backend: str,
    srv: FakeTelegramServer,
    sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    if backend != "postgresql":
        pytest.skip("several workers need PostgreSQL; SQLite is one process")
    workers = [Worker(srv, tmp_path), Worker(srv, tmp_path)]
    proxy = await forwarder(workers)
    proxy_port = free_port()
    await web.TCPSite(proxy, "127.0.0.1", proxy_port).start()
    http = aiohttp.ClientSession()
    try:
        for w in workers:
            await w.start()

        async def both_up() -> bool:
            found = [await w.health(http) for w in workers]
            return all(found) and sum(bool(h and h["sender"]) for h in found) == 1

        await until(both_up, 30, "two workers up, one of them the sender")
        await srv.wait_for("setWebhook", count=2)
        # Telegram calls the proxy (the workers set the public URL; the proxy is its stand-in).
        async with http.post(
            f"{srv.base_url}/bot{TOKEN}/setWebhook",
            json={"url": f"http://127.0.0.1:{proxy_port}/telegram/webhook", "secret_token": SECRET},
        ) as resp:
            assert resp.status == 200

        # --- one request per resident, however the updates land
        users = [8_100 + i for i in range(RESIDENTS)]
        for user in users:
            await to_confirm(srv, user)
        taps: list[Any] = []
        for i, user in enumerate(users):
            # Ids given here, so that none is also handed out by the fake for another update.
            first, second = 990_000 + 2 * i, 990_000 + 2 * i + 1
            if i % 2:  # a double tap: two updates, one to each worker
                taps += [
                    srv.deliver_webhook(
                        {"update_id": first, **srv.callback_update(user, "confirm")}
                    ),
                    srv.deliver_webhook(
                        {"update_id": second, **srv.callback_update(user, "confirm")}
                    ),
                ]
            else:  # Telegram re-sends a slow update: the same update_id, one to each worker
                same = {"update_id": first, **srv.callback_update(user, "confirm")}
                taps += [srv.deliver_webhook(same), srv.deliver_webhook(same)]
        answers = await asyncio.gather(*taps)
        assert all(a.status == 200 for a in answers)
        async with sessions() as session:
            per_resident = Counter((await session.execute(select(Request.resident_id))).scalars())
            numbers = list(await session.scalars(select(Request.number).order_by(Request.id)))
        filed = sum(per_resident.values())
        assert len(per_resident) == RESIDENTS and set(per_resident.values()) == {1}
        assert filed == RESIDENTS, f"{filed} requests filed by {RESIDENTS} residents"

        # --- a staff reply delivered again to the other worker: one reply, one notification
        text = "The crew comes tomorrow morning"
        reply = {"update_id": 995_000, **srv.message_update(STAFF, f"/reply {numbers[0]} {text}")}
        await asyncio.gather(srv.deliver_webhook(reply), srv.deliver_webhook(reply))
        async with sessions() as session:
            replies = await session.scalar(
                select(func.count())
                .select_from(RequestEvent)
                .where(RequestEvent.kind == EventKind.REPLY, RequestEvent.actor == Actor.STAFF)
            )
        assert replies == 1

        async def resident_told() -> bool:
            return any(text in t for (_, t) in delivered(srv, set(users)))

        await until(resident_told, 10, "the resident gets the reply")
        await asyncio.sleep(1.5)
        assert sum(1 for (_, t) in delivered(srv, set(users)) if text in t) == 1

        # --- someone made staff through one worker is staff on both: two /queue in a row
        # through the proxy reach both workers, and both answer as the desk (their text
        # outside commands: tests/app/test_cluster.py, the workers' lists told by NOTIFY)
        newcomer = 777_003
        await srv.deliver_webhook(srv.message_update(STAFF, f"/staff add {newcomer} operator"))
        for _ in range(2):
            await srv.deliver_webhook(srv.message_update(newcomer, "/queue"))
        queues = [str(m.get("text", "")) for m in srv.sent_messages(newcomer)]
        assert len(queues) == 2 and all(numbers[1] in q for q in queues), queues

        # --- the sender killed with SIGKILL mid-fan-out
        await fan_out_and_stop(srv, sessions, workers, http, signal.SIGKILL, base=100_000)
        # --- back to two; the sender stopped with SIGTERM mid-fan-out
        dead = next(w for w in workers if w.proc and w.proc.returncode is not None)
        await dead.start()
        await until(both_up, 30, "the restarted worker is up")
        await fan_out_and_stop(srv, sessions, workers, http, signal.SIGTERM, base=200_000)
    finally:
        for w in workers:
            await w.stop(signal.SIGTERM)
        await http.close()
        await proxy.cleanup()


async def fan_out_and_stop(
    srv: FakeTelegramServer,
    sessions: async_sessionmaker[AsyncSession],
    workers: list[Worker],
    http: aiohttp.ClientSession,
    sig: int,
    base: int,
) -> None:
    chats = {base + i for i in range(100)}
    ordered = base + 999  # one chat gets five in a row: they arrive in order
    async with sessions() as session, session.begin():
        for chat in sorted(chats):
            enqueue(session, "telegram", str(chat), {"event": "text", "text": f"Notice {chat}"})
        for n in range(5):
            enqueue(session, "telegram", str(ordered), {"event": "text", "text": f"Step {n}"})
    chats.add(ordered)
    healths = [await w.health(http) for w in workers]
    sender = next(w for w, h in zip(workers, healths, strict=True) if h and h["sender"])
    other = next(w for w in workers if w is not sender)

    async def some_sent() -> bool:
        return sum(delivered(srv, chats).values()) >= 30

    await until(some_sent, 20, "the fan-out under way")
    stopped = time.monotonic()
    await sender.stop(sig)

    async def all_sent() -> bool:
        return {chat for chat, _ in delivered(srv, chats)} == chats and (
            sum(1 for chat, _ in delivered(srv, chats) if chat == ordered) >= 5
        )

    # SIGKILL: what the dead sender had claimed waits out its lease; SIGTERM: nothing does.
    await until(all_sent, LEASE + 20 if sig == signal.SIGKILL else LEASE - 2, "every message")
    took = time.monotonic() - stopped
    got = delivered(srv, chats)
    twice = [key for key, n in got.items() if n > 1]
    assert len(twice) <= 8, f"{len(twice)} messages sent twice"  # at most those in flight
    steps = [
        str(c.params["text"])
        for c in srv.calls_of("sendMessage")
        if c.ok and int(c.params["chat_id"]) == ordered
    ]
    assert list(dict.fromkeys(steps)) == [f"Step {n}" for n in range(5)]
    health = await other.health(http)
    assert health is not None and health["sender"] is True
    if sig == signal.SIGTERM:
        assert not twice
        assert took < LEASE - 2, f"the rest took {took:.1f}s: something waited for a lease"
