"""The aiogram ``Bot`` the channel and its sender share."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
import weakref
from collections.abc import Iterator
from contextvars import ContextVar

import aiogram.methods
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods.base import Response, TelegramMethod, TelegramType
from aiogram.types import LinkPreviewOptions

from bot.channels.telegram.json_session import JsonSession

log = logging.getLogger(__name__)

# The longest a resident's answer waits out Telegram's 429s in all, before it is given up (and
# logged): a webhook call is still answered well within Telegram's patience.
ANSWER_RETRY_SECONDS = 20.0
_answering: ContextVar[bool] = ContextVar("answering", default=False)
# After a 429 the bot answers by calls of its own for a while, instead of in the webhook's HTTP
# response: a method in that response that Telegram throttles is dropped without a word (the
# Bot API reports nothing of it), while a call of our own can wait the 429 out.
THROTTLED_WINDOW_SECONDS = 60.0


def throttled_recently(bot: Bot) -> bool:
    watch = _watches.get(bot.session)
    return watch is not None and time.monotonic() - watch.throttled_at < THROTTLED_WINDOW_SECONDS


@contextlib.contextmanager
def answering() -> Iterator[None]:
    """Calls made in here are a direct answer to someone's message: a 429 is waited out."""
    token = _answering.set(True)
    try:
        yield
    finally:
        _answering.reset(token)


_watches: weakref.WeakKeyDictionary[object, WaitOutRetryAfter] = weakref.WeakKeyDictionary()


class WaitOutRetryAfter(BaseRequestMiddleware):
    """A 429 on a direct answer is waited out and the call made again, within
    ANSWER_RETRY_SECONDS; the step the resident took is committed either way, and now they see
    its answer too. The outbox's sends are left alone: the delivery worker reschedules those
    and slows the whole outbox down (bot/delivery), which waiting here would hide from it."""

    def __init__(self) -> None:
        self.throttled_at = -THROTTLED_WINDOW_SECONDS  # the last 429 on any call of this bot

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        budget = ANSWER_RETRY_SECONDS
        while True:
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                self.throttled_at = time.monotonic()
                if not _answering.get() or exc.retry_after > budget:
                    raise
                budget -= exc.retry_after
                log.info("answer throttled by Telegram: retried in %ss", exc.retry_after)
                await asyncio.sleep(exc.retry_after)


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
    watch = WaitOutRetryAfter()
    session.middleware(watch)
    _watches[session] = watch
    return Bot(
        token,
        session=session,
        default=DefaultBotProperties(
            parse_mode=ParseMode.HTML,
            link_preview=LinkPreviewOptions(is_disabled=True),
        ),
    )
