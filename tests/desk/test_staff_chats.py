"""Where the desk answers, what completes a prompt, and numbers and dates out of range (issue
17, breaks 8, 9 and 13): staff are answered only in their private chat or their own
department's group (the operators' group for operators and administrators, who in a
department's group see that department only); in a group only a reply to the prompt completes
it; ids and dates nobody could mean get the usage line, not an error."""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from handlers.i18n import to_plain, translator
from handlers.types import Kind
from models.domain.prompts import StaffPrompt
from models.domain.staff import Role
from models.domain.status import Status
from models.domain.tables import EventKind, Request, RequestEvent
from tests.desk_data import Desk, add_request, add_staff, snapshot
from tests.desk_settings import ADMIN, LIGHTING_CHAT, OPERATORS_CHAT, ROADS_CHAT

LIGHTING = 720_001
ROADS = 720_002
OPERATOR = 720_003
RESIDENT = 555_401
STRANGE_GROUP = -100_777  # a group the bot was added to, configured nowhere


def t(key: str, **kw: object) -> str:
    return translator().t("en", key, **kw)


@pytest.fixture
async def world(
    sessions: async_sessionmaker[AsyncSession], cfg: Settings
) -> tuple[Request, Request]:
    lamp = await add_request(
        sessions, cfg, resident=str(RESIDENT), category="lighting", phone="+380671112233"
    )
    pothole = await add_request(
        sessions, cfg, resident=str(RESIDENT + 1), category="roads", phone="+380674445566"
    )
    await add_staff(sessions, LIGHTING, Role.DEPARTMENT, "lighting")
    await add_staff(sessions, ROADS, Role.DEPARTMENT, "roads")
    await add_staff(sessions, OPERATOR, Role.OPERATOR)
    return lamp, pothole


async def test_staff_are_answered_only_in_their_own_chats(
    desk: Desk,
    world: tuple[Request, Request],
    sessions: async_sessionmaker[AsyncSession],
    caplog: pytest.LogCaptureFixture,
) -> None:
    lamp, pothole = world
    before = await snapshot(sessions)
    refused = [t("staff.wrong_chat")]
    caplog.set_level(logging.WARNING, logger="handlers.desk.engine")
    # A group nobody configured: not a card, not a CSV, not the staff list, for anyone.
    for who in (ADMIN, OPERATOR, LIGHTING):
        for line in (f"/show {lamp.number}", "/export", "/queue", "/stats", "/staff list"):
            answer = await desk.event(
                who,
                STRANGE_GROUP,
                kind=Kind.COMMAND,
                command=line.split()[0][1:],
                text=" ".join(line.split()[1:]),
            )
            assert [r.text for r in answer] == refused, (who, line)
            assert all(r.document is None for r in answer)
        assert await desk.press(who, f"s:accept:{lamp.id}", STRANGE_GROUP) == []
    # Another department's group: roads staff cannot post their request in the lighting group,
    # nor can lighting staff act from the operators' group.
    assert await desk.command(ROADS, f"/show {pothole.number}", LIGHTING_CHAT) == refused
    assert await desk.command(LIGHTING, f"/show {lamp.number}", OPERATORS_CHAT) == refused
    assert await desk.press(ROADS, f"s:resolve:{pothole.id}", LIGHTING_CHAT) == []
    # In a department's group an administrator sees that department only.
    assert await desk.command(ADMIN, f"/show {pothole.number}", LIGHTING_CHAT) == [
        t("staff.not_found", number=pothole.number)
    ]
    queue = to_plain("\n".join(await desk.command(ADMIN, "/queue", LIGHTING_CHAT)))
    assert lamp.number in queue and pothole.number not in queue
    # Where each belongs, each is answered.
    assert "+380674445566" in to_plain(
        (await desk.command(ROADS, f"/show {pothole.number}", ROADS_CHAT))[0]
    )
    both = to_plain("\n".join(await desk.command(OPERATOR, "/queue", OPERATORS_CHAT)))
    assert lamp.number in both and pothole.number in both
    assert lamp.number in to_plain((await desk.command(LIGHTING, f"/show {lamp.number}"))[0])
    # Nothing changed, and each refusal was logged with the chat.
    assert await snapshot(sessions) == before
    assert any(f"in chat {STRANGE_GROUP}" in r.getMessage() for r in caplog.records)


