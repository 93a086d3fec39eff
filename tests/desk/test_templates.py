"""Ready answers (issue 15): staff write #name after /reply, /resolve… and each resident gets
it in their own language with the request's number, address and deadline filled in. Over the
fake Bot API server: the real bot (polling), the outbox worker, a real database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import Settings, parse_settings
from handlers.i18n import to_plain
from models.domain.staff import Role
from models.domain.tables import Request
from tests.desk_data import add_request, add_staff
from tests.desk_settings import ADMIN, desk_settings
from tests.fakes.telegram_server import FakeTelegramServer
from tests.telegram_harness import Harness, running_bot

RESIDENTS = {"uk": 555_301, "ru": 555_302, "en": 555_303}
ROADS = 700_031  # a roads department member: the heating department's template is not theirs
WAIT = 10.0


@pytest.fixture
async def srv() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer() as server:
        yield server


async def staff_says(h: Harness, user: int, line: str, count: int = 1) -> str:
    """What the bot answers a staff member's line (``count`` messages)."""
    before = len(h.srv.sent_messages(user))
    h.srv.push_update(h.srv.message_update(user, line))
    await h.wait_texts(user, before + count, wait=WAIT)
    return "\n".join(to_plain(str(m["text"])) for m in h.srv.sent_messages(user)[before:])


async def resident_gets(h: Harness, user: int, count: int) -> str:
    await h.wait_texts(user, count, wait=WAIT)
    return to_plain(str(h.srv.sent_messages(user)[count - 1]["text"]))


async def test_a_ready_answer_reaches_each_resident_in_their_language(
    srv: FakeTelegramServer,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    cfg = desk_settings(settings)
    filed: dict[str, Request] = {}
    for lang, user in RESIDENTS.items():
        filed[lang] = await add_request(
            sessions,
            cfg,
            resident=str(user),
            category="heating",
            subcategory="no_heating",
            address=f"вул. Соборності, {user % 100}",
            lang=lang,
        )
    await add_staff(sessions, ROADS, Role.DEPARTMENT, "roads")
    async with running_bot(srv, engine, sessions, cfg) as h:
        for lang, user in RESIDENTS.items():
            req = filed[lang]
            done = await staff_says(h, ADMIN, f"/reply {req.number} #frozen_pipe")
            assert req.number in done
            got = await resident_gets(h, user, 1)
            address = f"вул. Соборності, {user % 100}"
            expected = {
                "uk": f"Бригада вже відігріває замерзлу трубу за адресою {address}.",
                "ru": f"Бригада уже отогревает замёрзшую трубу по адресу {address}.",
                "en": f"A crew is thawing the frozen pipe at {address}.",
            }[lang]
            assert expected in got, got
            assert "{" not in got  # every placeholder filled in

        # A card's Resolve button, its prompt answered with #name (in a private chat).
        uk = filed["uk"]
        srv.push_update(srv.callback_update(ADMIN, f"s:resolve:{uk.id}"))
        await h.wait_texts(ADMIN, len(srv.sent_messages(ADMIN)) + 1, wait=WAIT)
        await staff_says(h, ADMIN, "#crew_sent")
        via_card = await resident_gets(h, RESIDENTS["uk"], 2)
        assert f"Звернення {uk.number}: бригаду служби «Теплопостачання» направлено" in via_card

        # The same after /resolve, with a global template; typed text still works.
        en = filed["en"]
        await staff_says(h, ADMIN, f"/resolve {en.number} #crew_sent")
        resolved = await resident_gets(h, RESIDENTS["en"], 2)
        assert f"Request {en.number}: a Heat supply crew has been sent to" in resolved
        await staff_says(h, ADMIN, f"/reply {en.number} Typed by hand, #not_a_template")
        assert "Typed by hand, #not_a_template" in await resident_gets(h, RESIDENTS["en"], 3)

        # An unknown name: nothing goes to the resident, the staff member gets the list.
        said = await staff_says(h, ADMIN, f"/reply {en.number} #frozen_pipes", count=2)
        assert "There is no ready answer #frozen_pipes" in said
        assert "#frozen_pipe —" in said and "#crew_sent —" in said
        listing = await staff_says(h, ADMIN, "/templates")
        assert "#need_photo —" in listing and "Heat supply" in listing
        # A roads department member sees the global answers, not the heating department's.
        theirs = await staff_says(h, ROADS, "/templates")
        assert "#crew_sent —" in theirs and "#frozen_pipe" not in theirs
    assert len(srv.sent_messages(RESIDENTS["en"])) == 3


def test_a_template_with_an_unknown_placeholder_is_refused(settings: Settings) -> None:
    data = settings.model_dump(mode="json")
    data["templates"] = {
        "oops": {"uk": "До {deadlin}", "ru": "До {deadline}", "en": "By {deadline}"}
    }
    with pytest.raises(Exception, match=r"templates\.oops\.uk.*unknown placeholder \{deadlin\}"):
        parse_settings(data)
    data["templates"] = {"Bad-Name": {"uk": "a", "ru": "a", "en": "a"}}
    with pytest.raises(Exception, match="templates"):
        parse_settings(data)
