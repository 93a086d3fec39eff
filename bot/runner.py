"""Starting the bot in one of its modes: Telegram polling, Telegram webhook, terminal chat;
Viber (webhooks only) beside Telegram in the same web server, or on its own."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from aiogram import Bot
from aiogram.webhook.aiohttp_server import setup_application
from aiohttp import web

from bot.app import App
from bot.channels.telegram import CHANNEL as CHANNEL_TELEGRAM
from bot.channels.telegram import TelegramChannel, TelegramSender, make_bot
from bot.channels.telegram_commands import register_commands
from bot.channels.telegram_json import JsonAnswerHandler
from bot.channels.terminal import CHANNEL as CHANNEL_TERMINAL
from bot.channels.terminal import TerminalChat, TerminalSender
from bot.channels.viber import CHANNEL as CHANNEL_VIBER
from bot.channels.viber import ViberChannel, ViberClient, ViberSender
from bot.config import ConfigError, Env, Settings
from bot.delivery import Delivery, Sender
from bot.scheduler import scheduling
from handlers.outbound.jobs import Jobs
from models.domain.base import utcnow
from models.domain.staff import list_staff
from models.storage.dedupe import forget_seen_before

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


def jobs(app: App, delivery: Delivery) -> Jobs:
    """Reminders, escalations, follow-ups and the digest; what they queue is sent at once."""
    return Jobs(app.sessions, app.settings, app.conversation.tr, on_enqueued=delivery.kick)


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


def viber_client(env: Env, settings: Settings) -> ViberClient:
    token = env.viber_auth_token
    if token is None:
        raise ConfigError("VIBER_AUTH_TOKEN is not set")
    vb = settings.viber
    return ViberClient(
        token.get_secret_value(),
        env.viber_api_base,
        name=vb.name,
        avatar=vb.avatar,
        min_api_version=vb.min_api_version,
    )


def viber_channel(app: App) -> ViberChannel | None:
    """The Viber channel when VIBER_AUTH_TOKEN is set."""
    if app.env.viber_auth_token is None:
        return None
    client = viber_client(app.env, app.settings)
    return ViberChannel(client, app.conversation, app.conversation.tr, app.settings.viber)


async def viber_webhook(env: Env, settings: Settings, *, unset: bool = False) -> str:
    """``python -m bot viber set-webhook | unset-webhook``. Viber checks the URL at once with
    a signed callback, so the bot must already be running there."""
    client = viber_client(env, settings)
    try:
        if unset:
            await client.unset_webhook()
            return "Viber webhook removed"
        url = settings.viber.full_webhook_url()
        if not url:
            raise ConfigError("viber.webhook_url: set the public https:// URL in bot.toml")
        events = await client.set_webhook(url)
        return f"Viber webhook set to {url} (events: {', '.join(events)})"
    finally:
        await client.close()


def viber_app(viber: ViberChannel) -> web.Application:
    web_app = web.Application()
    viber.register(web_app)
    return web_app


async def serve(web_app: web.Application, host: str, port: int) -> None:
    runner = web.AppRunner(web_app)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


async def run_viber(app: App, viber: ViberChannel) -> None:
    """Viber's webhook on telegram.listen_host/listen_port (one web server for the bot)."""
    tg, vb = app.settings.telegram, app.settings.viber
    if not vb.webhook_url:
        log.warning("viber.webhook_url is not set: `python -m bot viber set-webhook` needs it")
    log.info("Viber: webhook on %s:%s%s", tg.listen_host, tg.listen_port, vb.webhook_path)
    await serve(viber_app(viber), tg.listen_host, tg.listen_port)


def webhook_app(
    app: App, channel: TelegramChannel, viber: ViberChannel | None = None
) -> web.Application:
    tg = app.settings.telegram
    secret = app.env.telegram_webhook_secret
    web_app = web.Application()
    if viber is not None:
        viber.register(web_app)
    JsonAnswerHandler(
        dispatcher=channel.dispatcher,
        bot=channel.bot,
        # Handled before answering, so a method the handler returns (the callback answer)
        # rides in the HTTP response instead of costing a Bot API call.
        handle_in_background=False,
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


async def run_webhook(
    app: App, channel: TelegramChannel | None = None, viber: ViberChannel | None = None
) -> None:
    channel = channel or telegram_channel(app)
    tg = app.settings.telegram
    if app.env.telegram_webhook_secret is None:
        log.warning("TELEGRAM_WEBHOOK_SECRET is not set: anyone who finds the URL can post updates")
    runner = web.AppRunner(webhook_app(app, channel, viber))
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
    async with (
        delivering(app, {CHANNEL_TERMINAL: TerminalSender(chat)}) as delivery,
        scheduling(jobs(app, delivery), app.settings),
    ):
        await chat.run()


async def run(app: App) -> None:
    viber = viber_channel(app)
    if app.env.telegram_bot_token is None and viber is None:
        await run_terminal(app)
        return
    senders: dict[str, Sender] = {}
    if viber is not None:
        senders[CHANNEL_VIBER] = ViberSender(viber.client)
    if app.env.telegram_bot_token is None:
        assert viber is not None
        async with (
            delivering(app, senders) as delivery,
            scheduling(jobs(app, delivery), app.settings),
        ):
            await run_viber(app, viber)
        return
    channel = telegram_channel(app)
    senders[CHANNEL_TELEGRAM] = TelegramSender(channel.bot, app.conversation.tr)
    async with (
        delivering(app, senders) as delivery,
        scheduling(jobs(app, delivery), app.settings),
    ):
        if app.settings.telegram.mode == "webhook":
            await run_webhook(app, channel, viber)
        elif viber is not None:
            async with asyncio.TaskGroup() as group:
                group.create_task(run_polling(app, channel))
                group.create_task(run_viber(app, viber))
        else:
            await run_polling(app, channel)


__all__ = [
    "Bot",
    "run",
    "run_polling",
    "run_terminal",
    "run_viber",
    "run_webhook",
    "viber_webhook",
    "webhook_app",
]
