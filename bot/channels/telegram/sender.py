"""The outbox's way into Telegram: Bot API errors become delivery outcomes."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import FSInputFile, InlineKeyboardMarkup, InputMediaPhoto, Message
from aiohttp import ClientError

from bot.channels.telegram.render import (
    CAPTION_LIMIT,
    MEDIA_GROUP_LIMIT,
    render_markup,
    split_text,
)
from bot.channels.telegram.traffic import load
from bot.channels.telegram.updates import AUDIO_KIND
from bot.delivery import (
    MessageGone,
    PermanentFailure,
    Progress,
    RecipientGone,
    RetryLater,
    TemporaryFailure,
)
from bot.media import MediaStore
from handlers.i18n import Translator
from handlers.types import Reply

# One Bot API call of a message: what it sent (an album is a list of messages).
Part = Callable[[], Awaitable[Message | list[Message]]]
SEND_TIMEOUT_SECONDS = 15
FORUM_TTL_SECONDS = 600.0
TOPIC_NAME_LIMIT = 128  # createForumTopic: "Topic name, 1-128 characters"
log = logging.getLogger(__name__)


def _thread(progress: Progress | None) -> int | None:
    return int(progress.thread) if progress is not None and progress.thread else None


class TelegramSender:
    """Photos are asked of the media store: Telegram file ids pass through, pictures other
    channels kept and files the bot made are uploaded."""

    def __init__(self, bot: Bot, tr: Translator, media: MediaStore | None = None) -> None:
        self.bot = bot
        self.tr = tr
        self.media = media or MediaStore()
        self._forums: dict[str, tuple[bool, float]] = {}

    def load(self) -> int:
        """The bot's messages of the last second, answers to residents included: the outbox
        waits while this is near the limit."""
        return load(self.bot)

    def is_group(self, recipient: str) -> bool:
        return recipient.startswith("-")

    def _photos(self, reply: Reply) -> list[str | FSInputFile]:
        photos: list[str | FSInputFile] = []
        for ref in reply.photos:
            found = self.media.resolve(ref)
            if isinstance(found, Path):
                photos.append(FSInputFile(found))
            elif found is not None:
                photos.append(found)
        return photos

    async def send(self, recipient: str, reply: Reply, progress: Progress | None = None) -> str:
        thread = _thread(progress)
        photos = self._photos(reply)
        markup = render_markup(reply)
        parts: list[Part] = []
        if reply.voice and (voice := self._voice(recipient, reply.voice, thread)) is not None:
            parts.append(voice)
        if len(photos) == 1 and len(reply.text) <= CAPTION_LIMIT:
            parts.append(
                functools.partial(
                    self.bot.send_photo,
                    recipient,
                    photos[0],
                    caption=reply.text,
                    reply_markup=markup,
                    message_thread_id=thread,
                )
            )
        else:
            if photos:
                parts.append(self._album(recipient, photos, thread))
            for piece in split_text(reply.text):
                parts.append(
                    functools.partial(
                        self.bot.send_message,
                        recipient,
                        piece,
                        reply_markup=markup,
                        message_thread_id=thread,
                    )
                )
        return await self._in_parts(parts, progress)

    def _album(self, recipient: str, photos: list[str | FSInputFile], thread: int | None) -> Part:
        if len(photos) == 1:
            return functools.partial(
                self.bot.send_photo, recipient, photos[0], message_thread_id=thread
            )
        return functools.partial(
            self.bot.send_media_group,
            recipient,
            [InputMediaPhoto(media=p) for p in photos[:MEDIA_GROUP_LIMIT]],
            message_thread_id=thread,
        )

    def _voice(self, recipient: str, ref: str, thread: int | None) -> Part | None:
        """A resident's voice message as Telegram plays it: a voice note (OGG/Opus, or one
        recorded in Telegram), else an audio file; a round video note as itself."""
        ref, _, kind = ref.partition(AUDIO_KIND)
        found = self.media.resolve(ref)
        if found is None:
            return None
        media = FSInputFile(found) if isinstance(found, Path) else found
        if isinstance(found, Path):
            kind = "voice" if found.suffix.lower() in (".ogg", ".oga", ".opus") else "audio"
        if kind == "audio":
            return functools.partial(
                self.bot.send_audio, recipient, media, message_thread_id=thread
            )
        if kind == "video_note":
            return functools.partial(
                self.bot.send_video_note, recipient, media, message_thread_id=thread
            )
        return functools.partial(self.bot.send_voice, recipient, media, message_thread_id=thread)

    async def send_card(
        self, recipient: str, reply: Reply, progress: Progress | None = None
    ) -> str:
        thread = _thread(progress)
        photos = self._photos(reply)
        parts: list[Part] = []
        if photos:
            parts.append(self._album(recipient, photos, thread))
        if reply.latitude is not None and reply.longitude is not None:
            parts.append(
                functools.partial(
                    self.bot.send_location,
                    recipient,
                    reply.latitude,
                    reply.longitude,
                    message_thread_id=thread,
                )
            )
        if reply.voice and (voice := self._voice(recipient, reply.voice, thread)) is not None:
            parts.append(voice)
        text = next(iter(split_text(reply.text)), "—")
        parts.append(
            functools.partial(
                self.bot.send_message,
                recipient,
                text,
                reply_markup=render_markup(reply),
                message_thread_id=thread,
            )
        )
        return await self._in_parts(parts, progress)

    # -- forum topics (bot/delivery/topics.py)

    async def is_forum(self, chat: str) -> bool:
        """Whether a group has topics on (getChat, asked again after FORUM_TTL_SECONDS: a
        group switched to topics is noticed without a restart)."""
        now = asyncio.get_running_loop().time()
        known = self._forums.get(chat)
        if known is not None and now - known[1] < FORUM_TTL_SECONDS:
            return known[0]
        async with _delivery_errors():
            info = await self.bot.get_chat(chat, request_timeout=SEND_TIMEOUT_SECONDS)
        forum = bool(info.is_forum)
        self._forums[chat] = (forum, now)
        return forum

    async def open_topic(self, chat: str, name: str) -> str | None:
        """A new topic's thread id; None when the bot may not make one (no can_manage_topics
        right, topics just turned off): the request then lives in the group as before."""
        try:
            async with _delivery_errors():
                topic = await self.bot.create_forum_topic(
                    chat, name[:TOPIC_NAME_LIMIT], request_timeout=SEND_TIMEOUT_SECONDS
                )
        except PermanentFailure as exc:
            log.warning("no topic for %r in %s: %s", name, chat, exc)
            self._forums.pop(chat, None)
            return None
        return str(topic.message_thread_id)

    async def close_topic(self, chat: str, thread: str, *, closed: bool) -> None:
        """Close (or reopen) a topic; one already so is left as it is."""
        method = self.bot.close_forum_topic if closed else self.bot.reopen_forum_topic
        try:
            async with _delivery_errors():
                await method(chat, int(thread), request_timeout=SEND_TIMEOUT_SECONDS)
        except PermanentFailure as exc:
            # TOPIC_NOT_MODIFIED: someone closed or reopened it by hand; or the topic is gone.
            log.info("topic %s in %s left as it is: %s", thread, chat, exc)

    async def _in_parts(self, parts: list[Part], progress: Progress | None) -> str:
        """Each Bot API call of one message in turn, each in its own slot of the rate limits
        and within the send timeout; those already delivered by an earlier attempt are not
        made again. The id returned is that of the last message (the one with the buttons)."""
        progress = progress or Progress()
        async with _delivery_errors():
            for i, part in enumerate(parts):
                if i < progress.done:
                    continue
                await progress.slot()
                async with asyncio.timeout(progress.timeout):
                    sent = await part()
                progress.done = i + 1
                last = sent[-1] if isinstance(sent, list) else sent
                progress.last_id = str(last.message_id)
        return progress.last_id

    async def edit(self, recipient: str, message_id: str, reply: Reply) -> None:
        markup = render_markup(reply)
        async with _delivery_errors():
            try:
                await self.bot.edit_message_text(
                    text=next(iter(split_text(reply.text)), "—"),
                    chat_id=recipient,
                    message_id=int(message_id),
                    reply_markup=markup if isinstance(markup, InlineKeyboardMarkup) else None,
                    request_timeout=SEND_TIMEOUT_SECONDS,
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
