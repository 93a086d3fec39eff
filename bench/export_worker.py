"""One CSV export through the staff desk's real ``/export`` path (``cmd_export``),
in a process of its own so that its peak RSS (VmHWM) is the export's alone.

``python -m bench.export_worker URL START END`` (dates YYYY-MM-DD, the city's days) prints one
JSON line: rows, seconds, rows/s, RSS before the export and peak RSS.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any


async def export(url: str, start: str, end: str) -> dict[str, Any]:
    from bench.common import ROOT, peak_rss_mb, rss_mb
    from bot.config import load_settings
    from handlers.desk.engine import StaffDesk, Turn
    from handlers.desk.export import cmd_export
    from handlers.i18n import translator
    from handlers.types import Incoming, Kind
    from models.domain.base import utcnow
    from models.domain.staff import Role, StaffMember
    from models.storage.engine import (
        create_engine,
        create_read_engine,
        dispose_read_engine,
        read_session_factory,
        session_factory,
    )

    settings = load_settings(ROOT / "bot.toml")
    engine = create_engine(url)
    sessions = session_factory(engine)
    reader = create_read_engine(engine)
    reads = read_session_factory(reader)
    desk = StaffDesk(sessions, settings, translator(), read_sessions=reads)
    admin = StaffMember(telegram_id=1, role=Role.ADMIN, department=None)
    ev = Incoming(channel="telegram", user_id="1", kind=Kind.COMMAND, command="export")
    before = rss_mb()
    began = time.monotonic()
    try:
        async with reads() as session:  # as the bot runs /export: on the read path
            turn = Turn(session=session, staff=admin, ev=ev, now=utcnow(), read_only=True)
            await cmd_export(desk, turn, [start, end])
    finally:
        await dispose_read_engine(reader, engine)
        await engine.dispose()
    seconds = time.monotonic() - began
    docs = {r.document.filename.split("_")[0]: r.document for r in turn.replies if r.document}
    doc = docs.get("requests")
    if doc is None:
        raise RuntimeError(f"no export: {turn.replies[-1].text}")
    if "quality" in docs:  # the second file, the quality figures: not what is measured
        os.remove(docs["quality"].path)
    rows, size = _count_and_remove(doc.path)
    return {
        "rows": rows,
        "seconds": round(seconds, 2),
        "rows_per_s": round(rows / seconds) if seconds else 0,
        "csv_mb": round(size / 1e6, 1),
        "rss_mb_before": round(before, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "peak_rss_growth_mb": round(peak_rss_mb() - before, 1),
    }


def _count_and_remove(path: str) -> tuple[int, int]:
    """Data rows of the CSV (a description never holds a line break) and its size."""
    with open(path, encoding="utf-8-sig") as f:
        rows = sum(1 for _ in f) - 1
    size = os.path.getsize(path)
    os.remove(path)
    return rows, size


if __name__ == "__main__":
    print(json.dumps(asyncio.run(export(sys.argv[1], sys.argv[2], sys.argv[3]))))
