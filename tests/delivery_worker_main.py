"""The outbox worker alone in its own process, for the crash test in test_delivery.py:

    python -m tests.delivery_worker_main <database url> <Bot API base url>

Once loaded it prints "ready" and waits for a line on stdin (so a test can have it imported
before it is needed: importing aiogram takes seconds), then sends what the outbox holds through
the real TelegramSender until it is killed, with limits that let a thousand messages go out
fast and a one-second lease, so what a killed worker had claimed is retried soon after."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

from bot.channels.telegram.client import make_bot
from bot.channels.telegram.sender import TelegramSender
from bot.config import load_settings
from bot.delivery import Delivery, Sender
from handlers.i18n import translator
from models.storage.engine import create_engine, session_factory

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123456:TEST-token-for-the-fake-server"
LIMITS: dict[str, Any] = {
    "global_per_second": 1000,
    "private_per_second": 100,
    "lease_seconds": 1,
    "backoff_base_seconds": 0.1,
    "batch": 100,
    "concurrency": 8,
}


async def main(db_url: str, api_base: str) -> None:
    settings = load_settings(ROOT / "bot.toml")
    settings = settings.model_copy(update={"delivery": settings.delivery.model_copy(update=LIMITS)})
    engine = create_engine(db_url)
    bot = make_bot(TOKEN, api_base)
    tr = translator()
    senders: dict[str, Sender] = {"telegram": TelegramSender(bot, tr)}
    delivery = Delivery(session_factory(engine), settings, tr, senders)
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    try:
        await delivery.run(idle_poll=0.1)
    finally:
        await bot.session.close()
        await engine.dispose()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(main(sys.argv[1], sys.argv[2]))
