"""Starting the bot in one of its modes: Telegram polling, Telegram webhook, terminal chat."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from aiogram import Bot
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web

from bot.app import App
from bot.channels.telegram import CHANNEL as CHANNEL_TELEGRAM
from bot.channels.telegram import TelegramChannel, TelegramSender, make_bot
from bot.channels.telegram_commands import register_commands
from bot.channels.terminal import CHANNEL as CHANNEL_TERMINAL
from bot.channels.terminal import TerminalChat, TerminalSender
from bot.delivery import Delivery, Sender
from models.base import utcnow
from models.dedupe import forget_seen_before
from models.staff import list_staff

log = logging.getLogger(__name__)

# Telegram keeps undelivered updates for 24 hours; remembering them a little longer suffices.
SEEN_UPDATES_KEPT = timedelta(hours=48)


async def prune_seen_updates(app: App) -> None:
    async with app.sessions() as session, session.begin():
        await forget_seen_before(session, utcnow() - SEEN_UPDATES_KEPT)


def telegram_channel(app: App) -> TelegramChannel:
    token = app.env.telegram_bot_token
    if token is None:
        raise RuntimeError("TELEGRAM_BOT_TOKEN is not set")
    bot = make_bot(token.get_secret_value(), app.env.telegram_api_base)
    return TelegramChannel(bot, app.conversation, app.conversation.tr, desk=app.desk)


@asynccontextmanager
async def delivering(app: App, senders: dict[str, Sender]) -> AsyncIterator[Delivery]:
    """The outbox worker, running beside the channels for as long as the bot runs."""
    delivery = app.delivery(senders)
    stop = asyncio.Event()
    worker = asyncio.create_task(delivery.run(stop), name="delivery")
    try:
        yield delivery
    finally:
        stop.set()
        delivery.kick()
        await worker


async def prepare_telegram(app: App, channel: TelegramChannel) -> None:
    await prune_seen_updates(app)
    async with app.sessions() as session:
        staff_ids = [m.telegram_id for m in await list_staff(session)]
    await register_commands(
        channel.bot, app.conversation.tr, app.settings, [*app.settings.staff.admins, *staff_ids]
    )


async def run_polling(app: App, channel: TelegramChannel | None = None) -> None:
    channel = channel or telegram_channel(app)
    await prepare_telegram(app, channel)
    # A webhook left over from webhook mode would make getUpdates fail with 409.
    await channel.bot.delete_webhook(drop_pending_updates=False)
    log.info("Telegram: polling %s", app.env.telegram_api_base)
    await channel.dispatcher.start_polling(
        channel.bot, handle_signals=False, close_bot_session=True
    )


def webhook_app(app: App, channel: TelegramChannel) -> web.Application:
    tg = app.settings.telegram
    secret = app.env.telegram_webhook_secret
    web_app = web.Application()
    SimpleRequestHandler(
        dispatcher=channel.dispatcher,
        bot=channel.bot,
        secret_token=secret.get_secret_value() if secret else None,
    ).register(web_app, path=tg.webhook_path)
    setup_application(web_app, channel.dispatcher, bot=channel.bot)

    async def on_startup(_: web.Application) -> None:
        await prepare_telegram(app, channel)
        await channel.bot.set_webhook(
            tg.webhook_url.rstrip("/") + tg.webhook_path,
            secret_token=secret.get_secret_value() if secret else None,
            allowed_updates=channel.dispatcher.resolve_used_update_types(),
        )

    web_app.on_startup.append(on_startup)
    return web_app


async def run_webhook(app: App, channel: TelegramChannel | None = None) -> None:
    channel = channel or telegram_channel(app)
    tg = app.settings.telegram
    if app.env.telegram_webhook_secret is None:
        log.warning("TELEGRAM_WEBHOOK_SECRET is not set: anyone who finds the URL can post updates")
    runner = web.AppRunner(webhook_app(app, channel))
    await runner.setup()
    site = web.TCPSite(runner, tg.listen_host, tg.listen_port)
    await site.start()
    log.info("Telegram: webhook on %s:%s%s", tg.listen_host, tg.listen_port, tg.webhook_path)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


async def run_terminal(app: App, user_id: str = "local") -> None:
    chat = TerminalChat(
        app.conversation.handle,
        app.conversation.tr,
        user_id=user_id,
        lang=app.settings.default_language,
    )
    async with delivering(app, {CHANNEL_TERMINAL: TerminalSender(chat)}):
        await chat.run()


async def run(app: App) -> None:
    if app.env.telegram_bot_token is None:
        await run_terminal(app)
        return
    channel = telegram_channel(app)
    senders: dict[str, Sender] = {
        CHANNEL_TELEGRAM: TelegramSender(channel.bot, app.conversation.tr)
    }
    async with delivering(app, senders) as delivery:
        channel.on_commit = delivery.kick
        if app.settings.telegram.mode == "webhook":
            await run_webhook(app, channel)
        else:
            await run_polling(app, channel)


__all__ = ["Bot", "run", "run_polling", "run_terminal", "run_webhook", "webhook_app"]
