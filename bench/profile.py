"""Reading a py-spy ``--format raw`` profile (collapsed stacks) into where the time goes.

py-spy samples only threads that are running Python code (no ``--idle``), so the shares below
are shares of the bot's busy time: self time by function and by library, and inclusive time of
the functions that matter for a request (citybot's own, aiogram's dispatch and API calls, the
database layer).
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from pathlib import Path
from typing import Any

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")

# Library of a frame, by the path of its file (first match wins).
_AREAS = (
    ("sqlalchemy", "sqlalchemy/"),
    ("aiosqlite+sqlite3", "aiosqlite/"),
    ("aiosqlite+sqlite3", "sqlite3/"),
    ("asyncpg", "asyncpg/"),
    ("aiogram", "aiogram/"),
    ("aiohttp", "aiohttp/"),
    ("pydantic", "pydantic"),
    ("asyncio", "asyncio/"),
    ("json", "json/"),
    ("logging", "logging/"),
    ("apscheduler", "apscheduler/"),
    ("citybot", "bot/"),
    ("citybot", "handlers/"),
    ("citybot", "models/"),
    ("stdlib-other", "/lib/python3"),
)

# Functions whose inclusive time tells which part of handling an update costs what (py-spy
# names methods Class.method).
_WATCH = (
    "Conversation.handle (handlers/conversation.py)",
    "Conversation._handle (handlers/conversation.py)",
    "Conversation._route (handlers/conversation.py)",
    "get_or_create_resident (models/residents.py)",
    "resident_with_state (models/residents.py)",
    "save_state (models/residents.py)",
    "submit (handlers/new_request.py)",
    "TelegramChannel.on_message (bot/channels/telegram/channel.py)",
    "TelegramChannel.on_callback (bot/channels/telegram/channel.py)",
    "TelegramChannel.send (bot/channels/telegram/channel.py)",
    "StaffDesk.handle (handlers/staff.py)",
    "Delivery.run_once (bot/delivery.py)",
    "claim_due (models/outbox.py)",
    "Jobs.scan (handlers/jobs.py)",
    "Dispatcher.feed_update (aiogram/dispatcher/dispatcher.py)",
    "Dispatcher._listen_update (aiogram/dispatcher/dispatcher.py)",
    "Dispatcher._listen_updates (aiogram/dispatcher/dispatcher.py)",
    "Dispatcher._feed_webhook_update (aiogram/dispatcher/dispatcher.py)",
    "Bot.__call__ (aiogram/client/bot.py)",
    "AiohttpSession.make_request (aiogram/client/session/aiohttp.py)",
    "AiohttpSession.build_form_data (aiogram/client/session/aiohttp.py)",
    "BaseSession.check_response (aiogram/client/session/base.py)",
    "BaseRequestHandler.handle (aiogram/webhook/aiohttp_server.py)",
    "RequestHandler._handle_request (aiohttp/web_protocol.py)",
    "AsyncSession.execute (sqlalchemy/ext/asyncio/session.py)",
    "AsyncSession.get (sqlalchemy/ext/asyncio/session.py)",
    "AsyncSessionTransaction.__aexit__ (sqlalchemy/ext/asyncio/session.py)",
    "Session.flush (sqlalchemy/orm/session.py)",
    "Connection._execute (aiosqlite/core.py)",
    "_connection_worker_thread (aiosqlite/core.py)",
    "EpollSelector.select (selectors.py)",
)


def _short(path: str) -> str:
    for marker in ("site-packages/", "/work/main/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def _frame(text: str) -> tuple[str, str] | None:
    m = _FRAME.match(text)
    if m is None:
        return None
    file = _short(m.group("file"))
    return f"{m.group('func')} ({file})", file


def _area(file: str) -> str:
    for name, marker in _AREAS:
        if marker in file and not (name == "citybot" and "-packages" in file):
            return name
    return "other"


def summarise(path: Path, top: int = 25) -> dict[str, Any]:
    """Shares (percent of samples) of self time per function and per library, and inclusive
    time of the watched functions."""
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in (_frame(t) for t in stack.split(";")) if f is not None]
        if not frames:
            continue
        total += count
        leaf, leaf_file = frames[-1]
        self_time[leaf] += count
        areas[_area(leaf_file)] += count
        for name in {name for name, _ in frames}:
            inclusive[name] += count

    def pct(n: int) -> float:
        return round(100 * n / total, 1) if total else 0.0

    return {
        "samples": total,
        "self_pct_by_library": {k: pct(v) for k, v in areas.most_common()},
        "self_pct_top": {k: pct(v) for k, v in self_time.most_common(top)},
        "inclusive_pct": {
            k: pct(inclusive[k]) for k in sorted(_WATCH, key=lambda k: -inclusive[k])
        },
        "inclusive_pct_citybot": dict(
            itertools.islice(
                (
                    (k, pct(v))
                    for k, v in inclusive.most_common()
                    if any(f" ({d}/" in k for d in ("bot", "handlers", "models"))
                ),
                top,
            )
        ),
        "inclusive_pct_top": {k: pct(v) for k, v in inclusive.most_common(top * 2)},
    }