async def test_in_a_group_only_a_reply_to_the_prompt_completes_it(
    desk: Desk, world: tuple[Request, Request], sessions: async_sessionmaker[AsyncSession]
) -> None:
    lamp, _ = world
    assert await desk.press(LIGHTING, f"s:resolve:{lamp.id}", LIGHTING_CHAT) == [
        t("staff.prompt.resolve", number=lamp.number)
    ]
    await desk.desk.prompt_posted(str(LIGHTING_CHAT), LIGHTING, "4242")
    # The group's talk, a reply to another message, and someone else's reply: not the answer.
    assert await desk.text(LIGHTING, "Colleagues, who took the van keys?", LIGHTING_CHAT) == []
    assert await desk.text(LIGHTING, "Van is back.", LIGHTING_CHAT, reply_to="4241") == []
    assert await desk.text(ROADS, "Not mine.", LIGHTING_CHAT, reply_to="4242") == []
    async with sessions() as session:
        req = await session.get(Request, lamp.id)
        assert req is not None and req.status is not Status.RESOLVED
        assert (await session.execute(select(StaffPrompt))).scalars().one().message_id == "4242"
    # The reply to the prompt is.
    assert await desk.text(LIGHTING, "Replaced the lamp.", LIGHTING_CHAT, reply_to="4242") == [
        t("staff.done_status", number=lamp.number, status=t("status.resolved"))
    ]
    # In the private chat the next message answers, as before.
    assert await desk.press(LIGHTING, f"s:reject:{lamp.id}") == [
        t("staff.prompt.reject", number=lamp.number)
    ]
    answer = await desk.text(LIGHTING, "Wrong address after all")
    assert answer == [
        t(
            "staff.illegal",
            number=lamp.number,
            old=t("status.resolved"),
            new=t("status.rejected"),
        )
    ]


@pytest.mark.parametrize(
    "line",
    [
        "/show 2026-" + "9" * 30,
        "/staff add " + "9" * 30 + " admin",
        "/staff remove " + "9" * 30,
        "/staff add ²³ admin",
        "/export 0001-01-01 9999-12-31",
        "/export 2026-W49-4",
        "/export 20261203",
        "/deadline {number} 9999-12-31 later",
        "/deadline {number} 2026-12-31 99:99 later",
    ],
)
async def test_numbers_and_dates_out_of_range_get_an_answer(
    desk: Desk,
    world: tuple[Request, Request],
    sessions: async_sessionmaker[AsyncSession],
    line: str,
) -> None:
    lamp, _ = world
    before = await snapshot(sessions)
    line = line.format(number=lamp.number)
    answer = await desk.command(ADMIN, line)
    name = line.split()[0][1:]
    assert answer in (
        [t(f"staff.usage.{name}")],
        [t("staff.not_found", number=line.split()[1])],
    ), answer
    assert await snapshot(sessions) == before


@pytest.mark.parametrize(
    "payload",
    ["s:accept:" + "9" * 30, "s:resolve:²", "s:to:" + "1" * 25 + ":roads", "s:accept:-1"],
)
async def test_forged_buttons_with_huge_ids_change_nothing(
    desk: Desk,
    world: tuple[Request, Request],
    sessions: async_sessionmaker[AsyncSession],
    payload: str,
) -> None:
    before = await snapshot(sessions)
    assert await desk.press(OPERATOR, payload, OPERATORS_CHAT) == []
    assert await snapshot(sessions) == before


@pytest.mark.parametrize("payload", ["req:" + "9" * 30, "page:" + "9" * 40, "fb:no:" + "9" * 30])
async def test_a_residents_forged_button_with_a_huge_id_gets_a_hint(
    desk: Desk, world: tuple[Request, Request], payload: str
) -> None:
    await desk.command(RESIDENT, "/my")
    answer = await desk.press(RESIDENT, payload)
    apologies = [translator().t(lang, "error.internal") for lang in ("uk", "ru", "en")]
    assert answer and all(text.strip() for text in answer)
    assert not any(sorry in text for sorry in apologies for text in answer)


async def test_a_staff_update_delivered_again_is_acted_on_once(
    desk: Desk, world: tuple[Request, Request], sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Telegram sends an update again when the webhook's answer was slow, and a polled batch
    comes again after a crash: the resident hears the department's answer once, the request is
    resolved once."""
    lamp, _ = world
    reply: dict[str, Any] = {
        "kind": Kind.COMMAND,
        "command": "reply",
        "text": f"{lamp.number} On our way.",
    }
    first = await desk.event(LIGHTING, event_id="900001", **reply)
    assert first and first[0].text == t("staff.done_reply", number=lamp.number)
    assert await desk.event(LIGHTING, event_id="900001", **reply) == []
    press: dict[str, Any] = {"kind": Kind.BUTTON, "payload": f"s:resolve:{lamp.id}"}
    assert await desk.event(LIGHTING, event_id="900002", **press)
    done: dict[str, Any] = {"kind": Kind.TEXT, "text": "Lamp replaced."}
    assert await desk.event(LIGHTING, event_id="900003", **done)
    assert await desk.event(LIGHTING, event_id="900003", **done) == []
    async with sessions() as session:
        req = await session.get(Request, lamp.id, populate_existing=True)
        assert req is not None and req.status is Status.RESOLVED
        events = await session.scalars(
            select(RequestEvent).where(RequestEvent.request_id == lamp.id)
        )
        kinds = Counter(e.kind for e in events)
    assert kinds[EventKind.REPLY] == 1 and kinds[EventKind.STATUS] == 1
