"""Messages that take several Bot API calls, and calls that hang (issue 17, breaks 3 and 4),
against the fake Bot API server over real HTTP: a card with photos and a pin is paced call by
call and, retried after a 429, does not post its photos and pin again; a send that never
answers holds back its own recipient only, and only for the send timeout."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from handlers.i18n import to_plain
from models.domain.lifecycle import card_refresh
from models.domain.outbox import OutboxStatus, enqueue
from models.domain.requests import NewRequest, submit_request
from models.domain.residents import get_or_create_resident
from tests.delivery.test_delivery import (
    FIRST_CHAT,
    delivered,
    drained,
    enqueue_texts,
    outbox,
    sender_for,
    worker,
)
from tests.desk_data import add_request
from tests.desk_settings import DEPARTMENT_CHATS, desk_settings
from tests.fakes.telegram_server import FakeTelegramServer

LIGHTING_CHAT = DEPARTMENT_CHATS["lighting"]
PHOTOS = ("photo-a", "photo-b")
CARD_CALLS = ("sendMediaGroup", "sendLocation", "sendMessage")


@pytest.fixture
async def srv() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer(timeout_delay=0.3) as server:
        for ref in PHOTOS:
            server.add_file(ref, b"\xff\xd8\xff\xe0 a lamp post \xff\xd9", "lamp.jpg")
        yield server


async def file_with_photos_and_pin(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    """A request whose card is an album, a pin and the text (to the lighting group only)."""
    async with sessions() as session, session.begin():
        person = await get_or_create_resident(session, "telegram", "5551", "Resident")
        person.language = "en"
        req = await submit_request(
            session,
            person,
            NewRequest(
                category="lighting",
                subcategory="light_off",
                department="lighting",
                address=None,
                description="The lamp by the school is out",
                latitude=47.91,
                longitude=33.39,
                photos=list(PHOTOS),
            ),
        )
        card_refresh(session, req, [str(LIGHTING_CHAT)], now=req.created_at)


def card_calls(srv: FakeTelegramServer) -> list[Any]:
    return [
        c
        for c in srv.calls
        if c.method in CARD_CALLS and str(c.params.get("chat_id")) == str(LIGHTING_CHAT)
    ]


async def test_a_card_is_paced_call_by_call_and_a_retry_posts_no_photo_twice(
    srv: FakeTelegramServer, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    # One message a second in the group: the card's three calls must be a second apart each.
    cfg = desk_settings(settings, operators_chat=None, delivery={"group_per_minute": 60})
    await file_with_photos_and_pin(sessions, cfg)
    # Telegram refuses the card's text once: the album and the pin already went.
    srv.fail_next("sendMessage", 1, 429, retry_after=1)
    async with worker(sessions, cfg, sender_for(srv)):
        await drained(sessions, within=20)
    ok = [c for c in card_calls(srv) if c.ok]
    assert [c.method for c in ok] == list(CARD_CALLS), "each part once, in order"
    gaps = [b.time - a.time for a, b in itertools.pairwise(card_calls(srv))]
    assert all(gap >= 0.95 for gap in gaps), gaps
    [card] = [m for m in await outbox(sessions) if m.recipient == str(LIGHTING_CHAT)]
    assert card.status is OutboxStatus.SENT and card.attempts == 2


async def test_a_send_that_hangs_holds_back_only_its_own_recipient(
    srv: FakeTelegramServer, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    cfg = desk_settings(
        settings, delivery={"send_timeout_seconds": 3.0, "lease_seconds": 10, "concurrency": 8}
    )
    hung = FIRST_CHAT
    others = [(FIRST_CHAT + i, f"Resolved {i}") for i in range(1, 31)]
    await enqueue_texts(sessions, [(hung, "Resolved 0")])
    # The first call answers only after a minute, as a stalled connection does.
    srv.fail_next("sendMessage", 1, "timeout", delay=60)
    async with worker(sessions, cfg, sender_for(srv)):
        await asyncio.sleep(0.5)  # its call is under way, and will not be answered
        started = time.monotonic()
        await enqueue_texts(sessions, others)
        await drained(sessions, within=20)
        took = time.monotonic() - started
    counts = delivered(srv)
    assert all(counts[item] == 1 for item in others)
    assert counts[(hung, "Resolved 0")] >= 1, "retried after the timeout, and delivered"
    latencies = [
        c.time - started
        for c in srv.calls
        if c.method == "sendMessage" and c.ok and c.time >= started
    ]
    # Not waiting on the hung send, nor on its timeout (3 s after it began, 2.5 s after these
    # were queued): all sent before it.
    assert len(latencies) >= len(others) and max(latencies[: len(others)]) < 2.5, latencies
    assert took < 15, took


async def test_a_message_the_resident_will_never_get_is_told_to_the_department(
    srv: FakeTelegramServer, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    """Issue 17, break 2: a question Telegram refused for good left the request waiting for an
    answer to a question never sent, and staff believed the resident had been told."""
    cfg = desk_settings(settings, operators_chat=None)
    req = await add_request(sessions, cfg, resident="5552", category="lighting")
    async with sessions() as session, session.begin():
        enqueue(
            session,
            "telegram",
            "5552",
            {"event": "reply", "number": req.number, "request_id": req.id, "text": "When?"},
            request_id=req.id,
        )
    srv.fail_chat(5552, 400, "Bad Request: can't parse entities: unclosed tag")
    async with worker(sessions, cfg, sender_for(srv)):
        await drained(sessions, within=10)
    [notice] = [
        c
        for c in srv.calls_of("sendMessage")
        if c.ok and str(c.params["chat_id"]) == str(LIGHTING_CHAT)
    ]
    text = to_plain(notice.params["text"])
    assert req.number in text and "could not be delivered" in text and "unclosed tag" in text
    rows = {m.recipient: m.status for m in await outbox(sessions)}
    assert rows["5552"] is OutboxStatus.FAILED


@pytest.mark.parametrize("char", ["&", "<"])
async def test_a_card_full_of_escapes_arrives_whole_in_one_message(
    srv: FakeTelegramServer,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    char: str,
) -> None:
    """Issue 17, break 11: 2,000 × "&" escaped to 10,000 characters of HTML, the card was cut
    by that length and only its first four lines were sent: no description, phone or deadline.
    And the longest description there can be still leaves the card one message."""
    cfg = desk_settings(settings, operators_chat=None)
    first_req = await add_request(
        sessions,
        cfg,
        resident="5553",
        category="lighting",
        description=char * 2000,
        phone="+380671234567",
    )
    huge = await add_request(
        sessions,
        cfg,
        resident="5554",
        category="lighting",
        description=char * 9000,
        phone="+380671234568",
    )
    async with sessions() as session, session.begin():
        for req in (first_req, huge):
            card_refresh(session, req, [str(LIGHTING_CHAT)], now=req.created_at)
    async with worker(sessions, cfg, sender_for(srv)):
        await drained(sessions, within=10)
    cards = [c for c in srv.calls_of("sendMessage") if c.params["chat_id"] == LIGHTING_CHAT]
    assert len(cards) == 2 and all(c.ok for c in cards), [c.error for c in cards]
    first, second = (to_plain(c.params["text"]) for c in cards)
    assert char * 2000 in first and "+380671234567" in first and "⏰" in first
    assert "+380671234568" in second and "⏰" in second and f"{char}…" in second
    assert len(second) <= 4096 and huge.number in second


async def test_a_long_question_full_of_markup_reaches_the_resident(
    srv: FakeTelegramServer, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    """Issue 17, break 2: a 1,992-character question of "<-" was cut through its <i> tag,
    Telegram refused it, and the request waited for an answer to a question never sent."""
    cfg = desk_settings(settings, operators_chat=None)
    req = await add_request(sessions, cfg, resident="5555", category="lighting")
    for question in ("<-" * 996, "<-" * 2500):
        async with sessions() as session, session.begin():
            body = {"event": "status", "status": "needs_info", "note": question, "lang": "en"}
            enqueue(
                session, "telegram", "5555", body | {"number": req.number, "request_id": req.id}
            )
    async with worker(sessions, cfg, sender_for(srv)):
        await drained(sessions, within=20)
    sent = [c for c in srv.calls_of("sendMessage") if c.params["chat_id"] == 5555]
    assert sent and all(c.ok for c in sent), [c.error for c in sent]
    shown = "".join(to_plain(c.params["text"]) for c in sent)
    assert shown.count("<-") == 996 + 2500
    assert all(m.status is OutboxStatus.SENT for m in await outbox(sessions))
