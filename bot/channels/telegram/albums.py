"""One answer for an album a resident sends.

Telegram delivers an album as one message per photo, a few milliseconds apart. Each photo
goes to the conversation core at once (so each is kept, in order), but the answer waits until
the album has been quiet for ``QUIET`` seconds and only the last photo's answer goes ("3 photos
added"), instead of one answer per photo. With several workers an album's photos may be handled
by different ones: each asks the database (``latest``) whether its photo was the album's last
handled, and only that worker answers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from handlers.types import Reply

QUIET = 0.8  # seconds without another photo of the album: it is complete

Key = tuple[int, str]  # (chat, album)
# The event id of the album's photo the database says was handled last (any worker's).
Latest = Callable[[int, str], Awaitable[str]]


class AlbumAnswers:
    def __init__(
        self, send: Callable[[int, list[Reply]], Awaitable[object]], latest: Latest | None = None
    ) -> None:
        self.send = send
        self.latest = latest
        self._latest: dict[Key, tuple[int, list[Reply], str]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def hold(self, chat_id: int, album: str, replies: list[Reply], event_id: str = "") -> None:
        """The answer to one photo of ``album``: it replaces the one held before."""
        key = (chat_id, album)
        generation = self._latest.get(key, (0, [], ""))[0] + 1
        self._latest[key] = (generation, replies, event_id)
        task = asyncio.create_task(self._later(key, generation), name="telegram-album")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _later(self, key: Key, generation: int) -> None:
        await asyncio.sleep(QUIET)
        if self._latest.get(key, (0, [], ""))[0] == generation:
            await self._flush(key)

    async def _flush(self, key: Key) -> None:
        _, replies, event_id = self._latest.pop(key)
        if self.latest is not None and event_id and await self.latest(*key) != event_id:
            return  # another worker handled a later photo of the album: it answers
        if replies:
            await self.send(key[0], replies)

    async def drain(self) -> None:
        """On the way out: what is held goes now."""
        for key in list(self._latest):
            await self._flush(key)
