"""The Telegram channel (aiogram 3): updates → ``Incoming``, ``Reply`` → Bot API calls."""

from __future__ import annotations

import functools
import html
import inspect
import logging
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, suppress
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiogram.methods
from aiogram import Bot, Dispatcher, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ChatType, ParseMode
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import AnswerCallbackQuery, SendMessage
from aiogram.methods.base import Response, TelegramMethod
from aiogram.types import (
    CallbackQuery,
    ForceReply,
    FSInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    KeyboardButton,
    LinkPreviewOptions,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    ReplyParameters,
    Update,
    User,
)
from aiohttp import ClientError

from bot.channels.telegram_commands import forget_commands, register_commands
from bot.channels.telegram_json import JsonSession
from bot.channels.text import split_text as text_split
from bot.delivery import (
    MessageGone,
    PermanentFailure,
    RecipientGone,
    RetryLater,
    TemporaryFailure,
)
from handlers.desk.engine import StaffDesk
from handlers.dialog.conversation import Conversation
from handlers.i18n import Translator
from handlers.types import ButtonKind, Incoming, Keyboard, Kind, Reply

log = logging.getLogger(__name__)

CHANNEL = "telegram"
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
MEDIA_GROUP_LIMIT = 10
CALLBACK_DATA_LIMIT = 64

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | None


# aiogram reads every Bot API answer through ``Response[<result type>]``, a generic pydantic
# model made on demand. pydantic caches such models only weakly, so the garbage collector drops
# them and the next call builds the model again: ~4 ms of CPU, many times a second under load
# (seen in py-spy profiles of the bench). Holding one of each for the life of the process makes
# every later answer a cache hit; building them all takes ~50 ms once.
_RESPONSE_MODELS: list[type] = []


def pin_response_models() -> None:
    if _RESPONSE_MODELS:
        return
    for _, method in inspect.getmembers(aiogram.methods, inspect.isclass):
        if issubclass(method, TelegramMethod) and method is not TelegramMethod:
            _RESPONSE_MODELS.append(Response[method.__returning__])  # type: ignore[name-defined]


def make_bot(token: str, api_base: str) -> Bot:
    pin_response_models()
    session = JsonSession(api=TelegramAPIServer.from_base(api_base))
    return Bot(
        token,
        session=session,
        default=DefaultBotProperties(
            parse_mode=ParseMode.HTML,
            link_preview=LinkPreviewOptions(is_disabled=True),
        ),
    )


def split_text(text: str, limit: int = TEXT_LIMIT) -> Iterator[str]:
    return text_split(text, limit)


ButtonRows = tuple[tuple[tuple[str, str, ButtonKind], ...], ...]


def render_markup(reply: Reply) -> Markup:
    if not reply.buttons:
        return ReplyKeyboardRemove() if reply.remove_input_keyboard else None
    rows = tuple(tuple((b.label, b.payload, b.kind) for b in row) for row in reply.buttons)
    return _markup(reply.keyboard, rows)


# The same menus and steps are shown over and over: their markup (pydantic models) is built once.
@functools.lru_cache(maxsize=2048)
def _markup(keyboard: Keyboard, rows: ButtonRows) -> Markup:
    if keyboard is Keyboard.INPUT:
        return ReplyKeyboardMarkup(
            keyboard=[
                [
                    KeyboardButton(
                        text=label,
                        request_location=kind is ButtonKind.REQUEST_LOCATION or None,
                        request_contact=kind is ButtonKind.REQUEST_CONTACT or None,
                    )
                    for label, _, kind in row
                ]
                for row in rows
            ],
            resize_keyboard=True,
        )
    for row in rows:
        for _, payload, _ in row:
            if len(payload.encode()) > CALLBACK_DATA_LIMIT:
                raise ValueError(f"callback_data over 64 bytes: {payload!r}")
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=label, callback_data=payload) for label, payload, _ in row]
            for row in rows
        ]
    )


def coalesce(replies: list[Reply]) -> list[Reply]:
    """A step's short texts without buttons joined to the message that follows them: one chat
    message instead of several (fewer notifications for the resident, fewer Bot API calls)."""
    out: list[Reply] = []
    for reply in replies:
        prev = out[-1] if out else None
        if (
            prev is not None
            and not (prev.buttons or prev.photos or prev.document or prev.force_reply)
            and prev.latitude is None
            and reply.document is None
            and not reply.photos
            and len(prev.text) + 2 + len(reply.text) <= TEXT_LIMIT
        ):
            out[-1] = replace(
                reply,
                text=f"{prev.text}\n\n{reply.text}",
                remove_input_keyboard=prev.remove_input_keyboard or reply.remove_input_keyboard,
            )
        else:
            out.append(reply)
    return out


