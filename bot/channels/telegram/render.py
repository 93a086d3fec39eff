"""The core's replies in Telegram's terms: keyboards, message length, joined short texts."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import replace

from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from bot.channels.text import split_html
from handlers.types import ButtonKind, Keyboard, Reply

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
MEDIA_GROUP_LIMIT = 10
CALLBACK_DATA_LIMIT = 64

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | None


def split_text(text: str, limit: int = TEXT_LIMIT) -> Iterator[str]:
    """The bot's HTML in messages Telegram accepts: measured as Telegram measures, never cut
    through a tag or an entity."""
    return split_html(text, limit)


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
