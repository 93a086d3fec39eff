"""The aiogram ``Bot`` the channel and its sender share."""

from __future__ import annotations

import inspect

import aiogram.methods
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.methods.base import Response, TelegramMethod
from aiogram.types import LinkPreviewOptions

from bot.channels.telegram.json_session import JsonSession
from bot.channels.telegram.traffic import Traffic

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
    session.middleware(Traffic.of(session))
    return Bot(
        token,
        session=session,
        default=DefaultBotProperties(
            parse_mode=ParseMode.HTML,
            link_preview=LinkPreviewOptions(is_disabled=True),
        ),
    )
