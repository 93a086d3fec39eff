"""The fake Bot API server of the tests, taught to tell the bench when a chat got its answer.

``FakeTelegramServer._record`` sees every call once, after it was processed; the subclass
counts the messages put into each chat there and wakes the one waiter of that chat, so
detecting an answer costs O(1) per call instead of scanning ``calls``.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from typing import Any

from tests.fakes.telegram_server import _SENDING, Call, FakeTelegramServer, UploadedFile, _Method


class BenchServer(FakeTelegramServer):
    def __init__(self, *, keep_calls: bool = True) -> None:
        super().__init__()
        # Every call is kept by default (startup waits look for setWebhook/getUpdates); a long
        # run may drop the sending calls to keep the bench process's memory flat.
        self.keep_calls = keep_calls
        self.sent: defaultdict[int, int] = defaultdict(int)  # messages put into each chat
        self.last_bot_message: dict[int, int] = {}  # message_id of the bot's latest message
        self.first_sent_at: float | None = None
        self.last_sent_at: float | None = None
        self.sending_ok = 0
        self._waiters: dict[int, tuple[int, asyncio.Future[float]]] = {}
        # Calls by lower-case method name as they arrive; ``stats`` counts them only once
        # answered, which for a long poll (getUpdates) is up to its timeout later.
        self.arrived: defaultdict[str, int] = defaultdict(int)

    async def _process(
        self, call: Call, spec: _Method | None, parts: dict[str, UploadedFile]
    ) -> None:
        self.arrived[call.method.lower()] += 1
        await super()._process(call, spec, parts)

    def _record(self, call: Call) -> None:
        sending = call.method in _SENDING
        if self.keep_calls or not sending:
            super()._record(call)
        else:  # the same bookkeeping, without keeping the call
            stats = self.stats
            stats.requests += 1
            stats.by_method[call.method] += 1
            stats.by_status[call.status] += 1
            if call.status == 200:
                stats.accepted += 1
            elif call.status == 429:
                stats.http_429 += 1
        if not (sending and call.status == 200):
            return
        chat = call.params.get("chat_id")
        if not isinstance(chat, int):
            return
        now = time.monotonic()
        if self.first_sent_at is None:
            self.first_sent_at = now
        self.last_sent_at = now
        self.sending_ok += 1
        count = self.sent[chat] = self.sent[chat] + 1
        result: Any = call.response.get("result")
        if isinstance(result, dict) and isinstance(result.get("message_id"), int):
            self.last_bot_message[chat] = result["message_id"]
        waiter = self._waiters.get(chat)
        if waiter is not None and count >= waiter[0]:
            del self._waiters[chat]
            if not waiter[1].done():
                waiter[1].set_result(now)

    def expect(self, chat: int, total: int) -> asyncio.Future[float]:
        """A future that gets the monotonic time at which ``chat`` has received ``total``
        messages in all (at once if it already has)."""
        fut: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        if self.sent[chat] >= total:
            fut.set_result(time.monotonic())
        else:
            self._waiters[chat] = (total, fut)
        return fut

    def prepare(self, update: dict[str, Any]) -> dict[str, Any]:
        """Give an update its update_id and let the fake remember what it shows (the callback
        query id the bot will answer), as ``deliver_webhook`` does before posting it."""
        return self._prepare_update(update)

    def press(self, user: int, data: str) -> dict[str, Any]:
        """A press on a button of the bot's latest message, without the fake's scan of every
        stored message to find it (``callback_update`` without ``message_id`` is O(messages))."""
        return self.callback_update(user, data, message_id=self.last_bot_message.get(user, 1))

    def saw(self, method: str) -> bool:
        """Whether the bot has called ``method`` (answered or still waiting)."""
        return self.arrived.get(method.lower(), 0) > 0
