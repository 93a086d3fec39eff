"""A topic per request in a forum group (issue 15): the card and the talk about a request in
its own topic, staff acting by writing there, the topic closed with the request and reopened
with it. Over the fake Bot API server (forum topics as Telegram documents them), the real bot
(polling), the outbox worker, a real database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import Settings
from handlers.i18n import to_plain
from models.domain.base import utcnow
from models.domain.lifecycle import card_refresh
from models.domain.residents import save_state
from models.domain.status import Status
from models.domain.tables import Request
from tests.desk_data import add_request
from tests.desk_settings import ADMIN, LIGHTING_CHAT, ROADS_CHAT, desk_settings
from tests.fakes.telegram_server import Call, FakeTelegramServer
from tests.telegram_harness import running_bot

ANNA, BOHDAN, ROADS_RESIDENT = 555_501, 555_502, 555_503
WAIT = 10.0


@pytest.fixture
async def srv() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer() as server:
        server.make_forum(LIGHTING_CHAT)  # lighting's group has topics on; roads' has not
        yield server


async def filed(
    sessions: async_sessionmaker[AsyncSession], cfg: Settings, resident: int, category: str
) -> Request:
    """A request filed as the dialog files it: stored, and its card queued for the groups."""
    req = await add_request(sessions, cfg, resident=str(resident), category=category, lang="uk")
    async with sessions() as session, session.begin():
        card_refresh(session, req, cfg.desk_chats(req.department), now=utcnow())
        assert req.resident_id is not None
        await save_state(session, req.resident_id, "menu", {}, [])  # back at the menu
    return req


def texts(messages: list[dict[str, Any]]) -> list[str]:
    return [to_plain(str(m.get("text") or m.get("caption") or "")) for m in messages]


async def until(srv: FakeTelegramServer, check: Any, what: str) -> None:
    """Wait for a state of the fake server (its calls are the clock)."""

    def done(_: Call) -> bool:
        return bool(check())

    await srv.wait_for(done, 1, WAIT)
    assert check(), what


def topic_of(srv: FakeTelegramServer, number: str) -> int:
    [thread] = [t for t, topic in srv.topics(LIGHTING_CHAT).items() if number in topic["name"]]
    return thread


async def test_each_request_gets_its_topic_and_staff_act_inside_it(
    srv: FakeTelegramServer,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    cfg = desk_settings(settings)
    anna = await filed(sessions, cfg, ANNA, "lighting")
    bohdan = await filed(sessions, cfg, BOHDAN, "lighting")
    roads = await filed(sessions, cfg, ROADS_RESIDENT, "roads")
    async with running_bot(srv, engine, sessions, cfg) as h:
        await until(srv, lambda: len(srv.topics(LIGHTING_CHAT)) == 2, "a topic per request")
        names = sorted(t["name"] for t in srv.topics(LIGHTING_CHAT).values())
        assert names[0].startswith(f"{anna.number} · ") and "lighting" in names[0].lower()
        a_thread, b_thread = topic_of(srv, anna.number), topic_of(srv, bohdan.number)
        await until(
            srv,
            lambda: any(
                anna.number in t for t in texts(srv.thread_messages(LIGHTING_CHAT, a_thread))
            ),
            "the card is in its topic",
        )
        assert not any(
            anna.number in t for t in texts(srv.thread_messages(LIGHTING_CHAT, b_thread))
        )

        # A plain message in Anna's topic is the department's reply to her.
        srv.push_update(
            srv.message_update(
                ADMIN, "Бригада виїде сьогодні", chat_id=LIGHTING_CHAT, thread=a_thread
            )
        )
        await h.wait_texts(ANNA, 1, wait=WAIT)
        assert "Бригада виїде сьогодні" in to_plain(srv.sent_messages(ANNA)[0]["text"])
        # A note among colleagues stays in the group.
        srv.push_update(
            srv.message_update(ADMIN, "// хто бере машину?", chat_id=LIGHTING_CHAT, thread=a_thread)
        )
        # What staff do elsewhere (a private chat) is logged in the topic.
        srv.push_update(srv.message_update(ADMIN, f"/needinfo {anna.number} Який номер опори?"))
        await h.wait_texts(ANNA, 2, wait=WAIT)
        await until(
            srv,
            lambda: any(
                f"{anna.number}: ❓" in t and "Який номер опори?" in t
                for t in texts(srv.thread_messages(LIGHTING_CHAT, a_thread))
            ),
            "the question is logged in the topic",
        )
        # A command there needs no number, and is answered in the topic.
        srv.push_update(
            srv.message_update(
                ADMIN, "/resolve Опору замінено", chat_id=LIGHTING_CHAT, thread=a_thread
            )
        )
        await h.wait_texts(ANNA, 3, wait=WAIT)
        assert "Опору замінено" in to_plain(srv.sent_messages(ANNA)[2]["text"])
        await until(srv, lambda: srv.topics(LIGHTING_CHAT)[a_thread]["closed"], "closed")
        in_topic = texts(srv.thread_messages(LIGHTING_CHAT, a_thread))
        # The topic holds the request's talk; what staff did in it is not logged twice.
        assert f"Your reply on {anna.number} was sent to the resident." in in_topic
        assert f"Request {anna.number}: ✅ resolved. The resident has been told." in in_topic
        assert not any("→ to the resident" in t for t in in_topic), in_topic
        assert sum(t.startswith("🔄 ") for t in in_topic) == 1  # the question asked elsewhere
        assert not srv.topics(LIGHTING_CHAT)[b_thread]["closed"]

        # Anna says it is not fixed: the request and its topic open again.
        srv.push_update(srv.callback_update(ANNA, f"fb:no:{anna.id}"))
        await until(srv, lambda: not srv.topics(LIGHTING_CHAT)[a_thread]["closed"], "reopened")

        # Roads' group has no topics: its card is in the group, and no running log.
        roads_messages = srv.chat_history(ROADS_CHAT)
        assert any(roads.number in t for t in texts(roads_messages))
        assert all("message_thread_id" not in m for m in roads_messages)
    assert len(srv.sent_messages(ANNA)) >= 4  # reply, question, resolution, reopening
    assert "хто бере машину" not in "\n".join(texts(srv.sent_messages(ANNA)))
    async with sessions() as session:
        row = await session.get(Request, anna.id)
    assert row is not None and row.status is Status.REOPENED


async def test_without_the_right_to_manage_topics_the_group_gets_cards_as_before(
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    cfg = desk_settings(settings)
    async with FakeTelegramServer() as srv:
        srv.make_forum(LIGHTING_CHAT, can_manage_topics=False)
        req = await filed(sessions, cfg, ANNA, "lighting")
        async with running_bot(srv, engine, sessions, cfg):
            await until(
                srv,
                lambda: any(req.number in t for t in texts(srv.chat_history(LIGHTING_CHAT))),
                "the card is posted",
            )
        refused = [c for c in srv.calls_of("createForumTopic") if not c.ok]
    assert refused and "not enough rights" in str(refused[0].response)
    assert srv.topics(LIGHTING_CHAT) == {}