def to_incoming(message: Message) -> Incoming:
    user = message.from_user
    base: dict[str, Any] = {
        "channel": CHANNEL,
        "user_id": str(message.chat.id),
        "name": user.full_name if user else "",
        "language_hint": (user.language_code or "")[:2] if user else "",
    }
    if message.text is not None:
        text = message.text
        if text.startswith("/") and len(text) > 1:
            head, _, rest = text.partition(" ")
            command = head[1:].split("@", 1)[0].lower()
            return Incoming(kind=Kind.COMMAND, command=command, text=rest.strip(), **base)
        return Incoming(kind=Kind.TEXT, text=text, **base)
    if message.photo:
        photo = message.photo[-1].file_id
        return Incoming(kind=Kind.PHOTO, photo=photo, text=message.caption or "", **base)
    doc = message.document
    if doc is not None and (doc.mime_type or "").startswith("image/"):
        return Incoming(kind=Kind.PHOTO, photo=doc.file_id, text=message.caption or "", **base)
    if message.location is not None:
        loc = message.location
        return Incoming(kind=Kind.LOCATION, latitude=loc.latitude, longitude=loc.longitude, **base)
    if message.contact is not None:
        own = user is not None and message.contact.user_id == user.id
        phone = message.contact.phone_number
        return Incoming(kind=Kind.CONTACT, phone=phone, contact_is_own=own, **base)
    return Incoming(kind=Kind.OTHER, text=message.caption or "", **base)


def _addressed(reply: Reply, user: User) -> Reply:
    """In a group a selective forced reply opens only for the people its message mentions (a
    pressed button has no message to reply to), so the prompt names who pressed it."""
    mention = f'<a href="tg://user?id={user.id}">{html.escape(user.full_name, quote=False)}</a>'
    return replace(reply, text=f"{mention}, {reply.text}")


