"""The city's monthly cap on the messages Viber bills (those the bot starts outside the 24
hours a resident's own message opens).

Over the cap only what closes a request or needs the resident goes out; the rest waits, as
``waiting``, for the resident's next message, after which it is sent inside their session,
free. Viber counts its free allowance by the calendar month in UTC, so the cap does too."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models.domain.base import as_utc
from models.domain.outbox import OutboxMessage
from models.domain.residents import last_heard
from models.storage.outbox_report import billing_month, viber_usage

# A status change a resident must hear of whatever it costs: their request is closed one way
# or another, or the department cannot go on without them.
MUST_GO_STATUSES = frozenset({"resolved", "rejected", "closed", "cancelled", "needs_info"})
# A duplicate closed into another request; the photos of a fix, which go with the resolution.
MUST_GO_EVENTS = frozenset({"merged", "proof"})
WAITING_NOTE = "waits for the resident's next message: over the month's cap of billed messages"


def must_go(body: dict[str, Any]) -> bool:
    event = body.get("event")
    if event == "status":
        return body.get("status") in MUST_GO_STATUSES
    return event in MUST_GO_EVENTS


class BilledCap:
    """This month's billed messages against ``cap`` (0: no cap). The count is read from the
    outbox again every ``REFRESH`` seconds, since other workers send too, and counted on in
    memory between reads."""

    REFRESH = 30.0

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        cap: int,
        clock: Callable[[], datetime],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sessions = sessions
        self.cap = cap
        self.clock = clock
        self.monotonic = monotonic
        self._month: datetime | None = None
        self._count = 0
        self._read_at = float("-inf")

    async def bot_initiated(self, sender: object, item: OutboxMessage) -> bool | None:
        """For a messenger that bills messages sent outside a session the resident's own
        message opens (Viber: 24 hours): whether this one is such a message."""
        window: timedelta | None = getattr(sender, "session_window", None)
        if window is None:
            return None
        async with self.sessions() as session:
            heard = await last_heard(session, item.channel, item.recipient)
        return heard is None or as_utc(heard) < self.clock() - window

    async def holds(self, body: dict[str, Any]) -> bool:
        """Whether a message the bot would start must wait for the resident instead."""
        if self.cap <= 0 or must_go(body):
            return False
        return await self.count() >= self.cap

    async def count(self) -> int:
        month = billing_month(self.clock())
        if month != self._month or self.monotonic() - self._read_at > self.REFRESH:
            async with self.sessions() as session:
                self._count = (await viber_usage(session, month)).billed
            self._month, self._read_at = month, self.monotonic()
        return self._count

    def sent(self) -> None:
        self._count += 1
