"""The public page and the Open311 API in a process of their own (``python -m bot web``).

Inside the bot process every page served, even from the cache, takes the event loop that also
answers the residents: a crowd of readers then slows the dialog (README, "The cost of
readers"). Here the readers get their own process, and so their own core, over the same
database; the bot is not asked for anything. A request filed through Open311 is written with
its cards in the outbox, which the bot's delivery worker finds on its next look (within a
second).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from aiohttp import web

from bot.app import App
from bot.web import mount_web

log = logging.getLogger(__name__)


async def serve(app: App, stop: asyncio.Event | None = None) -> None:
    """Until ``stop`` is set or the process gets SIGTERM or SIGINT."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    web_app = web.Application()
    mount_web(web_app, app)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    where = app.settings.web.listen_host, app.settings.web.listen_port
    try:
        await web.TCPSite(runner, *where).start()
        log.info("the public page and Open311 on %s:%s", *where)
        await stop.wait()
    finally:
        await runner.cleanup()
