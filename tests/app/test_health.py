"""/healthz and /metrics on the running bot's web server (bot/web/health.py), as a load
balancer and Prometheus see them: the whole bot (bot.runner.run) in webhook mode over the fake
Bot API server, on SQLite and on PostgreSQL (where the sender is elected)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot import runner
from bot.channels.telegram.channel import build as telegram_channel
from bot.config import Settings
from bot.media import MediaStore
from models.domain.outbox import enqueue
from models.storage.engine import create_engine
from tests.fakes.telegram_server import FakeTelegramServer
from tests.telegram_harness import free_port, make_app

USER = 555_201


@contextlib.asynccontextmanager
async def whole_bot(
    srv: FakeTelegramServer,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> AsyncIterator[str]:
    port = free_port()
    tg = settings.telegram.model_copy(
        update={"mode": "webhook", "webhook_url": f"http://127.0.0.1:{port}", "listen_port": port}
    )
    app = make_app(srv, engine, sessions, settings.model_copy(update={"telegram": tg}))
    channel = telegram_channel(app, MediaStore())
    bot = asyncio.create_task(runner.run(app, [channel]))
    try:
        await srv.wait_for("setWebhook")
        yield f"http://127.0.0.1:{port}"
    finally:
        bot.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await bot


async def test_healthz_and_metrics_say_what_an_operator_asks_first(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    async with (
        FakeTelegramServer() as srv,
        whole_bot(srv, engine, sessions, settings) as base,
        aiohttp.ClientSession() as http,
    ):
        await srv.deliver_webhook(srv.message_update(USER, "/start"))
        # A message the sender cannot send yet: it waits, and /healthz says for how long.
        srv.fail_chat(9_999, 502, "Bad Gateway")
        async with sessions() as session, session.begin():
            enqueue(session, "telegram", "9999", {"event": "text", "text": "Waiting"})
        deadline = asyncio.get_running_loop().time() + 10
        while True:  # on PostgreSQL the sender is elected first
            async with http.get(f"{base}/healthz") as resp:
                assert resp.status == 200
                health = await resp.json()
            if health["sender"] or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.1)
        assert health["database"] is True and health["sender"] is True
        assert health["outbox_pending"] == 1 and health["outbox_oldest_seconds"] >= 0
        async with http.get(f"{base}/metrics") as resp:
            assert resp.status == 200
            assert resp.content_type == "text/plain"
            metrics = await resp.text()
    assert 'citybot_updates_total{handler="dialog",kind="command"}' in metrics
    assert "citybot_dialog_step_seconds_bucket" in metrics
    assert "citybot_sender_leader 1.0" in metrics
    assert "citybot_outbox_pending 1.0" in metrics


async def test_healthz_answers_503_when_the_database_does_not(
    backend: str,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    """What a balancer sees of a worker cut off from PostgreSQL (here: its sessions pointed at
    a port nothing listens on), so that it stops sending it webhooks."""
    if backend == "sqlite":
        pytest.skip("SQLite is a file beside the bot: it is never unreachable on its own")
    async with (
        FakeTelegramServer() as srv,
        whole_bot(srv, engine, sessions, settings) as base,
        aiohttp.ClientSession() as http,
    ):
        away = create_engine(engine.url.set(port=1).render_as_string(hide_password=False))
        sessions.configure(bind=away)
        try:
            async with http.get(f"{base}/healthz") as resp:
                assert resp.status == 503
                assert (await resp.json())["database"] is False
        finally:
            sessions.configure(bind=engine)
            await away.dispose()
