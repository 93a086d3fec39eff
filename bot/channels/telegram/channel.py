"""The Telegram channel (aiogram 3): updates → ``Incoming``, ``Reply`` → Bot API calls; by
polling or on the bot's web server, as ``[telegram] mode`` says."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from contextlib import suppress
from dataclasses import replace
from typing import TYPE_CHECKING

from aiogram import Bot, Dispatcher, Router
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramAPIError
from aiogram.methods import AnswerCallbackQuery, SendMessage
from aiogram.types import (
    CallbackQuery,
    ForceReply,
    FSInputFile,
    InlineKeyboardMarkup,
    Message,
    ReplyKeyboardRemove,
    ReplyParameters,
    Update,
    User,
)
from aiogram.webhook.aiohttp_server import setup_application
from aiohttp import ClientError, web

from bot.channels.base import ChannelSpec
from bot.channels.telegram.albums import AlbumAnswers
from bot.channels.telegram.client import make_bot
from bot.channels.telegram.commands import forget_commands, register_commands
from bot.channels.telegram.json_session import JsonAnswerHandler
from bot.channels.telegram.polling import Poller
from bot.channels.telegram.render import CAPTION_LIMIT, Markup, coalesce, render_markup, split_text
from bot.channels.telegram.sender import TelegramSender
from bot.channels.telegram.settings import token
from bot.channels.telegram.traffic import answering, busy
from bot.channels.telegram.updates import CHANNEL, addressed, to_incoming, topic_of
from bot.delivery import Progress
from bot.media import MediaStore
from handlers.types import Incoming, Kind, Reply
from models.domain.staff import list_staff

if TYPE_CHECKING:
    from bot.app import App
    from bot.config import Env, Settings


log = logging.getLogger(__name__)

STOP_SECONDS = 10.0


class TelegramChannel:
    """Residents talk to the conversation core in private chats; staff use the desk in private
    chats and in their department's group, where residents' dialogs never run."""

    name = CHANNEL

    def __init__(self, app: App, bot: Bot, media: MediaStore | None = None) -> None:
        self.app = app
        self.bot = bot
        self.conversation = app.conversation
        self.tr = app.conversation.tr
        self.settings = app.settings.telegram
        self.desk = app.desk
        self.media = media or MediaStore()
        # Photos staff send are Telegram file ids; another messenger needs their bytes.
        self.media.fetch_foreign = self._download
        self.desk.on_staff_change = self._staff_changed
        # No aiogram FSM: the conversation keeps its own state in the database.
        self.dispatcher = Dispatcher(disable_fsm=True)
        self.dispatcher.include_router(self._router())
        self._sender = TelegramSender(bot, self.tr, self.media)
        self._stopped = asyncio.Event()
        self._polling: asyncio.Future[None] | None = None
        self.albums = AlbumAnswers(self._answer, self._album_last)

    async def _download(self, file_id: str) -> bytes | None:
        try:
            data = await self.bot.download(file_id)
        except (TelegramAPIError, ClientError, TimeoutError) as exc:
            log.warning("could not download Telegram file %s: %s", file_id[:40], exc)
            return None
        return data.read() if data is not None else None

    @property
    def webhook(self) -> bool:
        return self.settings.mode == "webhook"

    # -- the Channel contract

    def sender(self) -> TelegramSender:
        return self._sender

    def mount(self, web_app: web.Application) -> bool:
        if not self.webhook:
            return False
        secret = self.app.env.telegram_webhook_secret
        JsonAnswerHandler(
            dispatcher=self.dispatcher,
            bot=self.bot,
            # Handled before answering, so a method the handler returns (the callback answer)
            # rides in the HTTP response instead of costing a Bot API call.
            handle_in_background=False,
            secret_token=secret.get_secret_value() if secret else None,
        ).register(web_app, path=self.settings.webhook_path)
        setup_application(web_app, self.dispatcher, bot=self.bot)
        return True

    async def start(self) -> None:
        async with self.app.sessions() as session:
            staff_ids = [m.telegram_id for m in await list_staff(session)]
        settings = self.app.settings
        await register_commands(self.bot, self.tr, settings, [*settings.staff.admins, *staff_ids])
        if not self.webhook:
            # A webhook left over from webhook mode would make getUpdates fail with 409.
            await self.bot.delete_webhook(drop_pending_updates=False)
            return
        secret = self.app.env.telegram_webhook_secret
        await self.bot.set_webhook(
            self.settings.webhook_url.rstrip("/") + self.settings.webhook_path,
            secret_token=secret.get_secret_value() if secret else None,
            allowed_updates=self.dispatcher.resolve_used_update_types(),
        )
        log.info("Telegram: webhook at %s", self.settings.webhook_path)

    async def run(self) -> None:
        if self.webhook:
            await self._stopped.wait()
            return
        me = await self.bot.me()  # a wrong token stops the bot here, before anything is read
        log.info("Telegram: polling %s as @%s", self.app.env.telegram_api_base, me.username)
        poller = Poller(self.bot, self.dispatcher, self.dispatcher.resolve_used_update_types())
        self._polling = asyncio.ensure_future(poller.run(self._stopped))
        await asyncio.shield(self._polling)

    async def stop(self) -> None:
        self._stopped.set()
        if self._polling is not None:
            # The batch in hand is finished and confirmed before the session closes under it.
            with contextlib.suppress(TimeoutError, Exception):
                await asyncio.wait_for(asyncio.shield(self._polling), STOP_SECONDS)
        with contextlib.suppress(Exception):
            await self.albums.drain()
        await self.bot.session.close()

    # -- receiving

    async def _staff_changed(self, telegram_id: int, is_staff: bool) -> None:
        if is_staff:
            await register_commands(self.bot, self.tr, self.conversation.settings, [telegram_id])
        else:
            await forget_commands(self.bot, telegram_id)

    def _router(self) -> Router:
        router = Router(name="citybot")
        router.message.register(self.on_message)
        router.callback_query.register(self.on_callback)
        return router

    async def on_message(self, message: Message, event_update: Update) -> SendMessage | None:
        ev = to_incoming(message)
        private = message.chat.type == ChatType.PRIVATE
        if message.from_user is not None:
            staff_ev = replace(
                ev,
                user_id=str(message.from_user.id),
                chat_id=str(message.chat.id),
                group=not private,
            )
            answer = await self.desk.handle(staff_ev, event_id=str(event_update.update_id))
            if answer is not None:
                async with _answering(message.chat.id, wait_out=False):
                    await self.send(
                        message.chat.id,
                        answer,
                        reply_to=message.message_id,
                        thread=topic_of(message),
                    )
                return None
        if not private:
            return None
        replies = await self.conversation.handle(ev, event_id=str(event_update.update_id))
        if ev.album and ev.kind is Kind.PHOTO:
            self.albums.hold(
                message.chat.id, ev.album, coalesce(replies), str(event_update.update_id)
            )
            return None
        async with _answering(message.chat.id):
            return await self.send(
                message.chat.id, coalesce(replies), answer_last=not busy(self.bot)
            )
        return None

    async def on_callback(self, query: CallbackQuery, event_update: Update) -> AnswerCallbackQuery:
        # The answer that stops the button's spinner is returned, not sent: aiogram puts it in
        # the webhook's HTTP response (one Bot API call fewer per press) or sends it itself.
        spinner = query.answer()
        if query.message is None:
            return spinner
        chat = query.message.chat
        user = query.from_user
        ev = Incoming(
            channel=CHANNEL,
            user_id=str(chat.id),
            kind=Kind.BUTTON,
            payload=query.data or "",
            name=user.full_name,
            language_hint=(user.language_code or "")[:2],
        )
        if ev.payload.startswith("s:"):
            staff_ev = replace(
                ev, user_id=str(user.id), chat_id=str(chat.id), group=chat.type != ChatType.PRIVATE
            )
            staff_replies = await self.desk.handle(staff_ev, event_id=str(event_update.update_id))
            # A card's button in a request's topic: the answers go to that topic.
            thread = topic_of(query.message if isinstance(query.message, Message) else None)
            async with _answering(chat.id, wait_out=False):
                for reply in staff_replies or []:
                    if staff_ev.group and reply.force_reply:
                        await self._post_prompt(chat.id, reply, user, thread)
                    else:
                        await self.send_one(chat.id, reply, thread=thread)
            return spinner
        if chat.type != ChatType.PRIVATE:
            return spinner
        replies = await self.conversation.handle(ev, event_id=str(event_update.update_id))
        async with _answering(chat.id):
            await self.send(chat.id, coalesce(replies))
        return spinner

    # -- answering

    async def _album_last(self, chat_id: int, album: str) -> str:
        return await self.conversation.album_last(CHANNEL, str(chat_id), album)

    async def _answer(self, chat_id: int, replies: list[Reply]) -> None:
        async with _answering(chat_id):
            await self.send(chat_id, replies)

    async def _post_prompt(self, chat_id: int, reply: Reply, user: User, thread: str) -> None:
        """A prompt in a group: only a reply to this very message answers it (the desk is told
        its id), so the group's other talk is never taken for the answer."""
        msg = await self.bot.send_message(
            chat_id,
            addressed(reply, user).text,
            reply_markup=ForceReply(selective=True),
            message_thread_id=int(thread) if thread else None,
        )
        await self.desk.prompt_posted(str(chat_id), user.id, str(msg.message_id))

    async def send(
        self,
        chat_id: int | str,
        replies: list[Reply],
        reply_to: int | None = None,
        *,
        answer_last: bool = False,
        thread: str = "",
    ) -> SendMessage | None:
        """Send the replies in order. With ``answer_last`` the last message, when it is plain
        text, is returned instead of sent: the handler hands it to aiogram, which puts it in
        the webhook's HTTP response (one Bot API call fewer per step) or, when polling, sends
        it itself."""
        last: SendMessage | None = None
        for i, reply in enumerate(replies):
            last = await self.send_one(
                chat_id,
                reply,
                reply_to,
                answer=answer_last and i == len(replies) - 1,
                thread=thread,
            )
        return last

    async def send_one(
        self,
        chat_id: int | str,
        reply: Reply,
        reply_to: int | None = None,
        *,
        answer: bool = False,
        thread: str = "",
    ) -> SendMessage | None:
        """One reply; ``thread``: the forum topic it answers in."""
        topic = int(thread) if thread else None
        markup: Markup | ForceReply = render_markup(reply)
        if reply.force_reply:
            markup = ForceReply(selective=True)
        answer = answer and reply.latitude is None and reply.document is None
        if reply.remove_input_keyboard and isinstance(markup, InlineKeyboardMarkup):
            # One message cannot both remove the phone keyboard and carry inline buttons.
            await self._send_text(chat_id, reply.text, ReplyKeyboardRemove())
            choose = SendMessage(
                chat_id=chat_id, text=self.tr.t(reply.lang, "tg.choose"), reply_markup=markup
            )
            if answer:
                return choose
            await self.bot(choose)
        elif reply.document is not None:
            doc = reply.document
            try:
                await self.bot.send_document(
                    chat_id,
                    FSInputFile(doc.path, filename=doc.filename),
                    caption=reply.text[:CAPTION_LIMIT],
                    message_thread_id=topic,
                )
            finally:
                with suppress(FileNotFoundError):
                    os.remove(doc.path)
        elif reply.photos and not reply.force_reply:
            # A card shown by /show, the photos of a fix: sent as the outbox sends them (one
            # photo with the text as its caption, or the album, then the text).
            await self._sender.send(str(chat_id), reply, Progress(thread=thread or None))
        else:
            return await self._send_text(
                chat_id, reply.text, markup, reply_to, answer=answer, thread=topic
            )
        if reply.latitude is not None and reply.longitude is not None:
            await self.bot.send_location(
                chat_id, reply.latitude, reply.longitude, message_thread_id=topic
            )
        return None

    async def _send_text(
        self,
        chat_id: int | str,
        text: str,
        markup: Markup | ForceReply,
        reply_to: int | None = None,
        *,
        answer: bool = False,
        thread: int | None = None,
    ) -> SendMessage | None:
        parts = list(split_text(text))
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            method = SendMessage(
                chat_id=chat_id,
                text=part,
                message_thread_id=thread,
                reply_markup=markup if last else None,
                reply_parameters=ReplyParameters(
                    message_id=reply_to, allow_sending_without_reply=True
                )
                if reply_to and i == 0 and isinstance(markup, ForceReply)
                else None,
            )
            if last and answer:
                return method
            await self.bot(method)
        return None


