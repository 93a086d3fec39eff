"""``/healthz`` and ``/metrics`` on the bot's web server, for the service manager, the load
balancer and Prometheus.

``/healthz`` answers 200 while the database answers, 503 when it does not, with what an
operator asks first: is the database reachable, is this worker the sender (PostgreSQL elects
one, bot/cluster.py; on SQLite the one process is), and how long the oldest message in the
outbox has been waiting. A balancer takes a worker out of rotation on the 503.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from bot.metrics import OUTBOX_OLDEST, OUTBOX_PENDING, SENDER, exposition
from models.domain.base import as_utc, utcnow
from models.storage.outbox_report import backlog

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)
CHECK_TIMEOUT_SECONDS = 3.0


async def state(app: App) -> dict[str, object]:
    sender = app.cluster.leading.is_set() if app.cluster is not None else app.sending
    SENDER.set(1 if sender else 0)
    found: dict[str, object] = {"database": False, "sender": sender}
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS), app.sessions() as session:
            await session.execute(text("SELECT 1"))
            pending, oldest = await backlog(session)
    except Exception as exc:
        log.warning("healthz: the database does not answer: %s", exc)
        return found
    age = (utcnow() - as_utc(oldest)).total_seconds() if oldest is not None else 0.0
    OUTBOX_PENDING.set(pending)
    OUTBOX_OLDEST.set(age)
    found.update(database=True, outbox_pending=pending, outbox_oldest_seconds=round(age, 1))
    return found


def mount_health(web_app: web.Application, app: App) -> None:
    async def healthz(_request: web.Request) -> web.Response:
        found = await state(app)
        return web.json_response(found, status=200 if found["database"] else 503)

    async def metrics(_request: web.Request) -> web.Response:
        await state(app)
        resp = web.Response(body=exposition())
        resp.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        resp.charset = "utf-8"
        return resp

    web_app.router.add_get("/healthz", healthz)
    web_app.router.add_get("/metrics", metrics)
