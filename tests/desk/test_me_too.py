""" "This is my problem too" (issue 11): five residents report one broken lamp at one address,
typed five ways; one request, four subscribers, one card whose count is edited in place; the
resolution reaches all five, each in their language, with "Is it fixed?"; one "No" reopens it
and the department is told. Over the fake Bot API server: the real bot (polling), the outbox
worker, a real database (both, in CI)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import Settings
from handlers.i18n import to_plain
from models.domain.base import utcnow
from models.domain.lifecycle import card_refresh
from models.domain.residents import save_state
from models.domain.status import Status
from models.domain.tables import Request, RequestSubscriber
from tests.desk_data import add_request
from tests.desk_settings import ADMIN, LIGHTING_CHAT, desk_settings
from tests.fakes.telegram_server import Call, FakeTelegramServer
from tests.telegram_harness import Harness, running_bot

FILED_BY = 555_701
# Who else reports it, in which language, and how they type the address.
OTHERS = {
    555_702: ("ru", "ул. Соборности, д. 12"),
    555_703: ("en", "Соборності 12, кв. 40"),
    555_704: ("uk", "вулиця Соборності, буд. 12"),
    555_705: ("ru", "соборности 12 подъезд 2"),
}
WAIT = 10.0


@pytest.fixture
async def srv() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer() as server:
        yield server


def plain(h: Harness, user: int) -> list[str]:
    return [to_plain(str(m["text"])) for m in h.srv.sent_messages(user)]


async def answered(h: Harness, user: int, update: dict[str, object], count: int = 1) -> None:
    before = len(h.srv.sent_messages(user))
    h.srv.push_update(update)
    await h.wait_texts(user, before + count, wait=WAIT)


def cards(srv: FakeTelegramServer) -> list[Call]:
    return [
        c
        for c in srv.calls
        if c.ok and c.method == "sendMessage" and c.params.get("chat_id") == LIGHTING_CHAT
    ]


async def test_five_reports_of_one_problem_are_one_request_with_four_subscribers(
    srv: FakeTelegramServer,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    cfg = desk_settings(settings)
    req = await add_request(
        sessions,
        cfg,
        resident=str(FILED_BY),
        category="lighting",
        subcategory="light_off",
        address="вул. Соборності, 12",
        description="Не світить ліхтар біля під'їзду",
        lang="uk",
    )
    async with sessions() as session, session.begin():
        card_refresh(session, req, cfg.desk_chats(req.department), now=utcnow())
        assert req.resident_id is not None
        await save_state(session, req.resident_id, "menu", {}, [])
    async with running_bot(srv, engine, sessions, cfg) as h:
        for user, (lang, address) in OTHERS.items():
            await answered(h, user, srv.message_update(user, "/start"))
            for payload in (f"lang:{lang}", "menu:new", "cat:lighting", "sub:light_off"):
                await answered(h, user, srv.callback_update(user, payload))
            # The address: the open request there is offered, then the next question.
            await answered(h, user, srv.message_update(user, address), count=2)
            offer = srv.sent_messages(user)[-2]
            assert req.number in to_plain(offer["text"]), plain(h, user)
            payloads = [b["callback_data"] for [b] in offer["reply_markup"]["inline_keyboard"]]
            assert payloads == [f"near:join:{req.id}", "near:no"]
            await answered(h, user, srv.callback_update(user, f"near:join:{req.id}"), count=2)
            joined, menu = plain(h, user)[-2:]
            assert req.number in joined and menu, plain(h, user)

        # One card, its count edited in place.
        await srv.wait_for(
            lambda c: (
                c.ok
                and c.method == "editMessageText"
                and c.params.get("chat_id") == LIGHTING_CHAT
                and "Also reported by: 4" in to_plain(str(c.params.get("text")))
            ),
            1,
            WAIT,
        )
        assert len(cards(srv)) == 1

        # Staff resolve it: all five are told, each in their language, and asked.
        await answered(h, ADMIN, srv.message_update(ADMIN, f"/resolve {req.number} Лампу замінено"))
        everyone = [FILED_BY, *OTHERS]

        def asked(user: int) -> bool:
            sent = srv.sent_messages(user)
            if not sent:
                return False
            last = sent[-1]
            data = [
                b["callback_data"]
                for row in last.get("reply_markup", {}).get("inline_keyboard", [])
                for b in row
            ]
            return data == [f"fb:yes:{req.id}", f"fb:no:{req.id}"]

        await srv.wait_for(lambda c: all(asked(u) for u in everyone), 1, WAIT)
        question = {u: to_plain(srv.sent_messages(u)[-1]["text"]) for u in everyone}
        assert "вирішено" in question[FILED_BY] and "вирішено" in question[555_704]
        assert "решено" in question[555_702] and "resolved" in question[555_703]

        # One subscriber's "Yes" closes nothing; another's "No" reopens it.
        await answered(h, 555_703, srv.callback_update(555_703, f"fb:yes:{req.id}"))
        await answered(h, 555_705, srv.callback_update(555_705, f"fb:no:{req.id}"))
        await srv.wait_for(
            lambda c: (
                c.ok
                and c.params.get("chat_id") == LIGHTING_CHAT
                and "NOT fixed" in str(c.params.get("text"))
            ),
            1,
            WAIT,
        )
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Request)) == 1
        followers = await session.scalar(
            select(func.count()).where(RequestSubscriber.request_id == req.id)
        )
        row = await session.get(Request, req.id)
    assert followers == 4
    assert row is not None and row.status is Status.REOPENED


async def test_staff_merge_reports_into_one_incident_by_command_and_by_the_card(
    srv: FakeTelegramServer,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    cfg = desk_settings(settings)
    filed = {}
    for user, lang, address in (
        (555_711, "uk", "вул. Соборності, 12"),
        (555_712, "ru", "Соборности угол Мира"),  # typed so no building matches it
        (555_713, "en", "near the school on Sobornosti"),
    ):
        filed[user] = await add_request(
            sessions, cfg, resident=str(user), category="lighting", address=address, lang=lang
        )
    main, by_command, by_card = filed.values()
    async with running_bot(srv, engine, sessions, cfg) as h:
        await answered(
            h, ADMIN, srv.message_update(ADMIN, f"/merge {main.number} {by_command.number}")
        )
        assert f"Merged into {main.number}: {by_command.number}" in plain(h, ADMIN)[-1]
        # The card's "Duplicate of…", its question answered with the main request's number.
        await answered(h, ADMIN, srv.callback_update(ADMIN, f"s:dup:{by_card.id}"))
        await answered(h, ADMIN, srv.message_update(ADMIN, main.number))
        assert f"Merged into {main.number}: {by_card.number}" in plain(h, ADMIN)[-1]
        await h.wait_texts(555_712, 1, wait=WAIT)
        await h.wait_texts(555_713, 1, wait=WAIT)
        assert "объединены" in plain(h, 555_712)[0] and main.number in plain(h, 555_712)[0]
        assert "were merged" in plain(h, 555_713)[0]
        # A change of the main request now reaches all three.
        await answered(h, ADMIN, srv.message_update(ADMIN, f"/resolve {main.number} Done"))
        for user in filed:
            await h.wait_texts(user, 1 if user == 555_711 else 2, wait=WAIT)
        assert "resolved" in plain(h, 555_713)[-1] and "Done" in plain(h, 555_713)[-1]
        # /stats counts the incident once, and its followers apart.
        await answered(h, ADMIN, srv.message_update(ADMIN, "/stats"))
        said = plain(h, ADMIN)[-1]
        assert "Street lighting: 1\n" in said, said  # three reports, one incident
        assert "2 residents joined a request already filed; 2 duplicates merged" in said, said
        # Merging again is refused: the duplicates are closed.
        await answered(
            h, ADMIN, srv.message_update(ADMIN, f"/merge {main.number} {by_card.number}")
        )
        assert "no longer open" in plain(h, ADMIN)[-1]
    async with sessions() as session:
        rows = {r.id: r for r in (await session.scalars(select(Request))).all()}
    assert rows[by_command.id].status is Status.CLOSED
    assert rows[by_command.id].duplicate_of_id == rows[by_card.id].duplicate_of_id == main.id
