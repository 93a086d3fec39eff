"""Photos of the fix (issue 15): a department resolves with photos, and the resident gets them
with the resolution and "Is it fixed?". Over the fake Bot API server: the real bot (polling),
the outbox worker, a real database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import Settings
from handlers.i18n import to_plain
from models.domain.status import Status
from models.domain.tables import Actor, EventKind, Photo, Request, RequestEvent
from tests.desk_data import add_request
from tests.desk_settings import ADMIN, desk_settings
from tests.fakes.telegram_server import FakeTelegramServer
from tests.telegram_harness import Harness, running_bot

UK, EN = 555_401, 555_402
WAIT = 10.0
JPEG = b"\xff\xd8\xff\xe0" + b"the repaired pipe" * 20 + b"\xff\xd9"


@pytest.fixture
async def srv() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer() as server:
        yield server


def sent(srv: FakeTelegramServer, chat: int) -> list[tuple[str, dict[str, Any]]]:
    """What reached a chat: (method, params), oldest first."""
    return [
        (c.method, c.params)
        for c in srv.calls
        if c.ok and c.method.startswith("send") and str(c.params.get("chat_id")) == str(chat)
    ]


async def reached(srv: FakeTelegramServer, chat: int, count: int) -> list[tuple[str, Any]]:
    await srv.wait_for(
        lambda c: (
            c.ok and c.method.startswith("send") and str(c.params.get("chat_id")) == str(chat)
        ),
        count,
        WAIT,
    )
    return sent(srv, chat)


def buttons(params: dict[str, Any]) -> list[str]:
    markup = params.get("reply_markup") or {}
    return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row]


async def file_two(
    sessions: async_sessionmaker[AsyncSession], cfg: Settings
) -> tuple[Request, Request]:
    uk = await add_request(sessions, cfg, resident=str(UK), category="lighting", lang="uk")
    en = await add_request(sessions, cfg, resident=str(EN), category="lighting", lang="en")
    return uk, en


async def staff_photo(h: Harness, caption: str | None = None, album: str | None = None) -> None:
    h.srv.push_update(
        h.srv.message_update(ADMIN, photo=JPEG, caption=caption, media_group_id=album)
    )


async def test_an_album_then_the_text_reaches_the_resident_with_the_question(
    srv: FakeTelegramServer,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    cfg = desk_settings(settings)
    uk, _ = await file_two(sessions, cfg)
    async with running_bot(srv, engine, sessions, cfg) as h:
        # The card's Resolve button, then two photos sent as one album, then the text.
        srv.push_update(srv.callback_update(ADMIN, f"s:resolve:{uk.id}"))
        asked = await reached(srv, ADMIN, 1)
        assert "photos of the fix" in to_plain(asked[-1][1]["text"]).lower()
        await staff_photo(h, album="album-1")
        await staff_photo(h, album="album-1")
        got = await reached(srv, ADMIN, 2)
        # One acknowledgement for the album, with the button to send the photos alone.
        assert uk.number in to_plain(got[1][1]["text"])
        assert buttons(got[1][1]) == [f"s:proofdone:{uk.id}"]
        srv.push_update(srv.message_update(ADMIN, "Опору замінено, світло є"))
        resident = await reached(srv, UK, 2)
        done = await reached(srv, ADMIN, 4)
    method, album = resident[0]
    assert method == "sendMediaGroup" and len(album["media"]) == 2
    method, text = resident[1]
    assert method == "sendMessage"
    assert "Опору замінено, світло є" in text["text"] and "вирішено" in text["text"]
    assert buttons(text) == [f"fb:yes:{uk.id}", f"fb:no:{uk.id}"]  # "Is it fixed?"
    assert len(sent(srv, ADMIN)) == 4, "no acknowledgement per photo of the album"
    assert "(2)" in to_plain(done[3][1]["text"])
    async with sessions() as session:
        row = await session.get(Request, uk.id)
        assert row is not None and row.status is Status.RESOLVED
        proofs = (
            await session.scalars(select(Photo).where(Photo.request_id == uk.id, Photo.proof))
        ).all()
        history = (
            await session.scalars(
                select(RequestEvent).where(
                    RequestEvent.request_id == uk.id,
                    RequestEvent.kind == EventKind.PHOTO,
                    RequestEvent.actor == Actor.STAFF,
                )
            )
        ).all()
    assert len(proofs) == 2 and len(history) == 2


async def test_a_captioned_command_and_an_album_s_later_photos(
    srv: FakeTelegramServer,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    cfg = desk_settings(settings)
    uk, en = await file_two(sessions, cfg)
    async with running_bot(srv, engine, sessions, cfg) as h:
        # /resolve as one photo's caption: the resident gets the photo with the text under it.
        await staff_photo(h, caption=f"/resolve {en.number} The lamp was replaced")
        [(method, photo)] = await reached(srv, EN, 1)
        assert method == "sendPhoto"
        assert "The lamp was replaced" in photo["caption"]
        assert buttons(photo) == [f"fb:yes:{en.id}", f"fb:no:{en.id}"]

        # An album whose first photo carries the command: the rest follow the resolution.
        await staff_photo(h, caption=f"/resolve {uk.number} Замінено", album="album-2")
        await staff_photo(h, album="album-2")
        await staff_photo(h, album="album-2")
        resident = await reached(srv, UK, 3)
        # /show keeps them: the card, then the department's three photos.
        before = len(sent(srv, ADMIN))
        srv.push_update(srv.message_update(ADMIN, f"/show {uk.number}"))
        shown = (await reached(srv, ADMIN, before + 2))[before:]
    assert [m for m, _ in resident] == ["sendPhoto"] * 3
    assert "Замінено" in resident[0][1]["caption"]
    assert all("ще одне фото" in p["caption"] for _, p in resident[1:])
    card = to_plain(shown[0][1]["text"])
    assert "Photos of the fix: 3" in card, card
    assert shown[1][0] == "sendMediaGroup" and len(shown[1][1]["media"]) == 3


async def test_photos_alone_with_the_button(
    srv: FakeTelegramServer,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    cfg = desk_settings(settings)
    _, en = await file_two(sessions, cfg)
    async with running_bot(srv, engine, sessions, cfg) as h:
        srv.push_update(srv.message_update(ADMIN, f"/resolve {en.number}"))
        await reached(srv, ADMIN, 1)
        await staff_photo(h)
        await reached(srv, ADMIN, 2)
        srv.push_update(srv.callback_update(ADMIN, f"s:proofdone:{en.id}"))
        [(method, photo)] = await reached(srv, EN, 1)
        # Pressed again (a stale button): nothing more reaches the resident.
        srv.push_update(srv.callback_update(ADMIN, f"s:proofdone:{en.id}"))
        stale = await reached(srv, ADMIN, 5)
    assert method == "sendPhoto" and "resolved" in photo["caption"]
    assert buttons(photo) == [f"fb:yes:{en.id}", f"fb:no:{en.id}"]
    assert "press Resolve on the card again" in to_plain(stale[-1][1]["text"])
    assert len(sent(srv, EN)) == 1
