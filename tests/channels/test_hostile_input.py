"""Hostile input through the real Telegram channel (webhook mode, the fake Bot API server,
a real database): NUL and other control characters, texts far over every limit, odd Unicode,
markup, numbers and dates out of range, forged buttons and the wrong kind of message, at every
step of a resident's dialog and as the arguments of every staff command.

Each must be answered with HTTP 200 (a 500 makes Telegram send it again and again), leave no
traceback in the log, get an answer in the sender's language that is not a bare catalog key
nor the "something went wrong" apology, and store nothing it should not: the resident stays
at the step unless the input was a valid answer, and staff commands change nothing."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import Settings
from handlers.desk import GROUPS
from handlers.desk.commands import command_table
from handlers.dialog.conversation import FloodGuard
from handlers.i18n import to_plain, translator
from models.domain.tables import DialogState, Request, Resident
from tests.desk_data import add_request, snapshot
from tests.desk_settings import ADMIN, desk_settings
from tests.fakes.telegram_server import FakeTelegramServer
from tests.telegram_harness import Harness, running_bot

USER = 555_901
NUL = "\x00\x00\x01\x7f"
HUGE = "я" * 4096
ODD = "\u202eevil\u200d\u0301\U0001d54f\ufeff"
MARKUP = "<b>&amp;</i>" * 340  # 4,080 characters of tags and entities
DIGITS = "9" * 30
HOSTILE_TEXTS = [NUL, HUGE, ODD, MARKUP, DIGITS, "/" + "x" * 60 + "\x00", "/" + "9" * 40]
FORGED_BUTTONS = [
    "req:" + "9" * 30,
    "page:" + "9" * 40,
    "fb:no:" + "9" * 30,
    "rate:" + "9" * 20 + ":5",
    "cat:" + "я" * 20,
    "sub:\x00",
    "lang:zz",
    "x" * 64,
]
# A catalog key shown as is would mean a missing translation.
BARE_KEY = re.compile(r"\b(?:hint|error|staff|notify|feedback|desk|my|menu)\.[a-z_]{2,}")


@pytest.fixture
async def srv() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer() as server:
        yield server


@pytest.fixture
def cfg(settings: Settings) -> Settings:
    return desk_settings(settings, staff_language="en")


@pytest.fixture
def no_tracebacks(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.WARNING)
    return caplog


def assert_clean_log(caplog: pytest.LogCaptureFixture) -> None:
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not bad, [r.getMessage() for r in bad]


async def answer(h: Harness, chat: int, update: dict[str, Any]) -> list[str]:
    """Deliver as Telegram would and return what the bot said in the chat: it answers inside
    the webhook's call, so everything is sent by the time the call returns."""
    before = len(h.srv.sent_messages(chat))
    result = await h.srv.deliver_webhook(update)
    assert result.status == 200, (update, result)
    try:
        texts = await h.wait_texts(chat, before + 1, wait=2.0)
    except AssertionError:
        pytest.fail(f"no answer to {str(update)[:300]}")
    return [to_plain(t) for t in texts[before:]]


def assert_answered(texts: list[str], lang: str, what: object) -> None:
    apology = to_plain(translator().t(lang, "error.internal"))
    assert texts and all(t.strip() for t in texts), what
    for text in texts:
        assert apology not in text, what
        assert not BARE_KEY.search(text), (what, text)


async def step_of(sessions: async_sessionmaker[AsyncSession], user: int) -> str:
    async with sessions() as session:
        row = await session.execute(
            select(DialogState.step)
            .join(Resident, Resident.id == DialogState.resident_id)
            .where(Resident.external_id == str(user))
        )
        return str(row.scalar_one_or_none())


async def battery(
    h: Harness, sessions: async_sessionmaker[AsyncSession], user: int, *, skip: tuple[str, ...]
) -> None:
    """Every hostile text, forged button and wrong kind of message at the resident's current
    step: each answered, none moving the resident on."""
    s = h.srv
    step = await step_of(sessions, user)
    updates: list[tuple[str, dict[str, Any]]] = [
        (repr(t[:20]), s.message_update(user, t)) for t in HOSTILE_TEXTS if t not in skip
    ]
    updates += [(b, s.callback_update(user, b)) for b in FORGED_BUTTONS if b not in skip]
    kinds = {
        "location": s.message_update(user, location=(89.9, 179.9)),
        "contact": s.message_update(user, contact=("+" + "9" * 30, user + 1)),
        "photo": s.message_update(user, photo=b"\xff\xd8" + b"\x00" * 64, caption=NUL + HUGE),
        "sticker-like": s.message_update(user, caption=MARKUP),
    }
    updates += [(k, u) for k, u in kinds.items() if k not in skip]
    # A staff button pressed by a resident is only acknowledged (its spinner stops): saying
    # anything would tell residents that staff buttons exist.
    silent = s.callback_update(user, "s:accept:1")
    before = len(s.sent_messages(user))
    assert (await s.deliver_webhook(silent)).status == 200
    assert len(s.sent_messages(user)) == before
    for what, update in updates:
        texts = await answer(h, user, update)
        assert_answered(texts, "en", (step, what))
        assert await step_of(sessions, user) == step, (step, what, texts)


