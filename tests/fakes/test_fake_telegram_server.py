"""Tests of the fake Telegram Bot API server, driven by a real aiogram Bot over HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import SendMessage
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
)
from aiogram.utils.text_decorations import html_decoration, markdown_decoration
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from tests.fakes.telegram_server import FakeTelegramServer, visible_text

TOKEN = "123456:TEST-token"
USER = 1001
GROUP = -1001234567890


@pytest.fixture
async def srv() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer() as server:
        yield server


def make_bot(srv: FakeTelegramServer, timeout: float = 10.0) -> Bot:
    api = TelegramAPIServer.from_base(srv.base_url)
    return Bot(TOKEN, session=AiohttpSession(api=api, timeout=timeout))


@pytest.fixture
async def bot(srv: FakeTelegramServer) -> AsyncIterator[Bot]:
    bot = make_bot(srv)
    yield bot
    await bot.session.close()


def keyboard(*data: str) -> InlineKeyboardMarkup:
    buttons = [[InlineKeyboardButton(text=d[:10] or "?", callback_data=d)] for d in data]
    return InlineKeyboardMarkup(inline_keyboard=buttons)


# ---- happy paths


async def test_send_message_is_recorded_and_answered(srv: FakeTelegramServer, bot: Bot) -> None:
    first = await bot.send_message(USER, "<b>Hi</b> there", parse_mode="HTML")
    second = await bot.send_message(USER, "again", reply_markup=keyboard("a:1"))

    assert first.text == "Hi there"  # Telegram answers the text with entities parsed out
    assert first.chat.id == USER and first.chat.type == "private"
    assert first.from_user is not None and first.from_user.is_bot
    assert second.message_id == first.message_id + 1
    assert second.reply_markup is not None
    assert second.reply_markup.model_dump(exclude_none=True) == keyboard("a:1").model_dump(
        exclude_none=True
    )
    [call_1, call_2] = srv.calls_of("sendMessage")
    assert call_1.params == {"chat_id": USER, "text": "<b>Hi</b> there", "parse_mode": "HTML"}
    assert call_1.token == TOKEN and call_1.ok
    assert call_2.params["reply_markup"] == {
        "inline_keyboard": [[{"text": "a:1", "callback_data": "a:1"}]]
    }
    assert [p["text"] for p in srv.sent_messages(USER)] == ["<b>Hi</b> there", "again"]
    assert srv.sent_messages(GROUP) == []


async def test_get_me_parses_into_aiogram_user(bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.is_bot, me.first_name, me.username) == (
        123456,
        True,
        "CityBot",
        "city_test_bot",
    )
    assert me.can_join_groups is True


async def test_group_chat_location_and_photo(srv: FakeTelegramServer, bot: Bot) -> None:
    sent = await bot.send_location(GROUP, latitude=50.45, longitude=30.52)
    assert sent.chat.type == "supergroup"
    assert sent.location is not None and sent.location.latitude == 50.45

    photo = await bot.send_photo(
        USER, BufferedInputFile(b"\x89PNG...", "pothole.png"), caption="Pothole"
    )
    assert photo.photo is not None and photo.caption == "Pothole"
    file_id = photo.photo[-1].file_id
    again = await bot.send_photo(GROUP, file_id)  # resending by file_id works
    assert again.photo is not None and again.photo[-1].file_id == file_id


async def test_uploaded_document_can_be_read_back_and_downloaded(
    srv: FakeTelegramServer, bot: Bot
) -> None:
    csv = b"id,status\n1,open\n"
    message = await bot.send_document(USER, BufferedInputFile(csv, "report.csv"), caption="r")

    [call] = srv.calls_of("sendDocument")
    assert call.files["document"] == ("report.csv", csv)
    assert message.document is not None and message.document.file_name == "report.csv"
    file = await bot.get_file(message.document.file_id)
    assert file.file_path is not None
    downloaded = await bot.download_file(file.file_path)
    assert downloaded is not None and downloaded.read() == csv


async def test_user_photo_can_be_fetched_via_get_file(srv: FakeTelegramServer, bot: Bot) -> None:
    update = srv.push_update(srv.message_update(USER, photo=b"JPEGDATA", caption="here"))
    file_id = update["message"]["photo"][-1]["file_id"]
    file = await bot.get_file(file_id)
    assert file.file_path is not None
    downloaded = await bot.download_file(file.file_path)
    assert downloaded is not None and downloaded.read() == b"JPEGDATA"
    with pytest.raises(TelegramBadRequest, match="invalid file_id"):
        await bot.get_file("nope")


async def test_raw_json_and_form_bodies_case_insensitive_method(srv: FakeTelegramServer) -> None:
    markup = {"inline_keyboard": [[{"text": "ok", "callback_data": "ok"}]]}
    async with aiohttp.ClientSession() as http:
        url = f"{srv.base_url}/bot{TOKEN}/SENDMESSAGE"
        async with http.post(url, json={"chat_id": "1001", "text": "x", "reply_markup": markup}):
            pass
        form = {"chat_id": "@city_channel", "text": "y", "reply_markup": '{"remove_keyboard":true}'}
        async with http.post(url, data=form) as resp:
            body = await resp.json()
    assert body["ok"] is True and body["result"]["chat"]["type"] == "channel"
    json_call, form_call = srv.calls_of("sendMessage")
    assert json_call.params["chat_id"] == USER and json_call.params["reply_markup"] == markup
    assert form_call.params["reply_markup"] == {"remove_keyboard": True}


async def test_edit_answer_and_delete_flow(srv: FakeTelegramServer, bot: Bot) -> None:
    sent = await bot.send_message(USER, "Choose", reply_markup=keyboard("yes", "no"))
    update = srv.callback_update(USER, "yes")
    query = update["callback_query"]
    assert query["message"]["message_id"] == sent.message_id

    assert await bot.answer_callback_query(query["id"], text="Saved")
    with pytest.raises(TelegramBadRequest, match="query ID is invalid"):
        await bot.answer_callback_query(query["id"])

    edited = await bot.edit_message_text("Chosen: yes", chat_id=USER, message_id=sent.message_id)
    assert isinstance(edited, Message) and edited.text == "Chosen: yes"
    assert edited.reply_markup is None
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("Chosen: yes", chat_id=USER, message_id=sent.message_id)
    assert [m["text"] for m in srv.chat_history(USER)] == ["Chosen: yes"]

    assert await bot.delete_message(USER, sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(USER, sent.message_id)


async def test_user_message_can_be_copied_and_forwarded_to_staff(
    srv: FakeTelegramServer, bot: Bot
) -> None:
    update = srv.push_update(srv.message_update(USER, location=(50.4, 30.5)))
    mid = update["message"]["message_id"]

    copied = await bot.copy_message(GROUP, from_chat_id=USER, message_id=mid)
    forwarded = await bot.forward_message(GROUP, from_chat_id=USER, message_id=mid)
    assert forwarded.message_id == copied.message_id + 1
    assert forwarded.location is not None and forwarded.forward_origin is not None
    with pytest.raises(TelegramBadRequest, match="message can't be edited"):
        await bot.edit_message_text("x", chat_id=USER, message_id=mid)
    with pytest.raises(TelegramBadRequest, match="message to copy not found"):
        await bot.copy_message(GROUP, from_chat_id=USER, message_id=mid + 100)


async def test_commands_round_trip(bot: Bot) -> None:
    await bot.set_my_commands([BotCommand(command="new", description="New request")])
    assert [c.command for c in await bot.get_my_commands()] == ["new"]
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="New Request", description="x")])


# ---- what real Telegram refuses


async def test_callback_data_over_64_bytes_is_refused(srv: FakeTelegramServer, bot: Bot) -> None:
    await bot.send_message(USER, "ok", reply_markup=keyboard("x" * 64))
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(USER, "bad", reply_markup=keyboard("x" * 65))
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(USER, "bad", reply_markup=keyboard("ї" * 33))  # 66 bytes
    assert srv.calls[-1].status == 400 and len(srv.sent_messages()) == 1


async def test_text_length_is_counted_after_entity_parsing(bot: Bot) -> None:
    await bot.send_message(USER, "x" * 4096)
    await bot.send_message(USER, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(USER, "x" * 4097)
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(USER, "")
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(USER, "<b> </b>", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="caption is too long"):
        await bot.send_photo(USER, BufferedInputFile(b"img", "a.jpg"), caption="c" * 1025)
    with pytest.raises(TelegramBadRequest, match="too long"):
        await bot.answer_callback_query("1", text="t" * 201)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("<b>unclosed", 'Can\'t find end tag corresponding to start tag "b"'),
        ("line<br>break", 'Unsupported start tag "br"'),
        ("<b><i>x</b></i>", 'expected "</i>", found "</b>"'),
        ("1 < 2", "Can't find end of the tag at byte offset 2"),
        ("x <3 y>", 'Unsupported start tag "" at byte offset 2'),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler"'),
        ("x</b>", "Unexpected end tag"),
    ],
)
async def test_bad_html_is_refused(bot: Bot, text: str, error: str) -> None:
    with pytest.raises(TelegramBadRequest, match="can't parse entities") as exc:
        await bot.send_message(USER, text, parse_mode="HTML")
    assert error in exc.value.message


async def test_good_html_and_markdown_pass(bot: Bot) -> None:
    html = (
        "<b>b</b><strong>s</strong><i>i</i><u>u</u><s>s</s><tg-spoiler>x</tg-spoiler>"
        '<span class="tg-spoiler">y</span><a href="https://x.y/?a=1&amp;b=2">l</a>'
        '<code>c</code><pre><code class="language-python">p</code></pre>'
        "<blockquote expandable>q</blockquote> &lt;3 &#128512; a > b"
    )
    message = await bot.send_message(USER, html, parse_mode="HTML")
    assert message.text == "bsiusxylcpq <3 😀 a > b"
    md = "*bold* _it_ __u__ ~s~ ||sp|| [link](https://x.y/a\\)b) `co\\`de` \\. \\!"
    assert (await bot.send_message(USER, md, parse_mode="MarkdownV2")).text == (
        "bold it u s sp link co`de . !"
    )
    with pytest.raises(TelegramBadRequest, match=r"Character '\.' is reserved"):
        await bot.send_message(USER, "Done.", parse_mode="MarkdownV2")
    with pytest.raises(TelegramBadRequest, match="Can't find end of Bold entity"):
        await bot.send_message(USER, "*open", parse_mode="MarkdownV2")
    with pytest.raises(TelegramBadRequest, match="unsupported parse_mode"):
        await bot.send_message(USER, "x", parse_mode="html5")


async def test_keyboard_shape_is_checked(bot: Bot) -> None:
    no_action = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="x")]])
    with pytest.raises(TelegramBadRequest, match="Text buttons are unallowed"):
        await bot.send_message(USER, "x", reply_markup=no_action)
    two_actions = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="x", url="https://x.y", callback_data="x")]]
    )
    with pytest.raises(TelegramBadRequest, match="exactly one of"):
        await bot.send_message(USER, "x", reply_markup=two_actions)
    empty = ReplyKeyboardMarkup(keyboard=[[KeyboardButton(text=" ")]])
    with pytest.raises(TelegramBadRequest, match="text must be non-empty"):
        await bot.send_message(USER, "x", reply_markup=empty)


async def test_missing_required_and_bad_values(srv: FakeTelegramServer, bot: Bot) -> None:
    url = f"{srv.base_url}/bot{TOKEN}/sendMessage"
    async with aiohttp.ClientSession() as http, http.post(url, json={"text": "x"}) as resp:
        assert resp.status == 400
        assert (await resp.json())["description"] == "Bad Request: chat_id is empty"
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message("city_channel", "x")  # a username needs its "@"
    with pytest.raises(TelegramBadRequest, match="wrong file identifier"):
        await bot.send_photo(USER, "unknown-file-id")
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=USER, message_id=999)


async def test_unknown_method_is_404(srv: FakeTelegramServer) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{srv.base_url}/bot{TOKEN}/sendTelepathy", json={}) as resp:
            assert resp.status == 404
            assert await resp.json() == {
                "ok": False,
                "error_code": 404,
                "description": "Not Found",
            }
        async with http.post(f"{srv.base_url}/botnot-a-token/getMe") as resp:
            assert resp.status == 401
    assert srv.calls[0].method == "sendTelepathy" and srv.calls[0].status == 404


# ---- updates


async def test_long_poll_returns_as_soon_as_an_update_is_pushed(
    srv: FakeTelegramServer, bot: Bot
) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.2)
    assert not poll.done()
    started = time.monotonic()
    srv.push_update(srv.message_update(USER, text="/start"))
    updates = await asyncio.wait_for(poll, 2)
    assert time.monotonic() - started < 1.0
    [update] = updates
    assert update.message is not None and update.message.text == "/start"
    assert update.message.from_user is not None and update.message.from_user.id == USER

    # Not confirmed yet: returned again; confirmed by offset: gone.
    assert [u.update_id for u in await bot.get_updates()] == [update.update_id]
    assert await bot.get_updates(offset=update.update_id + 1) == []


async def test_long_poll_times_out_empty(bot: Bot) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == []
    assert 0.9 < time.monotonic() - started < 2.0


async def test_limit_and_allowed_updates(srv: FakeTelegramServer, bot: Bot) -> None:
    for i in range(3):
        srv.push_update(srv.message_update(USER, text=str(i)))
    srv.push_update(srv.callback_update(USER, "x"))
    assert len(await bot.get_updates(limit=2)) == 2
    updates = await bot.get_updates(allowed_updates=["callback_query"])
    assert [u.callback_query is not None for u in updates] == [True]


async def test_second_poller_conflicts(bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=3))
    await asyncio.sleep(0.1)
    second = asyncio.create_task(bot.get_updates(timeout=1))
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates"):
        await first
    assert await second == []


async def test_dispatcher_polling_end_to_end(srv: FakeTelegramServer, bot: Bot) -> None:
    dp = Dispatcher()

    @dp.message()
    async def echo(message: Message) -> None:
        await message.answer(f"echo: {message.text}")

    polling = asyncio.create_task(
        dp.start_polling(bot, handle_signals=False, close_bot_session=False, polling_timeout=1)
    )
    try:
        srv.push_update(srv.message_update(USER, text="ping"))
        [call] = await srv.wait_for("sendMessage")
        assert call.params == {"chat_id": USER, "text": "echo: ping"}
    finally:
        await dp.stop_polling()
        await polling


async def test_wait_for_times_out_with_the_recorded_calls(
    srv: FakeTelegramServer, bot: Bot
) -> None:
    await bot.get_me()
    with pytest.raises(AssertionError, match=r"(?s)sendPhoto.*getMe -> 200"):
        await srv.wait_for("sendPhoto", timeout=0.2)


# ---- webhook


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/hook"


async def test_webhook_delivery_carries_the_secret(srv: FakeTelegramServer, bot: Bot) -> None:
    seen: list[tuple[str | None, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        seen.append((request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json()))
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner, url = await serve(app)
    try:
        await bot.set_webhook(url, secret_token="s3cret_token")
        info = await bot.get_webhook_info()
        assert info.url == url
        with pytest.raises(TelegramConflictError, match="webhook is active"):
            await bot.get_updates()

        delivery = await srv.deliver_webhook(srv.message_update(USER, text="hi"))
        assert delivery.status == 200 and delivery.call is None
        [(secret, body)] = seen
        assert secret == "s3cret_token"
        assert body["message"]["text"] == "hi" and "update_id" in body
    finally:
        await runner.cleanup()
    with pytest.raises(TelegramBadRequest, match="HTTPS URL must be provided"):
        await bot.set_webhook("http://example.com/hook")
    with pytest.raises(TelegramBadRequest, match="unallowed characters"):
        await bot.set_webhook("https://example.com/hook", secret_token="has space")


async def test_webhook_response_method_is_recorded(srv: FakeTelegramServer, bot: Bot) -> None:
    dp = Dispatcher()

    @dp.message()
    async def reply_in_response(message: Message) -> SendMessage:
        return message.answer("Thanks, request received")

    app = web.Application()
    SimpleRequestHandler(dp, bot, handle_in_background=False, secret_token="right").register(
        app, path="/hook"
    )
    runner, url = await serve(app)
    try:
        await bot.set_webhook(url, secret_token="right")
        delivery = await srv.deliver_webhook(srv.message_update(USER, text="pothole"))
        assert delivery.status == 200 and delivery.call is not None
        assert delivery.call.via_webhook_response and delivery.call.ok
        assert delivery.call.method == "sendMessage"
        assert srv.sent_messages(USER) == [{"chat_id": USER, "text": "Thanks, request received"}]

        await bot.set_webhook(url, secret_token="wrong")
        assert (await srv.deliver_webhook(srv.message_update(USER, text="x"))).status == 401
    finally:
        await runner.cleanup()


# ---- faults and limits


async def test_fail_next_429_surfaces_as_retry_after(srv: FakeTelegramServer, bot: Bot) -> None:
    srv.fail_next("sendMessage", 2, 429, retry_after=7)
    for _ in range(2):
        with pytest.raises(TelegramRetryAfter) as exc:
            await bot.send_message(USER, "x")
        assert exc.value.retry_after == 7
    assert srv.calls[-1].response == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 7",
        "parameters": {"retry_after": 7},
    }
    await bot.send_message(USER, "x")
    assert (srv.stats.http_429, srv.stats.accepted) == (2, 1)


async def test_fail_chat_and_server_errors(srv: FakeTelegramServer, bot: Bot) -> None:
    srv.fail_chat(USER)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(USER, "x")
    await bot.send_message(USER + 1, "other users still get messages")
    srv.clear_faults()
    srv.fail_next("sendMessage", status=500)
    with pytest.raises(TelegramServerError):
        await bot.send_message(USER, "x")
    await bot.send_message(USER, "x")


async def test_random_faults_are_reproducible(srv: FakeTelegramServer, bot: Bot) -> None:
    async def outcomes() -> list[bool]:
        result = []
        for i in range(30):
            try:
                await bot.send_message(USER + i, "x")
                result.append(True)
            except (TelegramRetryAfter, TelegramServerError):
                result.append(False)
        return result

    srv.faults(rate=0.3, kinds=("429", "500"), seed=3)
    first = await outcomes()
    srv.faults(rate=0.3, kinds=("429", "500"), seed=3)
    assert await outcomes() == first
    assert 0 < first.count(False) < 30
    await bot.get_me()  # start-up calls are not hit by default


async def test_timeout_fault_delays_but_still_delivers(srv: FakeTelegramServer) -> None:
    impatient = make_bot(srv, timeout=0.3)
    try:
        srv.fail_next("sendMessage", status="timeout", delay=0.6)
        with pytest.raises(TelegramNetworkError):
            await impatient.send_message(USER, "slow")
        await srv.wait_for("sendMessage", timeout=2)
        assert srv.sent_messages(USER) == [{"chat_id": USER, "text": "slow"}]
    finally:
        await impatient.session.close()


async def test_enforced_flood_limits(srv: FakeTelegramServer, bot: Bot) -> None:
    srv.enforce_limits(global_per_s=3, per_chat_per_s=1, per_group_per_min=2)
    await bot.send_message(USER, "1")
    with pytest.raises(TelegramRetryAfter) as exc:
        await bot.send_message(USER, "2")
    assert exc.value.retry_after == 1
    await bot.send_message(GROUP, "g1")
    await bot.send_message(GROUP, "g2")
    with pytest.raises(TelegramRetryAfter) as exc:
        await bot.send_message(USER + 1, "global limit")
    with pytest.raises(TelegramRetryAfter) as exc:
        await bot.send_message(GROUP, "g3")
    assert 55 <= exc.value.retry_after <= 60
    await bot.get_me()  # not a message: not limited
    assert srv.stats.http_429 == 3
    assert srv.stats.by_method["sendMessage"] == 6


# ---- entity parsing agrees with aiogram's own escaping


@given(st.text())
def test_html_quote_round_trips(text: str) -> None:
    assert visible_text(html_decoration.quote(text), "HTML") == text


@given(st.text())
def test_markdown_v2_quote_round_trips(text: str) -> None:
    assert visible_text(markdown_decoration.quote(text), "MarkdownV2") == text