@contextlib.asynccontextmanager
async def _answering(chat_id: int | str, *, wait_out: bool = True) -> AsyncIterator[None]:
    """A direct answer Telegram refused (429 in a surge, a 5xx, the network): what the event
    did is committed either way, and the update must not fail for it, which in webhook mode
    would make Telegram send it again only to be recognised as done. Said in the log, once."""
    try:
        # A resident's answer waits out a 429 (traffic.Traffic): their dialog must go
        # on. A staff member's confirmation does not hold up their next command for it: the
        # action is done, and the card shows it.
        with answering() if wait_out else contextlib.nullcontext():
            yield
    except (TelegramAPIError, ClientError, TimeoutError) as exc:
        log.warning("answer to chat %s not sent: %s", chat_id, exc)


def _enabled(env: Env) -> bool:
    return env.telegram_bot_token is not None


def _check(env: Env, settings: Settings) -> list[str]:
    if settings.telegram.mode == "webhook" and env.telegram_webhook_secret is None:
        # Without it anyone who finds the URL can post updates "from" any user, a bootstrap
        # admin included (whose id is in the tracked bot.toml).
        return [
            "TELEGRAM_WEBHOOK_SECRET: webhook mode needs a secret Telegram sends with every update"
        ]
    return []


def build(app: App, media: MediaStore) -> TelegramChannel:
    bot = make_bot(token(app.env.telegram_bot_token), app.env.telegram_api_base)
    return TelegramChannel(app, bot, media)


TELEGRAM = ChannelSpec(name=CHANNEL, enabled=_enabled, build=build, check=_check)