async def test_a_resident_at_every_step_gets_an_answer_and_loses_nothing(
    srv: FakeTelegramServer,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    cfg: Settings,
    no_tracebacks: pytest.LogCaptureFixture,
) -> None:
    s, user = srv, USER
    async with running_bot(srv, engine, sessions, cfg, "webhook") as h:
        # Hundreds of messages in a minute: past the flood guard, which is tested on its own.
        h.app.conversation.flood = FloodGuard(limit=100_000)
        await answer(h, user, s.message_update(user, "/start"))
        await battery(h, sessions, user, skip=("lang:zz",))
        await answer(h, user, s.callback_update(user, "lang:en"))
        await battery(h, sessions, user, skip=())
        await answer(h, user, s.callback_update(user, "menu:new"))
        await battery(h, sessions, user, skip=())
        await answer(h, user, s.callback_update(user, "cat:lighting"))
        await battery(h, sessions, user, skip=())
        await answer(h, user, s.callback_update(user, "sub:light_off"))
        await battery(h, sessions, user, skip=("location",))
        await answer(h, user, s.message_update(user, "вул. Світла, 5"))
        # Thirty digits are a description, if a poor one.
        await battery(h, sessions, user, skip=("photo", DIGITS))
        description = "Ліхтар <b>не світить</b> & <i>тиждень</i>\x00 вже"
        await answer(h, user, s.message_update(user, description))
        await battery(h, sessions, user, skip=("photo",))
        await answer(h, user, s.message_update(user, "✅ Done"))
        await battery(h, sessions, user, skip=())
        await answer(h, user, s.message_update(user, contact=("+380671234567", user)))
        await battery(h, sessions, user, skip=())
        await answer(h, user, s.callback_update(user, "confirm"))
        await battery(h, sessions, user, skip=())
        await answer(h, user, s.message_update(user, "/my"))
        await battery(h, sessions, user, skip=())
        async with sessions() as session:
            [req] = (await session.execute(select(Request))).scalars().all()
        await answer(h, user, s.callback_update(user, f"req:{req.id}"))
        await battery(h, sessions, user, skip=())
    # One request, with the description as typed, less the control characters.
    assert req.description == "Ліхтар <b>не світить</b> & <i>тиждень</i> вже"
    assert_clean_log(no_tracebacks)


STAFF_ARGS = [
    "",
    NUL,
    "9" * 30,
    "2026-" + "9" * 30,
    "-1",
    MARKUP,
    HUGE[:3000],
    ODD,
    "0001-01-01 9999-12-31",
    "add " + "9" * 30 + " admin",
    "2026-000001 " + NUL,
    "2026-000001 " + "x" * 4000,
]


async def test_every_staff_command_with_hostile_arguments_is_answered_and_changes_nothing(
    srv: FakeTelegramServer,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    cfg: Settings,
    no_tracebacks: pytest.LogCaptureFixture,
) -> None:
    s = srv
    req = await add_request(sessions, cfg, resident=str(USER), category="lighting")
    assert req.number == "2026-000001" or req.number.endswith("-000001")
    async with running_bot(srv, engine, sessions, cfg, "webhook") as h:
        before = await snapshot(sessions)
        names = sorted(h.app.desk.commands)
        for name in names:
            for args in STAFF_ARGS:
                args = args.replace("2026-000001", req.number)
                texts = await answer(h, ADMIN, s.message_update(ADMIN, f"/{name} {args}"))
                assert_answered(texts, "en", (name, args[:30]))
        for payload in ("s:accept:" + "9" * 30, "s:to:" + "9" * 30 + ":roads", "s:\x00:1"):
            assert (await s.deliver_webhook(s.callback_update(ADMIN, payload))).status == 200
        assert await snapshot(sessions) == before
    assert_clean_log(no_tracebacks)


@pytest.fixture
async def staff_bot(
    srv: FakeTelegramServer,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    cfg: Settings,
) -> AsyncIterator[Harness]:
    await add_request(sessions, cfg, resident=str(USER), category="lighting")
    async with running_bot(srv, engine, sessions, cfg, "webhook") as h:
        yield h


def hostile_arguments() -> st.SearchStrategy[str]:
    """Arguments as an attacker or a slipping thumb writes them."""
    number = st.integers(min_value=-(10**30), max_value=10**30).map(str)
    return st.one_of(
        st.text(max_size=300),
        st.text(alphabet="<>&;/\"'=+-@\x00\n\t\u202e\u200d", max_size=300),
        st.tuples(number, st.text(max_size=40)).map(" ".join),
        st.tuples(st.sampled_from(["add", "remove", "list", "+", "2026-"]), number).map(
            lambda parts: f"{parts[0]} {parts[1]}"
        ),
        st.dates().map(lambda d: f"{d.isoformat()} {d.isoformat()}"),
    )


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.sampled_from(sorted(command_table(GROUPS))), args=hostile_arguments())
async def test_any_arguments_to_any_staff_command_get_an_answer(
    staff_bot: Harness, sessions: async_sessionmaker[AsyncSession], name: str, args: str
) -> None:
    before = await snapshot(sessions)
    text = f"/{name} {args}"
    texts = await answer(staff_bot, ADMIN, staff_bot.srv.message_update(ADMIN, text))
    assert_answered(texts, "en", text[:60])
    assert await snapshot(sessions) == before
