"""The Telegram channel (aiogram 3): updates → ``Incoming``, ``Reply`` → Bot API calls."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace

from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ChatType, ParseMode
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    LinkPreviewOptions,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)

from handlers.conversation import Conversation
from handlers.i18n import Translator
from handlers.types import ButtonKind, Incoming, Keyboard, Kind, Reply

log = logging.getLogger(__name__)

CHANNEL = "telegram"
TEXT_LIMIT = 4096
CALLBACK_DATA_LIMIT = 64

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | None


def make_bot(token: str, api_base: str) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_base))
    return Bot(
        token,
        session=session,
        default=DefaultBotProperties(
            parse_mode=ParseMode.HTML,
            link_preview=LinkPreviewOptions(is_disabled=True),
        ),
    )


def split_text(text: str, limit: int = TEXT_LIMIT) -> Iterator[str]:
    """Telegram refuses messages over 4096 characters: cut at line ends, never inside a line
    unless one line alone is too long."""
    chunk = ""
    for line in text.split("\n"):
        while len(line) > limit:
            if chunk:
                yield chunk
                chunk = ""
            yield line[:limit]
            line = line[limit:]
        candidate = f"{chunk}\n{line}" if chunk else line
        if len(candidate) > limit:
            yield chunk
            chunk = line
        else:
            chunk = candidate
    if chunk.strip():
        yield chunk


def render_markup(reply: Reply) -> Markup:
    if not reply.buttons:
        return ReplyKeyboardRemove() if reply.remove_input_keyboard else None
    if reply.keyboard is Keyboard.INPUT:
        return ReplyKeyboardMarkup(
            keyboard=[
                [
                    KeyboardButton(
                        text=b.label,
                        request_location=b.kind is ButtonKind.REQUEST_LOCATION or None,
                        request_contact=b.kind is ButtonKind.REQUEST_CONTACT or None,
                    )
                    for b in row
                ]
                for row in reply.buttons
            ],
            resize_keyboard=True,
        )
    for row in reply.buttons:
        for b in row:
            if len(b.payload.encode()) > CALLBACK_DATA_LIMIT:
                raise ValueError(f"callback_data over 64 bytes: {b.payload!r}")
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=b.label, callback_data=b.payload) for b in row]
            for row in reply.buttons
        ]
    )


def to_incoming(message: Message) -> Incoming:
    user = message.from_user
    base = Incoming(
        channel=CHANNEL,
        user_id=str(message.chat.id),
        kind=Kind.OTHER,
        name=user.full_name if user else "",
        language_hint=(user.language_code or "")[:2] if user else "",
    )
    if message.text is not None:
        text = message.text
        if text.startswith("/") and len(text) > 1:
            head, _, rest = text.partition(" ")
            command = head[1:].split("@", 1)[0].lower()
            return replace(base, kind=Kind.COMMAND, command=command, text=rest.strip())
        return replace(base, kind=Kind.TEXT, text=text)
    if message.photo:
        return replace(
            base, kind=Kind.PHOTO, photo=message.photo[-1].file_id, text=message.caption or ""
        )
    doc = message.document
    if doc is not None and (doc.mime_type or "").startswith("image/"):
        return replace(base, kind=Kind.PHOTO, photo=doc.file_id, text=message.caption or "")
    if message.location is not None:
        return replace(
            base,
            kind=Kind.LOCATION,
            latitude=message.location.latitude,
            longitude=message.location.longitude,
        )
    if message.contact is not None:
        own = user is not None and message.contact.user_id == user.id
        return replace(
            base, kind=Kind.CONTACT, phone=message.contact.phone_number, contact_is_own=own
        )
    return replace(base, text=message.caption or "")


class TelegramChannel:
    def __init__(self, bot: Bot, conversation: Conversation, tr: Translator) -> None:
        self.bot = bot
        self.conversation = conversation
        self.tr = tr
        self.dispatcher = Dispatcher()
        self.dispatcher.include_router(self._router())

    def _router(self) -> Router:
        router = Router(name="residents")
        private = F.chat.type == ChatType.PRIVATE
        router.message.register(self.on_message, private)
        router.callback_query.register(self.on_callback, F.message.chat.type == ChatType.PRIVATE)
        return router

    async def on_message(self, message: Message, event_update: Update) -> None:
        ev = to_incoming(message)
        replies = await self.conversation.handle(ev, event_id=str(event_update.update_id))
        await self.send(message.chat.id, replies)

    async def on_callback(self, query: CallbackQuery, event_update: Update) -> None:
        # Stop the button's spinner first: the answer may take a database round trip.
        await query.answer()
        if query.message is None:
            return
        chat_id = query.message.chat.id
        user = query.from_user
        ev = Incoming(
            channel=CHANNEL,
            user_id=str(chat_id),
            kind=Kind.BUTTON,
            payload=query.data or "",
            name=user.full_name,
            language_hint=(user.language_code or "")[:2],
        )
        replies = await self.conversation.handle(ev, event_id=str(event_update.update_id))
        await self.send(chat_id, replies)

    async def send(self, chat_id: int | str, replies: list[Reply]) -> None:
        for reply in replies:
            await self.send_one(chat_id, reply)

    async def send_one(self, chat_id: int | str, reply: Reply) -> None:
        markup = render_markup(reply)
        if reply.remove_input_keyboard and isinstance(markup, InlineKeyboardMarkup):
            # One message cannot both remove the phone keyboard and carry inline buttons.
            await self._send_text(chat_id, reply.text, ReplyKeyboardRemove())
            await self.bot.send_message(
                chat_id, self.tr.t(reply.lang, "tg.choose"), reply_markup=markup
            )
        else:
            await self._send_text(chat_id, reply.text, markup)
        if reply.latitude is not None and reply.longitude is not None:
            await self.bot.send_location(chat_id, reply.latitude, reply.longitude)

    async def _send_text(self, chat_id: int | str, text: str, markup: Markup) -> None:
        parts = list(split_text(text))
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            await self.bot.send_message(chat_id, part, reply_markup=markup if last else None)
