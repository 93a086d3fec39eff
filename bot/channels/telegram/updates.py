"""Telegram updates in the core's vocabulary."""

from __future__ import annotations

import html
from dataclasses import replace
from typing import Any

from aiogram.types import Message, User

from handlers.types import Incoming, Kind, Reply

CHANNEL = "telegram"
# A Telegram audio reference that is not a voice note says what it is after this mark.
AUDIO_KIND = "#"


def to_incoming(message: Message) -> Incoming:
    user = message.from_user
    base: dict[str, Any] = {
        "channel": CHANNEL,
        "user_id": str(message.chat.id),
        "name": user.full_name if user else "",
        "language_hint": (user.language_code or "")[:2] if user else "",
        "reply_to": str(message.reply_to_message.message_id) if message.reply_to_message else "",
        "album": message.media_group_id or "",
        "thread": topic_of(message),
    }
    if message.text is not None:
        return _command(message.text, base) or Incoming(kind=Kind.TEXT, text=message.text, **base)
    photo = ""
    if message.photo:
        photo = message.photo[-1].file_id
    elif message.document is not None and (message.document.mime_type or "").startswith("image/"):
        photo = message.document.file_id
    if photo:
        # A command as a photo's caption ("/resolve 2026-000123 Replaced") carries the photo.
        caption = message.caption or ""
        return _command(caption, {**base, "photo": photo}) or Incoming(
            kind=Kind.PHOTO, photo=photo, text=caption, **base
        )
    audio = message.voice or message.audio or message.video_note
    if audio is not None:
        ref, seconds = audio.file_id, int(audio.duration or 0)
        if message.voice is None:  # sent back as what it is (bot/channels/telegram/sender.py)
            ref += AUDIO_KIND + ("audio" if message.audio is not None else "video_note")
        return Incoming(
            kind=Kind.VOICE, voice=ref, duration=seconds, text=message.caption or "", **base
        )
    if message.location is not None:
        loc = message.location
        return Incoming(kind=Kind.LOCATION, latitude=loc.latitude, longitude=loc.longitude, **base)
    if message.contact is not None:
        own = user is not None and message.contact.user_id == user.id
        phone = message.contact.phone_number
        return Incoming(kind=Kind.CONTACT, phone=phone, contact_is_own=own, **base)
    return Incoming(kind=Kind.OTHER, text=message.caption or "", **base)


def topic_of(message: Message | None) -> str:
    """The forum topic a message is in ("" outside topics: a forum's General, other chats)."""
    if message is None or not message.is_topic_message or message.message_thread_id is None:
        return ""
    return str(message.message_thread_id)


def _command(text: str, base: dict[str, Any]) -> Incoming | None:
    if not (text.startswith("/") and len(text) > 1):
        return None
    head, _, rest = text.partition(" ")
    command = head[1:].split("@", 1)[0].lower()
    return Incoming(kind=Kind.COMMAND, command=command, text=rest.strip(), **base)


def addressed(reply: Reply, user: User) -> Reply:
    """In a group a selective forced reply opens only for the people its message mentions (a
    pressed button has no message to reply to), so the prompt names who pressed it."""
    mention = f'<a href="tg://user?id={user.id}">{html.escape(user.full_name, quote=False)}</a>'
    return replace(reply, text=f"{mention}, {reply.text}")
