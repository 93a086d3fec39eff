"""What the bot takes from aiosqlite's and aiogram's private internals, checked against the
installed versions, so an upgrade that moves them fails here, loudly and by name, instead of
slowing or breaking the bot in production. Both packages are pinned exactly in pyproject.toml
for this reason: before raising a pin, run this module and re-read the files it names."""

from __future__ import annotations

import inspect
import sqlite3
from pathlib import Path
from typing import Any

import aiogram
import aiosqlite
import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.methods import SendMessage
from aiogram.webhook.aiohttp_server import SimpleRequestHandler

from models.storage.engine import create_engine, session_factory, sqlite_url
from models.storage.sqlite_driver import FastConnection, connector, inline_statements

SQLITE_DRIVER = "models/storage/sqlite_driver.py"
TELEGRAM_JSON = "the Telegram channel's JSON session and webhook answer (bot/channels/telegram)"


def _params(fn: Any) -> list[str]:
    return list(inspect.signature(fn).parameters)


def _require(ok: bool, what: str, where: str, package: str, version: str) -> None:
    if not ok:
        pytest.fail(
            f"{package} {version} no longer has {what}, which {where} relies on: "
            f"re-read that code against this version, or keep the exact pin in pyproject.toml"
        )


def test_aiosqlite_still_has_what_the_fast_driver_reaches_into() -> None:
    conn = aiosqlite.Connection
    unopened = connector(":memory:")
    checks = {
        "Connection._execute(fn, *args)": callable(getattr(conn, "_execute", None)),
        "Connection._conn (the sqlite3 connection)": isinstance(
            conn.__dict__.get("_conn"), property
        ),
        "Connection(connector, iter_chunk_size)": _params(conn.__init__)[1:3]
        == ["connector", "iter_chunk_size"],
        "Connection.commit / rollback coroutines": inspect.iscoroutinefunction(conn.commit)
        and inspect.iscoroutinefunction(conn.rollback),
        "Connection._thread": hasattr(unopened, "_thread"),
        "Connection._connection": hasattr(unopened, "_connection"),
    }
    for what, ok in checks.items():
        _require(ok, what, SQLITE_DRIVER, "aiosqlite", aiosqlite.__version__)


async def test_the_fast_driver_still_reads_and_writes_with_and_without_its_thread(
    tmp_path: Path,
) -> None:
    engine = create_engine(sqlite_url(tmp_path / "canary.sqlite3"))
    try:
        async with engine.begin() as conn:
            raw = await conn.get_raw_connection()
            assert isinstance(raw.driver_connection, FastConnection)
            await conn.exec_driver_sql("CREATE TABLE canary (n INTEGER)")
        sessions = session_factory(engine)
        with inline_statements():  # the dialog's path: no hop to the thread
            async with sessions() as session, session.begin():
                await session.connection()
                await (await session.connection()).exec_driver_sql("INSERT INTO canary VALUES (1)")
        async with sessions() as session:  # the thread's path, streaming more than one chunk
            conn = await session.connection()
            await conn.exec_driver_sql("INSERT INTO canary SELECT n + 1 FROM canary")
            rows = (await conn.exec_driver_sql("SELECT n FROM canary ORDER BY n")).all()
        assert [r[0] for r in rows] == [1, 2]
    finally:
        await engine.dispose()
    assert sqlite3.sqlite_version_info >= (3, 35)  # RETURNING, used by every atomic claim


def test_aiogram_still_has_what_the_json_session_and_answer_override() -> None:
    writer = getattr(SimpleRequestHandler, "_build_response_writer", None)
    checks = {
        "BaseSession.prepare_value(value, bot, files, _dumps_json)": _params(
            BaseSession.prepare_value
        )[1:5]
        == ["value", "bot", "files", "_dumps_json"],
        "AiohttpSession.make_request(bot, method, timeout)": _params(AiohttpSession.make_request)[
            1:4
        ]
        == ["bot", "method", "timeout"],
        "AiohttpSession.create_session()": inspect.iscoroutinefunction(
            AiohttpSession.create_session
        ),
        "BaseSession.check_response(bot, method, status_code, content)": _params(
            BaseSession.check_response
        )[1:5]
        == ["bot", "method", "status_code", "content"],
        "SimpleRequestHandler._build_response_writer(bot, result)": writer is not None
        and _params(writer)[1:3] == ["bot", "result"],
    }
    for what, ok in checks.items():
        _require(ok, what, TELEGRAM_JSON, "aiogram", aiogram.__version__)


async def test_aiogram_still_prepares_a_call_as_plain_json_values() -> None:
    bot = Bot("123:abc")
    try:
        files: dict[str, Any] = {}
        method = SendMessage(chat_id=1, text="<b>hi</b>", reply_markup=None)
        body = {
            key: bot.session.prepare_value(value, bot=bot, files=files, _dumps_json=False)
            for key, value in method.model_dump(warnings=False).items()
            if value is not None
        }
        assert body["chat_id"] == 1 and body["text"] == "<b>hi</b>" and not files
    finally:
        await bot.session.close()
