"""The daily digest's chart as a file the senders can upload."""

from __future__ import annotations

import asyncio
import os
import tempfile
from datetime import date
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models.storage.digest_queries import chart_png

CHART_CACHE = Path(tempfile.gettempdir()) / "citybot-charts"


async def chart_file(sessions: async_sessionmaker[AsyncSession], day: str) -> str | None:
    """The chart of ``day``, from the database, cached on this machine: the worker that drew
    it may be another one. None when it was pruned since (the text goes alone)."""
    path = CHART_CACHE / f"digest-{day}.png"
    if not await asyncio.to_thread(path.exists):
        async with sessions() as session:
            png = await chart_png(session, date.fromisoformat(day))
        if png is None:
            return None
        await asyncio.to_thread(_write_atomically, path, png)
    return str(path)


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_bytes(data)
    os.replace(partial, path)