class TelegramChannel:
    """Residents talk to the conversation core in private chats; staff use the desk in private
    chats and in their department's group, where residents' dialogs never run."""

    def __init__(
        self,
        bot: Bot,
        conversation: Conversation,
        tr: Translator,
        desk: StaffDesk | None = None,
    ) -> None:
        self.bot = bot
        self.conversation = conversation
        self.tr = tr
        self.desk = desk
        if desk is not None:
            desk.on_staff_change = self._staff_changed
        # No aiogram FSM: the conversation keeps its own state in the database.
        self.dispatcher = Dispatcher(disable_fsm=True)
        self.dispatcher.include_router(self._router())

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
        if self.desk is not None and message.from_user is not None:
            staff_ev = replace(
                ev,
                user_id=str(message.from_user.id),
                chat_id=str(message.chat.id),
                group=not private,
            )
            answer = await self.desk.handle(staff_ev)
            if answer is not None:
                await self.send(message.chat.id, answer, reply_to=message.message_id)
                return None
        if not private:
            return None
        replies = await self.conversation.handle(ev, event_id=str(event_update.update_id))
        return await self.send(message.chat.id, coalesce(replies), answer_last=True)

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
        if self.desk is not None and ev.payload.startswith("s:"):
            staff_ev = replace(
                ev, user_id=str(user.id), chat_id=str(chat.id), group=chat.type != ChatType.PRIVATE
            )
            answer = await self.desk.handle(staff_ev) or []
            if staff_ev.group:
                answer = [_addressed(r, user) if r.force_reply else r for r in answer]
            await self.send(chat.id, answer)
            return spinner
        if chat.type != ChatType.PRIVATE:
            return spinner
        replies = await self.conversation.handle(ev, event_id=str(event_update.update_id))
        await self.send(chat.id, coalesce(replies))
        return spinner

    async def send(
        self,
        chat_id: int | str,
        replies: list[Reply],
        reply_to: int | None = None,
        *,
        answer_last: bool = False,
    ) -> SendMessage | None:
        """Send the replies in order. With ``answer_last`` the last message, when it is plain
        text, is returned instead of sent: the handler hands it to aiogram, which puts it in
        the webhook's HTTP response (one Bot API call fewer per step) or, when polling, sends
        it itself."""
        last: SendMessage | None = None
        for i, reply in enumerate(replies):
            last = await self.send_one(
                chat_id, reply, reply_to, answer=answer_last and i == len(replies) - 1
            )
        return last

    async def send_one(
        self,
        chat_id: int | str,
        reply: Reply,
        reply_to: int | None = None,
        *,
        answer: bool = False,
    ) -> SendMessage | None:
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
                )
            finally:
                with suppress(FileNotFoundError):
                    os.remove(doc.path)
        else:
            return await self._send_text(chat_id, reply.text, markup, reply_to, answer=answer)
        if reply.latitude is not None and reply.longitude is not None:
            await self.bot.send_location(chat_id, reply.latitude, reply.longitude)
        return None

    async def _send_text(
        self,
        chat_id: int | str,
        text: str,
        markup: Markup | ForceReply,
        reply_to: int | None = None,
        *,
        answer: bool = False,
    ) -> SendMessage | None:
        parts = list(split_text(text))
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            method = SendMessage(
                chat_id=chat_id,
                text=part,
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


class TelegramSender:
    """The outbox's way into Telegram: Bot API errors become delivery outcomes."""

    def __init__(self, bot: Bot, tr: Translator, media_dir: str = "data/media") -> None:
        self.bot = bot
        self.tr = tr
        self.media_dir = media_dir

    def is_group(self, recipient: str) -> bool:
        return recipient.startswith("-")

    def _media(self, ref: str) -> str | FSInputFile | None:
        """Telegram file ids pass through; other channels' photos are uploaded from disk."""
        if ref.startswith("viber:"):
            path = Path(self.media_dir) / ref.removeprefix("viber:")
            return FSInputFile(path) if path.is_file() else None
        if ref.startswith("file:"):  # a file the bot made, e.g. the digest's chart
            return FSInputFile(ref[5:]) if Path(ref[5:]).is_file() else None
        if ":" in ref.split("/", 1)[0] and not ref.startswith("http"):
            return None  # a test or terminal reference: nothing Telegram can show
        return ref

    async def send(self, recipient: str, reply: Reply) -> str:
        async with _delivery_errors():
            photos = [m for m in (self._media(r) for r in reply.photos) if m is not None]
            markup = render_markup(reply)
            if len(photos) == 1 and len(reply.text) <= CAPTION_LIMIT:
                msg = await self.bot.send_photo(
                    recipient, photos[0], caption=reply.text, reply_markup=markup
                )
                return str(msg.message_id)
            if photos:
                await self._album(recipient, photos)
            message_id = ""
            for part in split_text(reply.text):
                msg = await self.bot.send_message(recipient, part, reply_markup=markup)
                message_id = str(msg.message_id)
            return message_id

    async def _album(self, recipient: str, photos: list[str | FSInputFile]) -> None:
        if len(photos) == 1:
            await self.bot.send_photo(recipient, photos[0])
            return
        await self.bot.send_media_group(
            recipient, [InputMediaPhoto(media=p) for p in photos[:MEDIA_GROUP_LIMIT]]
        )

    async def send_card(self, recipient: str, reply: Reply) -> str:
        async with _delivery_errors():
            photos = [m for m in (self._media(r) for r in reply.photos) if m is not None]
            if photos:
                await self._album(recipient, photos)
            if reply.latitude is not None and reply.longitude is not None:
                await self.bot.send_location(recipient, reply.latitude, reply.longitude)
            text = next(iter(split_text(reply.text)), "—")
            msg = await self.bot.send_message(recipient, text, reply_markup=render_markup(reply))
            return str(msg.message_id)

    async def edit(self, recipient: str, message_id: str, reply: Reply) -> None:
        markup = render_markup(reply)
        async with _delivery_errors():
            try:
                await self.bot.edit_message_text(
                    text=next(iter(split_text(reply.text)), "—"),
                    chat_id=recipient,
                    message_id=int(message_id),
                    reply_markup=markup if isinstance(markup, InlineKeyboardMarkup) else None,
                )
            except TelegramBadRequest as exc:
                if "not modified" in exc.message:
                    return
                if "not found" in exc.message or "can't be edited" in exc.message:
                    raise MessageGone(exc.message) from exc
                raise


@asynccontextmanager
async def _delivery_errors() -> AsyncIterator[None]:
    try:
        yield
    except TelegramRetryAfter as exc:
        raise RetryLater(float(exc.retry_after)) from exc
    except TelegramForbiddenError as exc:
        raise RecipientGone(exc.message) from exc
    except TelegramBadRequest as exc:
        if "chat not found" in exc.message:
            raise RecipientGone(exc.message) from exc
        raise PermanentFailure(exc.message) from exc
    except (TelegramServerError, TelegramNetworkError, TimeoutError, ClientError) as exc:
        raise TemporaryFailure(str(exc) or type(exc).__name__) from exc
    except TelegramAPIError as exc:
        raise TemporaryFailure(exc.message) from exc
