"""A long list in Viber (issue 13): Viber shows one keyboard at a time, so a list longer than
``viber.keyboard_page_buttons`` goes out as one keyboard with "More ▶️", each page answered by
whichever worker gets the press, every button of every page still valid."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.viber.render import decode_payload, encode_payload
from bot.config import Settings
from handlers.dialog.conversation import Conversation
from models.domain.city import LocalizedName
from tests.channels.test_viber import USER, ViberBot, start_bot, texts, viber_settings, welcome
from tests.fakes import viber_server as cb
from tests.fakes.viber_server import FakeViberServer

CATEGORIES = 30


def city_of_30(settings: Settings) -> Settings:
    """The seed city's first category 30 times over: a list no screen holds."""
    first = settings.categories[0]
    many = [
        first.model_copy(
            update={
                "code": f"kind{i:02d}",
                "name": LocalizedName(uk=f"Вид {i}", ru=f"Вид {i}", en=f"Kind {i}"),
                "subcategories": [],
                "questions": [],
                "notice": None,
            }
        )
        for i in range(CATEGORIES)
    ]
    return settings.model_copy(update={"categories": many})


@pytest.fixture
async def two_workers(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, tmp_path: Path
) -> AsyncIterator[tuple[ViberBot, ViberBot]]:
    """Two bots on one database and one Viber account, as two workers behind a balancer."""
    cfg = city_of_30(settings)
    vb = viber_settings(cfg, tmp_path).model_copy(update={"keyboard_page_buttons": 12})
    async with FakeViberServer() as srv:
        one, r1 = await start_bot(srv, Conversation(sessions, cfg), vb)
        two, r2 = await start_bot(srv, Conversation(sessions, cfg), vb)
        try:
            yield one, two
        finally:
            await r1.cleanup()
            await r2.cleanup()


async def to_the_list(bot: ViberBot) -> list[dict[str, Any]]:
    """From opening the chat, in English, to the list of kinds; the messages of that step."""
    await welcome(bot)
    await bot.step(cb.text_message(USER, encode_payload("lang:en"), silent=True))
    return await bot.press("menu:new")


def shown(bot: ViberBot) -> list[str]:
    return [str(decode_payload(b["ActionBody"])) for b in bot.keyboard()]


async def test_thirty_categories_reach_a_viber_resident_as_one_keyboard_in_pages(
    two_workers: tuple[ViberBot, ViberBot],
) -> None:
    one, two = two_workers
    sent = await to_the_list(one)
    # One message with one keyboard: the first kinds (two a row, whole rows) and "More".
    with_keyboard = [m for m in sent if "keyboard" in m]
    assert len(with_keyboard) == 1
    page1 = shown(one)
    assert page1 == [*(f"cat:kind{i:02d}" for i in range(10)), "kbpage:1"]
    more = one.keyboard()[-1]
    assert more["Text"] == "More ▶️ 2/4" and more["Columns"] == 6

    # The next page, answered by the other worker: it finds the pages in the database.
    sent = await two.press("kbpage:1")
    assert texts(sent) == ["More choices, page 2 of 4:"]
    assert shown(two) == [*(f"cat:kind{i:02d}" for i in range(10, 20)), "kbpage:0", "kbpage:2"]
    await two.press("kbpage:2")
    assert shown(two)[:10] == [f"cat:kind{i:02d}" for i in range(20, 30)]

    # A kind from the page on screen: the request goes on with it.
    sent = await one.press("cat:kind27")
    assert texts(sent)[0].startswith("Where is the problem")


async def test_a_kind_on_another_page_is_taken_when_typed_or_pressed_late(
    two_workers: tuple[ViberBot, ViberBot],
) -> None:
    one, _ = two_workers
    await to_the_list(one)
    await one.press("kbpage:1")
    # A first page's button tapped while the second is on screen (the resident scrolled up).
    sent = await one.step(cb.text_message(USER, encode_payload("cat:kind03"), silent=True))
    assert texts(sent)[0].startswith("Where is the problem")
    await one.press("nav:back")
    sent = await one.step(cb.text_message(USER, "🏠 Kind 25"))
    assert texts(sent)[0].startswith("Where is the problem")


async def test_an_old_more_button_after_the_list_has_gone_is_answered_as_stale(
    two_workers: tuple[ViberBot, ViberBot],
) -> None:
    one, _ = two_workers
    await to_the_list(one)
    await one.press("cat:kind03")  # the list is gone: the address step has no pages
    sent = await one.step(cb.text_message(USER, encode_payload("kbpage:2"), silent=True))
    assert texts(sent)[0] == "That button is from an earlier message. Here is where we are now:"
    assert texts(sent)[1].startswith("Where is the problem")
