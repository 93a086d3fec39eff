"""A resident files a request in Telegram, end to end: the fake Bot API server on 127.0.0.1,
the real bot in polling and in webhook mode, a real database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import Settings
from models.domain.status import Status
from models.domain.tables import Photo, Request
from tests.fakes.telegram_server import FakeTelegramServer
from tests.telegram_harness import Harness, running_bot

USER = 555001


@pytest.fixture
async def srv() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer() as server:
        yield server


async def file_request(h: Harness, user: int = USER) -> str:
    s = h.srv
    first = await h.step(user, s.message_update(user, "/start"))
    assert "Choose your language" in first[0]
    # The language's confirmation, the welcome and the menu: one message, not three.
    [welcome] = await h.step(user, s.callback_update(user, "lang:en"))
    assert "Language: English." in welcome and "What would you like to do?" in welcome
    assert "New request" in str(s.sent_messages(user)[-1]["reply_markup"])
    texts = await h.step(user, s.callback_update(user, "menu:new"))
    assert "What is it about" in texts[0]
    await h.step(user, s.callback_update(user, "cat:lighting"))
    texts = await h.step(user, s.callback_update(user, "sub:light_off"))
    assert "Where is the problem" in texts[0]
    markup = s.sent_messages(user)[-1]["reply_markup"]
    assert markup["keyboard"][0][0]["request_location"] is True  # the phone's location button
    texts = await h.step(user, s.message_update(user, location=(47.9105, 33.3918)))
    assert "Describe the problem" in texts[0]
    await h.step(user, s.message_update(user, "Ліхтар не світить <b>тиждень</b> & більше"))
    await h.step(user, s.message_update(user, photo=b"\xff\xd8jpeg-bytes"))
    await h.step(user, s.message_update(user, "✅ Done"))  # the input keyboard sends its label
    markup = s.sent_messages(user)[-1]["reply_markup"]
    assert markup["keyboard"][0][0]["request_contact"] is True
    summary = await h.step(user, s.message_update(user, contact=("+380671234567", user)), 2)
    # What the resident typed is escaped: Telegram shows it as typed, never as markup.
    assert "&lt;b&gt;тиждень&lt;/b&gt; &amp; більше" in summary[0]
    assert s.sent_messages(user)[-2]["reply_markup"] == {"remove_keyboard": True}
    [done] = await h.step(user, s.callback_update(user, "confirm"))
    assert "New request" in str(s.sent_messages(user)[-1]["reply_markup"])  # and the menu
    return done


async def to_the_photos(h: Harness) -> None:
    """From /start, in English, to the photo step of a lighting request."""
    s = h.srv
    await h.step(USER, s.message_update(USER, "/start"))
    await h.step(USER, s.callback_update(USER, "lang:en"))
    await h.step(USER, s.callback_update(USER, "menu:new"))
    await h.step(USER, s.callback_update(USER, "cat:lighting"))
    await h.step(USER, s.callback_update(USER, "sub:light_off"))
    await h.step(USER, s.message_update(USER, "вул. Шевченка, 10"))
    await h.step(USER, s.message_update(USER, "Ліхтар не світить тиждень"))


async def stored(sessions: async_sessionmaker[AsyncSession]) -> list[Request]:
    async with sessions() as session:
        return list((await session.execute(select(Request))).scalars())


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_resident_files_a_request_in_telegram(
    mode: str,
    srv: FakeTelegramServer,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    async with running_bot(srv, engine, sessions, settings, mode) as h:
        confirmation = await file_request(h)
        answers = srv.calls_of("answerCallbackQuery")
        assert answers and all(c.ok for c in answers), "button spinners are stopped"
        if mode == "webhook":  # …inside the webhook's HTTP answer: no extra Bot API call
            assert all(c.via_webhook_response for c in answers)
        menus = srv.calls_of("setMyCommands")
        assert menus and all(c.ok for c in menus), [str(c) for c in menus]
        resident_menu = [c["command"] for c in menus[0].params["commands"]]
        assert "new" in resident_menu and "queue" not in resident_menu
    rows = await stored(sessions)
    assert len(rows) == 1
    req = rows[0]
    assert req.number in confirmation
    assert (req.category, req.subcategory, req.department) == ("lighting", "light_off", "lighting")
    assert req.channel == "telegram" and req.status is Status.NEW
    assert req.phone == "+380671234567"
    assert req.latitude == pytest.approx(47.9105) and req.longitude == pytest.approx(33.3918)
    assert req.description == "Ліхтар не світить <b>тиждень</b> & більше"
    # The text the resident typed came back escaped, never as markup Telegram would parse.
    assert all(c.ok for c in srv.calls if c.method == "sendMessage"), [
        str(c) for c in srv.calls if not c.ok
    ]


async def test_webhook_refuses_a_wrong_secret(
    srv: FakeTelegramServer,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    async with running_bot(srv, engine, sessions, settings, "webhook") as h:
        update = srv.message_update(USER, "/start")
        update["update_id"] = 1
        async with aiohttp.ClientSession() as http:
            for headers in ({"X-Telegram-Bot-Api-Secret-Token": "wrong"}, {}):
                async with http.post(
                    h.webhook_url + "/telegram/webhook", json=update, headers=headers
                ) as resp:
                    assert resp.status in (401, 403)
        assert srv.sent_messages(USER) == []
    async with sessions() as session:
        from models.domain.tables import Resident

        count = (await session.execute(select(func.count()).select_from(Resident))).scalar_one()
    assert count == 0


async def test_a_redelivered_update_is_handled_once(
    srv: FakeTelegramServer,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    async with running_bot(srv, engine, sessions, settings, "webhook") as h:
        update = srv.message_update(USER, "/start")
        update["update_id"] = 4242
        await h.step(USER, update)
        assert (await srv.deliver_webhook(update)).status == 200  # Telegram re-sends it
        await h.step(USER, srv.callback_update(USER, "lang:en"))
        texts = h.bot_texts(USER)
    assert sum("Choose your language" in t for t in texts) == 1


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_an_answer_telegram_throttles_is_waited_out_not_lost(
    mode: str,
    srv: FakeTelegramServer,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    """Issue 12: while a fan-out keeps Telegram busy, a resident's next step met a 429 and
    they never saw its answer. Now the answer waits as Telegram asks and arrives, once; the
    webhook is answered 200 (never a 500 that would make Telegram send the update again).
    After a 429 the webhook's own HTTP answer is not used for a while: Telegram drops a
    throttled method there without telling the bot."""
    async with running_bot(srv, engine, sessions, settings, mode) as h:
        await h.step(USER, srv.message_update(USER, "/start"))
        srv.fail_next("sendMessage", 1, 429, retry_after=1)
        [welcome] = await h.step(USER, srv.callback_update(USER, "lang:en"))
        assert "What would you like to do?" in welcome
        srv.fail_next("sendMessage", 1, 429, retry_after=1)
        [categories] = await h.step(USER, srv.message_update(USER, "/new"))
        assert "What is it about" in categories
        throttled = [c for c in srv.calls_of("sendMessage") if c.status == 429]
        assert len(throttled) == 2 and not any(c.via_webhook_response for c in throttled)
        assert len(h.bot_texts(USER)) == 3  # each answer once


async def test_an_album_is_kept_whole_with_one_answer(
    srv: FakeTelegramServer,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    """Three photos sent at once as an album: all three are kept, the resident gets one answer
    ("3 photos"), not three, and the department's card shows them as one album."""
    async with running_bot(srv, engine, sessions, settings, "polling") as h:
        s = h.srv
        await to_the_photos(h)
        before = len(s.sent_messages(USER))
        for i in range(3):
            h.srv.push_update(
                s.message_update(USER, photo=f"album-photo-{i}".encode(), media_group_id="A1")
            )
        [answer] = (await h.wait_texts(USER, before + 1))[before:]
        assert "3 photos" in answer, answer
        await asyncio.sleep(1.2)  # the album's quiet time: no further answer comes
        assert len(s.sent_messages(USER)) == before + 1
        await h.step(USER, s.message_update(USER, "✅ Done"))
        await h.step(USER, s.message_update(USER, contact=("+380671234567", USER)), 2)
        await h.step(USER, s.callback_update(USER, "confirm"))
    async with sessions() as session:
        [req] = (await session.execute(select(Request))).scalars()
        photos = await session.scalar(select(func.count()).select_from(Photo))
    assert req.number and photos == 3


async def test_an_album_spread_over_two_workers_gets_one_answer(
    srv: FakeTelegramServer,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    """Behind a reverse proxy an album's photos may reach different workers: the worker that
    handled the album's last photo answers, the other stays silent."""
    async with running_bot(srv, engine, sessions, settings, "webhook"):
        url_a = srv.calls_of("setWebhook")[-1].params["url"]
        async with running_bot(srv, engine, sessions, settings, "webhook") as b:
            url_b = srv.calls_of("setWebhook")[-1].params["url"]
            assert url_a != url_b
            s = b.srv
            await to_the_photos(b)
            before = len(s.sent_messages(USER))
            for i, url in enumerate((url_a, url_b, url_a)):
                photo = s.message_update(USER, photo=f"spread-{i}".encode(), media_group_id="A2")
                await s.deliver_webhook(photo, url=url)
            [answer] = (await b.wait_texts(USER, before + 1))[before:]
            assert "3 photos" in answer, answer
            await asyncio.sleep(1.2)
            assert len(s.sent_messages(USER)) == before + 1, b.bot_texts(USER)[before:]
