"""The resident's journey as a newcomer found it (issue 14): what was typed is shown and can be
kept, photos are added to rather than silently replaced, the hints name the buttons there are,
and a request's detail says which department has it."""

from __future__ import annotations

import re

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from handlers.dialog.conversation import Conversation, FloodGuard
from tests.chat import Chat, say, say_n

ADDRESS = "вул. Соборності, 10"
DESCRIPTION = "Не світить ліхтар біля під'їзду вже тиждень"


@pytest.fixture
def conversation(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> Conversation:
    return Conversation(sessions, settings, flood=FloodGuard(limit=100_000))


async def to_photos(chat: Chat) -> None:
    await chat.command("start")
    await chat.payload("lang:en")
    await chat.payload("menu:new")
    await chat.payload("cat:lighting")
    await chat.payload("sub:light_off")
    await chat.text(ADDRESS)
    await chat.text(DESCRIPTION)


async def test_back_shows_what_was_typed_and_keep_keeps_it(chat: Chat) -> None:
    await to_photos(chat)
    await chat.press("Back")
    assert chat.last.endswith(f"Now: {DESCRIPTION}")
    await chat.press("Back")
    assert chat.last.endswith(f"Now: {ADDRESS}")
    await chat.press("Keep it")
    # On to the first step not answered: the description was, and is kept too.
    assert chat.last == say_n("photos.prompt", 5)
    await chat.payload("photos:done")
    await chat.payload("phone:skip")
    assert ADDRESS in chat.said and DESCRIPTION in chat.said


async def test_the_photo_hint_names_the_button_there_is(chat: Chat) -> None:
    await to_photos(chat)
    await chat.sticker()
    assert say("hint.photo_expected_first") in chat.said
    assert "photos:done" in chat.payloads() and "Skip" in " ".join(chat.labels())
    assert "Done" not in " ".join(chat.labels())
    await chat.photo("p1")
    await chat.sticker()
    assert say("hint.photo_expected") in chat.said
    assert "Done" in " ".join(chat.labels())
    assert "photos:clear" in chat.payloads()


@pytest.mark.parametrize("address", ["🙂🙂🙂", "12345", "№ 5, 7"])
async def test_an_address_without_letters_is_told_what_is_missing(chat: Chat, address: str) -> None:
    await to_photos(chat)
    await chat.press("Back")
    await chat.press("Back")
    await chat.text(address)
    hint = say("error.address.no_letters")
    assert hint in chat.said
    # Not "only numbers", which an emoji is not.
    assert "number" not in hint.split("e.g.")[0]


async def test_the_detail_of_a_request_names_its_department(chat: Chat) -> None:
    await to_photos(chat)
    await chat.payload("photos:done")
    await chat.payload("phone:skip")
    await chat.payload("confirm")
    await chat.command("my")
    [button] = [b for b in chat.buttons() if b.payload.startswith("req:")]
    await chat.payload(button.payload)
    assert "Department: Street lighting" in chat.said


async def test_copy_a_native_speaker_would_write(chat: Chat) -> None:
    """Issue 14, point 10 (what can be checked by a machine): no "Photos: 0", where the request
    went said as a sentence, one style of date in the detail, the flat asked for."""
    await to_photos(chat)
    await chat.payload("photos:done")
    await chat.payload("phone:skip")
    assert "Photos: none" in chat.said
    await chat.payload("confirm")
    assert "It has gone to the Street lighting department." in chat.said
    await chat.command("my")
    [button] = [b for b in chat.buttons() if b.payload.startswith("req:")]
    await chat.payload(button.payload)
    filed = next(line for line in chat.said.splitlines() if line.startswith("Filed:"))
    assert re.fullmatch(r"Filed: \d{1,2} [A-Z][a-z]+, \d{2}:\d{2}", filed), filed
    assert "flat" in say("new.address")


async def test_a_pin_is_labelled_in_the_language_of_whoever_reads_it(chat: Chat) -> None:
    """Issue 14, point 4: a request filed with a pin in Ukrainian, read later in English, says
    "Location" in English, not the Ukrainian label it was filed with."""
    await chat.command("start")
    await chat.payload("lang:uk")
    await chat.payload("menu:new")
    await chat.payload("cat:lighting")
    await chat.payload("sub:light_off")
    await chat.location(47.91, 33.39)
    await chat.text(DESCRIPTION)
    await chat.payload("photos:done")
    await chat.payload("phone:skip")
    assert say("address.pin", "uk", lat="47.91000", lon="33.39000") in chat.said
    await chat.payload("confirm")
    await chat.command("language")
    await chat.payload("lang:en")
    await chat.command("my")
    assert "📍 location" in " ".join(chat.labels())
    [button] = [b for b in chat.buttons() if b.payload.startswith("req:")]
    await chat.payload(button.payload)
    detail = chat.said.split("Department:")[-1]
    assert say("address.pin", "en", lat="47.91000", lon="33.39000") in detail
    assert say("address.pin", "uk", lat="47.91000", lon="33.39000") not in detail
