"""Who is staff, in memory: every resident's message passes the desk first, and this list
lets it pass without a database query."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

# How long the in-memory list of staff ids is trusted before it is read again, so that staff
# added or removed by another process are seen (see StaffIds).
STAFF_IDS_TTL = 30.0


class StaffIds:
    """The Telegram ids of staff, in memory, so that a resident's message (the desk sees every
    one first) costs no database work. Only a pre-filter: a desk command or button, and any
    event from an id in here, is still checked against the database. Changes made by this
    process are applied at once (``mark``); the whole list is read again after ``ttl``
    seconds, so another process's changes show within that."""

    def __init__(self, ttl: float = STAFF_IDS_TTL) -> None:
        self.ttl = ttl
        self.ids: set[int] = set()
        self.loaded_at: float | None = None
        self._lock = asyncio.Lock()
        self._marked: dict[int, bool] | None = None  # marks made while a load runs

    def stale(self) -> bool:
        return self.loaded_at is None or time.monotonic() - self.loaded_at >= self.ttl

    def mark(self, telegram_id: int, is_staff: bool) -> None:
        if self._marked is not None:
            self._marked[telegram_id] = is_staff
        if is_staff:
            self.ids.add(telegram_id)
        else:
            self.ids.discard(telegram_id)

    async def refresh(self, load: Callable[[], Awaitable[set[int]]]) -> None:
        async with self._lock:
            if not self.stale():
                return  # another event refreshed it while this one waited
            self._marked = {}
            try:
                ids = await load()
            finally:
                marked, self._marked = self._marked, None
            # What was learnt while the list was being read is at least as new as the list.
            for telegram_id, is_staff in marked.items():
                if is_staff:
                    ids.add(telegram_id)
                else:
                    ids.discard(telegram_id)
            self.ids, self.loaded_at = ids, time.monotonic()
