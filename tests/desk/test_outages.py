"""Known outages (issue 11): staff declare one for a street; residents typing an address on it,
however they spell it, are told before filing and may subscribe instead; ending it tells every
subscriber in their language. Over the fake Bot API server: the real bot (polling), the outbox
worker, a real database (both, in CI)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import Settings
from handlers.i18n import to_plain
from models.domain.staff import Role
from models.domain.tables import Request
from tests.desk_data import add_staff
from tests.desk_settings import ADMIN, desk_settings
from tests.fakes.telegram_server import FakeTelegramServer
from tests.telegram_harness import Harness, running_bot

OLENA, IVAN, PETRO = 555_601, 555_602, 555_603
ROADS_STAFF = 700_061
WAIT = 10.0


@pytest.fixture
async def srv() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer() as server:
        yield server


def texts(h: Harness, user: int) -> list[str]:
    return [to_plain(str(m["text"])) for m in h.srv.sent_messages(user)]


async def told(h: Harness, user: int, update: dict[str, object]) -> list[str]:
    """What the bot answers one update (all of it, once it has stopped answering)."""
    before = len(h.srv.sent_messages(user))
    h.srv.push_update(update)
    await h.wait_texts(user, before + 1, wait=WAIT)
    return texts(h, user)[before:]


async def to_address(h: Harness, user: int, lang: str) -> None:
    srv = h.srv
    await told(h, user, srv.message_update(user, "/start"))
    for payload in (f"lang:{lang}", "menu:new", "cat:heating", "sub:no_heating"):
        await told(h, user, srv.callback_update(user, payload))
    # Heating's extra questions (bot.toml): the whole building, since today.
    for payload in ("q:scope:building", "q:since:today"):
        await told(h, user, srv.callback_update(user, payload))


async def test_a_resident_at_a_known_outage_is_told_and_subscribes_instead_of_filing(
    srv: FakeTelegramServer,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    cfg = desk_settings(settings)
    await add_staff(sessions, ROADS_STAFF, Role.DEPARTMENT, "roads")
    async with running_bot(srv, engine, sessions, cfg) as h:
        declared = await told(
            h,
            ADMIN,
            srv.message_update(
                ADMIN,
                "/outage heating +6h вул. Соборності ; Пошкоджено тепломережу, бригади працюють",
            ),
        )
        assert "Outage no. 1 declared" in declared[0], declared
        # Roads' staff may not declare one for heating.
        refused = await told(
            h, ROADS_STAFF, srv.message_update(ROADS_STAFF, "/outage heating +6h Шевченка ; x y z")
        )
        assert "only for your department" in refused[0]

        # Olena types the street the Russian way, with a flat: told first, with the button.
        await to_address(h, OLENA, "uk")
        said = await told(h, OLENA, srv.message_update(OLENA, "ул. Соборности, д. 12, кв. 5"))
        assert "Місто вже знає" in said[0] and "Пошкоджено тепломережу" in said[0], said
        await h.wait_texts(OLENA, len(srv.sent_messages(OLENA)) + 1, wait=WAIT)
        notice = srv.sent_messages(OLENA)[-2]
        [[button]] = notice["reply_markup"]["inline_keyboard"]
        assert button["callback_data"] == "out:sub:1"
        done = await told(h, OLENA, srv.callback_update(OLENA, "out:sub:1"))
        assert "Звернення не подано" in done[0]

        # Ivan, in Russian, at another house of the street: the same.
        await to_address(h, IVAN, "ru")
        said = await told(h, IVAN, srv.message_update(IVAN, "Соборності 3-А"))
        assert "Город уже знает" in said[0]
        await told(h, IVAN, srv.callback_update(IVAN, "out:sub:1"))

        # Petro lives on another street: no notice, the filing goes on.
        await to_address(h, PETRO, "en")
        said = await told(h, PETRO, srv.message_update(PETRO, "вул. Свободи, 3"))
        assert not any("already knows" in s for s in said)

        listing = await told(h, ADMIN, srv.message_update(ADMIN, "/outages"))
        assert "No. 1" in listing[0] and "subscribers: 2" in listing[0], listing

        had = {user: len(srv.sent_messages(user)) for user in (OLENA, IVAN)}
        ended = await told(h, ADMIN, srv.message_update(ADMIN, "/outage end 1 Тепло подано"))
        assert "residents told: 2" in ended[0]
        await h.wait_texts(OLENA, had[OLENA] + 1, wait=WAIT)
        await h.wait_texts(IVAN, had[IVAN] + 1, wait=WAIT)
        assert texts(h, OLENA)[-1].startswith("✅") and "аварію усунено" in texts(h, OLENA)[-1]
        assert "Тепло подано" in texts(h, OLENA)[-1]
        assert "авария устранена" in texts(h, IVAN)[-1]
        again = await told(h, ADMIN, srv.message_update(ADMIN, "/outage end 1"))
        assert "No outage no. 1 is on" in again[0]
    async with sessions() as session:
        filed = await session.scalar(select(func.count()).select_from(Request))
    assert filed == 0, "nobody filed a request"
