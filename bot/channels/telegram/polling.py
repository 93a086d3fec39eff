"""Polling that confirms an update to Telegram only once it has been handled.

aiogram's ``start_polling`` (handle_as_tasks=True, its default) moves the offset as soon as an
update is handed to a task: the next getUpdates confirms it to Telegram while the handler may
still be running, so a process killed then loses it for good (a staff /resolve never done).
Here a batch is handled to the end, each update's effect committed (with its update_id, so a
repeat is a no-op), before the next getUpdates carries the offset that confirms it. A crash
means the batch comes again and what was already done is recognised: every update is acted on
once.

One person's updates are handled in the order they came; different chats' side by side.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Sequence

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramAPIError, TelegramRetryAfter
from aiogram.methods import TelegramMethod
from aiogram.types import Update
from aiohttp import ClientError

from bot.channels.telegram.traffic import answering

log = logging.getLogger(__name__)

LONG_POLL_SECONDS = 25
BATCH = 100
BACKOFF_MAX_SECONDS = 30.0


def chat_of(update: Update) -> int | str:
    """What orders updates: the chat they were written in (or the update on its own)."""
    if update.message is not None:
        return update.message.chat.id
    query = update.callback_query
    if query is not None and query.message is not None:
        return query.message.chat.id
    return f"update-{update.update_id}"


class Poller:
    def __init__(
        self,
        bot: Bot,
        dispatcher: Dispatcher,
        allowed_updates: list[str],
        *,
        long_poll: int = LONG_POLL_SECONDS,
    ) -> None:
        self.bot = bot
        self.dispatcher = dispatcher
        self.allowed_updates = allowed_updates
        self.long_poll = long_poll
        self.offset: int | None = None

    async def run(self, stop: asyncio.Event) -> None:
        failures = 0
        while not stop.is_set():
            try:
                updates = await self._next_batch(stop)
            except TelegramRetryAfter as exc:
                log.warning("getUpdates: flood control, waiting %ss", exc.retry_after)
                await _sleep_unless(stop, float(exc.retry_after))
                continue
            except (TelegramAPIError, ClientError, TimeoutError) as exc:
                failures += 1
                wait = min(BACKOFF_MAX_SECONDS, 0.5 * 2**failures) * random.uniform(0.8, 1.2)
                log.warning("getUpdates failed (%s); again in %.1fs", exc, wait)
                await _sleep_unless(stop, wait)
                continue
            failures = 0
            if updates is None:
                break  # stopped while waiting
            if updates:
                await self.handle_batch(updates)
                self.offset = updates[-1].update_id + 1
        await self._confirm()

    async def _next_batch(self, stop: asyncio.Event) -> list[Update] | None:
        get = asyncio.ensure_future(
            self.bot.get_updates(
                offset=self.offset,
                limit=BATCH,
                timeout=self.long_poll,
                allowed_updates=self.allowed_updates,
                # The HTTP request outlives the long poll it carries.
                request_timeout=int(self.bot.session.timeout + self.long_poll),
            )
        )
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({get, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
        if not get.done():
            # What this long poll would return is not confirmed: it comes again after restart.
            get.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await get
            return None
        return list(get.result())

    async def handle_batch(self, updates: Sequence[Update]) -> None:
        by_chat: dict[int | str, list[Update]] = {}
        for update in updates:
            by_chat.setdefault(chat_of(update), []).append(update)
        await asyncio.gather(*(self._in_order(chat) for chat in by_chat.values()))

    async def _in_order(self, updates: list[Update]) -> None:
        for update in updates:
            try:
                answer = await self.dispatcher.feed_update(self.bot, update)
                # A handler's returned method (the last reply, a callback's answer) goes out the
                # way aiogram's own polling sends it.
                if isinstance(answer, TelegramMethod):
                    with answering():  # a 429 on it is waited out, as on every answer
                        await self.dispatcher.silent_call_request(self.bot, answer)
            except Exception:
                # Handlers answer failures themselves; this is a bug, and an update that
                # fails for good must not hold back every later one.
                log.exception("update %s failed", update.update_id)

    async def _confirm(self) -> None:
        """On the way out, tell Telegram what was handled, taking nothing new."""
        if self.offset is None:
            return
        with contextlib.suppress(TelegramAPIError, ClientError, TimeoutError):
            await self.bot.get_updates(offset=self.offset, limit=1, timeout=0)


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
