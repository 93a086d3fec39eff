"""One answer for an album a resident sends.

Telegram delivers an album as one message per photo, a few milliseconds apart. Each photo
goes to the conversation core at once (so each is kept, in order), but the answer waits until
the album has been quiet for ``QUIET`` seconds and only the last photo's answer goes ("3 photos
added"), instead of one answer per photo."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from handlers.types import Reply

QUIET = 0.8  # seconds without another photo of the album: it is complete

Key = tuple[int, str]  # (chat, album)


class AlbumAnswers:
    def __init__(self, send: Callable[[int, list[Reply]], Awaitable[object]]) -> None:
        self.send = send
        self._latest: dict[Key, tuple[int, list[Reply]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def hold(self, chat_id: int, album: str, replies: list[Reply]) -> None:
        """The answer to one photo of ``album``: it replaces the one held before."""
        key = (chat_id, album)
        generation = self._latest.get(key, (0, []))[0] + 1
        self._latest[key] = (generation, replies)
        task = asyncio.create_task(self._later(key, generation), name="telegram-album")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _later(self, key: Key, generation: int) -> None:
        await asyncio.sleep(QUIET)
        if self._latest.get(key, (0, []))[0] == generation:
            await self._flush(key)

    async def _flush(self, key: Key) -> None:
        _, replies = self._latest.pop(key)
        if replies:
            await self.send(key[0], replies)

    async def drain(self) -> None:
        """On the way out: what is held goes now."""
        for key in list(self._latest):
            await self._flush(key)
