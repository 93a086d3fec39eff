"""What goes through one bot's session to Telegram: how many messages it sent in the last
second, its last 429, and the 429s on residents' answers, waited out.

Telegram counts every message of a bot, the outbox's and the direct answers to residents'
steps alike (30 a second). The answers are not queued, so the outbox makes room for them: it
reads ``load`` (what the bot sent in the last second) before each of its sends
(bot/delivery/pace.py) and waits while that is near the limit. Answers go first; the outbox
takes what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections import deque
from collections.abc import Iterator
from contextvars import ContextVar

from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods.base import Response, TelegramMethod, TelegramType

log = logging.getLogger(__name__)

# The longest a resident's answer waits out Telegram's 429s in all, before it is given up (and
# logged): a webhook call is still answered well within Telegram's patience.
ANSWER_RETRY_SECONDS = 20.0
# After a 429, or while the bot sends this many messages a second, answers are sent as calls
# of the bot's own instead of in the webhook's HTTP response: a method in that response that
# Telegram throttles is dropped without a word (the Bot API reports nothing of it), and it is
# not counted here, while a call of our own is counted and can wait a 429 out.
THROTTLED_WINDOW_SECONDS = 60.0
BUSY_SENDS_PER_SECOND = 10
_SENDING = ("send", "copy", "forward")

_answering: ContextVar[bool] = ContextVar("answering", default=False)
_traffic: weakref.WeakKeyDictionary[BaseSession, Traffic] = weakref.WeakKeyDictionary()


@contextlib.contextmanager
def answering() -> Iterator[None]:
    """Calls made in here are a direct answer to a resident's step: a 429 is waited out."""
    token = _answering.set(True)
    try:
        yield
    finally:
        _answering.reset(token)


def busy(bot: Bot) -> bool:
    traffic = _traffic.get(bot.session)
    if traffic is None:
        return False
    recently = time.monotonic() - traffic.throttled_at < THROTTLED_WINDOW_SECONDS
    return recently or traffic.load() >= BUSY_SENDS_PER_SECOND


def load(bot: Bot) -> int:
    traffic = _traffic.get(bot.session)
    return traffic.load() if traffic is not None else 0


class Traffic(BaseRequestMiddleware):
    """The session middleware that counts and waits (see the module's docstring). A 429 on an
    outbox send is left to the delivery worker, which reschedules it and slows the whole outbox
    down; waiting here would hide it from the worker."""

    def __init__(self) -> None:
        self.throttled_at = -THROTTLED_WINDOW_SECONDS
        self._sent: deque[float] = deque()

    @classmethod
    def of(cls, session: BaseSession) -> Traffic:
        traffic = _traffic.get(session)
        if traffic is None:
            traffic = _traffic[session] = cls()
        return traffic

    def load(self) -> int:
        """Messages sent in the last second (older stamps dropped)."""
        since = time.monotonic() - 1.0
        while self._sent and self._sent[0] <= since:
            self._sent.popleft()
        return len(self._sent)

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        sending = method.__api_method__.startswith(_SENDING)
        budget = ANSWER_RETRY_SECONDS
        while True:
            if sending:
                self._sent.append(time.monotonic())
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                self.throttled_at = time.monotonic()
                if not _answering.get() or exc.retry_after > budget:
                    raise
                budget -= exc.retry_after
                log.info("answer throttled by Telegram: retried in %ss", exc.retry_after)
                await asyncio.sleep(exc.retry_after)
