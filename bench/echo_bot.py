"""The reference: a bare aiogram 3 echo bot, in its own process, in the same mode as citybot.

Every message is echoed back in one ``sendMessage``; a button press is answered
(``answerCallbackQuery``) and echoed in one ``sendMessage``. No database, no state: what is
left of citybot's time per update once this is subtracted is citybot's own work.

Configured like citybot, from the environment: ``TELEGRAM_BOT_TOKEN``, ``TELEGRAM_API_BASE``,
``TELEGRAM_WEBHOOK_SECRET``, plus ``ECHO_MODE`` (polling | webhook), ``ECHO_PORT`` and
``ECHO_WEBHOOK_PATH``. Run: ``python -m bench.echo_bot``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import CallbackQuery, Message
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web


def make() -> tuple[Bot, Dispatcher]:
    if os.environ.get("ECHO_PIN_RESPONSE_MODELS"):
        # citybot's one framework-level fix (bot/channels/telegram/client.py), to see what the
        # echo bot would do with it; off by default, so the reference stays bare aiogram.
        from bot.channels.telegram.client import pin_response_models

        pin_response_models()
    session = AiohttpSession(api=TelegramAPIServer.from_base(os.environ["TELEGRAM_API_BASE"]))
    bot = Bot(os.environ["TELEGRAM_BOT_TOKEN"], session=session)
    dp = Dispatcher()

    @dp.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "…")

    @dp.callback_query()
    async def pressed(query: CallbackQuery) -> None:
        await query.answer()
        if query.message is not None:
            await bot.send_message(query.message.chat.id, query.data or "…")

    return bot, dp


async def main() -> None:
    bot, dp = make()
    mode = os.environ.get("ECHO_MODE", "polling")
    if mode == "polling":
        await bot.delete_webhook()
        await dp.start_polling(bot, handle_signals=False)
        return
    secret = os.environ.get("TELEGRAM_WEBHOOK_SECRET")
    path = os.environ.get("ECHO_WEBHOOK_PATH", "/telegram/webhook")
    port = int(os.environ["ECHO_PORT"])
    app = web.Application()
    SimpleRequestHandler(dispatcher=dp, bot=bot, secret_token=secret).register(app, path=path)
    setup_application(app, dp, bot=bot)
    runner = web.AppRunner(app)  # as citybot's (bot/runner.py)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await bot.set_webhook(f"https://127.0.0.1{path}", secret_token=secret)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "WARNING"))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
