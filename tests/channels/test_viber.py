"""A resident in Viber, end to end: the fake Viber REST API and the bot's webhook both on
127.0.0.1 over real HTTP, a real database; plus the rendering rules on their own."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload
from viberbot.api.viber_requests import create_request

from bot.channels.base import Channel
from bot.channels.telegram.channel import build as telegram_channel
from bot.channels.viber.callbacks import parse_message, to_incoming
from bot.channels.viber.client import (
    MESSAGE_LIMIT,
    NotSubscribed,
    ViberClient,
    ViberError,
    message_size,
)
from bot.channels.viber.render import (
    COLUMNS,
    PAYLOAD_MARKER,
    TEXT_LIMIT,
    decode_payload,
    encode_payload,
    layout,
    render_keyboards,
    render_replies,
    render_reply,
    split_text,
)
from bot.channels.viber.sender import ViberSender
from bot.channels.viber.settings import ViberSettings
from bot.channels.viber.spec import build as viber_channel
from bot.channels.viber.spec import viber_webhook
from bot.channels.viber.webhook import ViberChannel
from bot.config import ConfigError, Env, Settings, parse_settings
from bot.delivery import PermanentFailure, RecipientGone, TemporaryFailure
from bot.media import MediaStore
from bot.runner import receiving
from handlers.dialog.conversation import Conversation, FloodGuard
from handlers.types import Button, ButtonKind, Keyboard, Kind, Reply
from models.domain.tables import Request, Resident, SeenUpdate
from tests.chat import say
from tests.fakes import viber_server as cb
from tests.fakes.telegram_server import FakeTelegramServer
from tests.fakes.viber_server import TOKEN, FakeViberServer, free_port
from tests.telegram_harness import make_app

USER = "dGVzdC11c2VyLTE="
JPEG = b"\xff\xd8\xff\xe0" + b"a pothole, seen from above" * 40 + b"\xff\xd9"


@pytest.fixture
async def srv() -> AsyncIterator[FakeViberServer]:
    async with FakeViberServer() as server:
        yield server


def viber_settings(settings: Settings, tmp_path: Path) -> ViberSettings:
    return settings.viber.model_copy(
        update={"media_dir": str(tmp_path / "media"), "webhook_url": "https://bot.example.org"}
    )


def make_client(srv: FakeViberServer, token: str = TOKEN) -> ViberClient:
    return ViberClient(token, srv.base_url, name="Kryvyi Rih 1520")


@dataclass
class ViberBot:
    channel: ViberChannel
    srv: FakeViberServer
    url: str
    media_dir: Path

    async def post(self, body: dict[str, Any], signature: str | None = None) -> tuple[int, Any]:
        """Deliver a callback as Viber does and wait until the bot has answered it."""
        result = await self.srv.post_callback(self.url, body, signature=signature)
        await self.channel.idle()
        return result

    async def step(self, body: dict[str, Any], user: str = USER) -> list[dict[str, Any]]:
        """A callback from ``user``; the messages the bot sent them for it."""
        before = len(self.srv.sent_to(user))
        status, _ = await self.post(body)
        assert status == 200
        return self.srv.sent_to(user)[before:]

    def keyboard(self, user: str = USER) -> list[dict[str, Any]]:
        """The buttons on the user's screen: those of the last message that had a keyboard."""
        for message in reversed(self.srv.sent_to(user)):
            if "keyboard" in message:
                return list(message["keyboard"]["Buttons"])
        return []

    async def press(self, payload: str, user: str = USER) -> list[dict[str, Any]]:
        """Tap the button with this payload: Viber sends its ActionBody back as a text."""
        bodies = [b["ActionBody"] for b in self.keyboard(user)]
        body = encode_payload(payload)
        assert body in bodies, f"{payload!r} not among {[decode_payload(b) for b in bodies]}"
        return await self.step(cb.text_message(user, body, silent=True), user)


async def start_bot(
    srv: FakeViberServer, conversation: Conversation, vb: ViberSettings, **kw: Any
) -> tuple[ViberBot, web.AppRunner]:
    channel = ViberChannel(make_client(srv), conversation, conversation.tr, vb, **kw)
    web_app = web.Application()
    channel.mount(web_app)
    runner = web.AppRunner(web_app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    url = f"http://127.0.0.1:{port}{vb.webhook_path}"
    return ViberBot(channel, srv, url, Path(vb.media_dir)), runner


@pytest.fixture
async def bot(
    srv: FakeViberServer, conversation: Conversation, settings: Settings, tmp_path: Path
) -> AsyncIterator[ViberBot]:
    harness, runner = await start_bot(srv, conversation, viber_settings(settings, tmp_path))
    try:
        yield harness
    finally:
        await runner.cleanup()


def texts(messages: list[dict[str, Any]]) -> list[str]:
    return [str(m["text"]) for m in messages if m.get("type") == "text"]


async def requests(sessions: async_sessionmaker[AsyncSession]) -> list[Request]:
    async with sessions() as session:
        stmt = select(Request).options(selectinload(Request.photos))
        return list((await session.execute(stmt)).scalars())


async def resident(sessions: async_sessionmaker[AsyncSession], user: str = USER) -> Resident:
    async with sessions() as session:
        found = (
            await session.execute(select(Resident).where(Resident.external_id == user))
        ).scalar_one()
        return found


async def count(sessions: async_sessionmaker[AsyncSession], model: type[Any]) -> int:
    async with sessions() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


# --- the resident's journey -----------------------------------------------------------------


async def welcome(bot: ViberBot, user: str = USER) -> dict[str, Any]:
    status, answer = await bot.post(cb.conversation_started(user, language="en"))
    assert status == 200
    assert isinstance(answer, dict)
    return answer


async def to_summary(bot: ViberBot, address: str = "вул. Соборності, 10") -> None:
    """From the menu (the language chosen) to the summary with its Confirm, typed answers
    only."""
    await bot.press("menu:new")
    await bot.press("cat:lighting")
    await bot.press("sub:light_off")
    await bot.step(cb.text_message(USER, address))
    await bot.step(cb.text_message(USER, "Не світить ліхтар біля під'їзду вже тиждень"))
    await bot.press("photos:done")
    await bot.press("phone:skip")


async def file_request(bot: ViberBot) -> list[dict[str, Any]]:
    """From opening the chat to the confirmation; the messages of the last step."""
    answer = await welcome(bot)
    assert "Choose your language" in answer["text"]
    assert "receiver" not in answer and answer["sender"]["name"] == "Kryvyi Rih 1520"
    buttons = answer["keyboard"]["Buttons"]
    assert [decode_payload(b["ActionBody"]) for b in buttons] == ["lang:uk", "lang:ru", "lang:en"]
    assert bot.srv.calls_of("send_message") == [], "the welcome is the callback's answer"

    # The first message subscribes them; it is the tap on "English".
    sent = await bot.step(cb.text_message(USER, encode_payload("lang:en"), silent=True))
    assert texts(sent)[0] == say("language.set")
    assert "keyboard" in sent[-1] and all("keyboard" not in m for m in sent[:-1])
    await bot.press("menu:new")
    await bot.press("cat:lighting")
    sent = await bot.press("sub:light_off")
    assert texts(sent)[0].startswith("Where is the problem")
    picker = [b for b in bot.keyboard() if b["ActionType"] == "location-picker"]
    assert len(picker) == 1 and sent[-1]["min_api_version"] == 3

    sent = await bot.step(cb.location_message(USER, 47.9105, 33.3918))
    assert texts(sent)[0].startswith("Describe the problem")
    await bot.step(cb.text_message(USER, "Ліхтар не світить <b>тиждень</b> & більше"))

    photo = cb.picture_message(USER, bot.srv.add_media("pothole.jpg", JPEG))
    sent = await bot.step(photo)
    assert "1 photo added" in texts(sent)[0]
    saved = bot.media_dir / "viber" / f"{photo['message_token']}.jpg"
    assert saved.read_bytes() == JPEG

    sent = await bot.press("photos:done")
    share = [b for b in bot.keyboard() if b["ActionType"] == "share-phone"]
    assert len(share) == 1 and sent[-1]["min_api_version"] == 3
    sent = await bot.step(cb.contact_message(USER, "380671234567"))
    summary = "\n".join(texts(sent))
    # Viber has no markup: what the resident typed comes back exactly as typed.
    assert "Ліхтар не світить <b>тиждень</b> & більше" in summary
    assert say("new.confirm_question") in summary
    return await bot.press("confirm")


async def test_resident_files_a_request_in_viber(
    bot: ViberBot, sessions: async_sessionmaker[AsyncSession]
) -> None:
    confirmation = texts(await file_request(bot))
    rows = await requests(sessions)
    assert len(rows) == 1
    req = rows[0]
    assert req.number in confirmation[0]
    assert req.channel == "viber"
    assert (req.category, req.subcategory) == ("lighting", "light_off")
    assert req.phone == "+380671234567"
    assert req.latitude == pytest.approx(47.9105) and req.longitude == pytest.approx(33.3918)
    assert req.description == "Ліхтар не світить <b>тиждень</b> & більше"
    assert len(req.photos) == 1
    ref = req.photos[0].file_ref
    assert ref.startswith("viber:") and (bot.media_dir / ref.removeprefix("viber:")).is_file()

    # My requests: the list names the request.
    sent = await bot.press("menu:my")
    assert "My requests" in texts(sent)[0]
    labels = [b["Text"] for b in bot.keyboard()]
    assert any(req.number in label for label in labels)

    refused = [c for c in bot.srv.calls if not c.ok]
    assert refused == [], refused
    assert (await resident(sessions)).blocked_at is None


async def test_a_retried_callback_is_answered_once(
    bot: ViberBot, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await welcome(bot)
    tap = cb.text_message(USER, encode_payload("lang:en"), silent=True)
    first = await bot.step(tap)
    assert first
    assert await bot.step(tap) == [], "the same message_token again: no second answer"
    await to_summary(bot)
    confirm = cb.text_message(USER, encode_payload("confirm"), silent=True)
    assert await bot.step(confirm)
    assert await bot.step(confirm) == []
    assert len(await requests(sessions)) == 1


async def test_callbacks_without_the_right_signature_are_refused(
    bot: ViberBot, sessions: async_sessionmaker[AsyncSession]
) -> None:
    for body in (cb.conversation_started(USER), cb.text_message(USER, "hello")):
        for signature in ("bad", "", "0" * 64):
            status, _ = await bot.post(body, signature=signature)
            assert status == 403
    assert bot.srv.calls == []
    assert await count(sessions, Resident) == 0
    assert await count(sessions, SeenUpdate) == 0


async def test_failed_delivered_seen_and_unknown_events_are_answered(
    bot: ViberBot, caplog: pytest.LogCaptureFixture
) -> None:
    failed = cb.failed(USER, message_token=5_123_456_789)
    with pytest.raises(KeyError):
        create_request(failed)  # the viberbot trap: real "failed" callbacks have no desc
    with pytest.raises(Exception, match="client_status"):
        create_request(cb.client_status(USER))
    with caplog.at_level(logging.DEBUG, logger="bot.channels.viber"):
        for body in (failed, cb.client_status(USER), cb.delivered(USER), cb.seen(USER)):
            status, _ = await bot.post(body)
            assert status == 200
    assert any("5123456789" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    assert bot.srv.calls == []


async def test_unsubscribed_residents_are_marked_and_not_written_to(
    bot: ViberBot, srv: FakeViberServer, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await welcome(bot)
    assert (await resident(sessions)).blocked_at is not None, "opened the chat, not subscribed"
    await bot.post(cb.subscribed(USER))
    assert (await resident(sessions)).blocked_at is None
    await bot.post(cb.unsubscribed(USER))
    assert (await resident(sessions)).blocked_at is not None
    await bot.post(cb.subscribed(USER))
    assert (await resident(sessions)).blocked_at is None

    # Viber refuses them (status 6): the channel marks them, the outbox hears "gone".
    srv.unsubscribe(USER)
    await bot.channel.send(USER, [Reply("Your request was answered")])
    assert srv.sent_to(USER) == []
    assert (await resident(sessions)).blocked_at is not None
    with pytest.raises(RecipientGone):
        await ViberSender(bot.channel.client).send(USER, Reply("again"))


async def test_a_subscribed_user_opening_the_chat_gets_no_second_welcome(bot: ViberBot) -> None:
    status, answer = await bot.post(cb.conversation_started(USER, subscribed=True))
    assert (status, answer) == (200, None)


async def test_a_picture_that_cannot_be_had_is_asked_again(
    srv: FakeViberServer, conversation: Conversation, settings: Settings, tmp_path: Path
) -> None:
    vb = viber_settings(settings, tmp_path)
    harness, runner = await start_bot(srv, conversation, vb, photo_max_bytes=100)
    try:
        await welcome(harness)
        gone = await harness.step(cb.picture_message(USER, f"{srv.url}/media/expired.jpg"))
        big = await harness.step(cb.picture_message(USER, srv.add_media("big.jpg", JPEG)))
        for sent in (gone, big):
            assert texts(sent) == [say("viber.photo_failed", "uk", limit=1)]
        assert not (tmp_path / "media" / "viber").exists()
    finally:
        await runner.cleanup()


async def test_viber_and_telegram_share_one_web_app(
    srv: FakeViberServer,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    tmp_path: Path,
) -> None:
    port = free_port()
    tg = settings.telegram.model_copy(
        update={"mode": "webhook", "webhook_url": f"http://127.0.0.1:{port}", "listen_port": port}
    )
    settings = settings.model_copy(
        update={"telegram": tg, "viber": viber_settings(settings, tmp_path)}
    )
    async with FakeTelegramServer() as tg_srv:
        app = make_app(tg_srv, engine, sessions, settings)
        app.env = app.env.model_copy(
            update={"viber_auth_token": SecretStr(TOKEN), "viber_api_base": srv.base_url}
        )
        media = MediaStore()
        channels: list[Channel] = [telegram_channel(app, media), viber_channel(app, media)]
        async with receiving(app, channels):
            status, answer = await srv.post_callback(
                f"http://127.0.0.1:{port}/viber/webhook", cb.conversation_started(USER)
            )
            assert status == 200 and "Choose your language" in answer["text"]
            update = tg_srv.message_update(777, "/start")
            assert (await tg_srv.deliver_webhook(update)).status == 200


# --- the HTTP client and the outbox's sender ------------------------------------------------


async def test_client_errors_are_typed(srv: FakeViberServer) -> None:
    client = make_client(srv)
    text = {"type": "text", "text": "hi"}
    try:
        tokens = await client.send(USER, [text, text])
        assert len(tokens) == 2 and all(tokens)
        sent = srv.sent_to(USER)[0]
        assert sent["sender"] == {"name": "Kryvyi Rih 1520"} and sent["min_api_version"] == 1

        srv.fail_next(12)
        with pytest.raises(ViberError) as err:
            await client.send(USER, [text])
        assert (err.value.status, err.value.retryable) == (12, True)

        srv.fail_http(500)
        with pytest.raises(ViberError) as err:
            await client.send(USER, [text])
        assert err.value.retryable

        srv.unsubscribe("gone==")
        with pytest.raises(NotSubscribed) as gone:
            await client.send("gone==", [text])
        assert gone.value.status == 6 and not gone.value.retryable

        with pytest.raises(ViberError) as err:
            await client.send(USER, [{"type": "text", "text": "x" * (TEXT_LIMIT + 1)}])
        assert err.value.status == 3 and not err.value.retryable
    finally:
        await client.close()
    wrong = make_client(srv, token="not-the-token")
    try:
        with pytest.raises(ViberError) as err:
            await wrong.send(USER, [text])
        assert (err.value.status, err.value.retryable) == (2, False)
    finally:
        await wrong.close()


async def test_sender_maps_viber_errors_to_delivery_outcomes(srv: FakeViberServer) -> None:
    client = make_client(srv)
    sender = ViberSender(client)
    try:
        assert await sender.send(USER, Reply("Status: <b>in progress</b>"))
        assert srv.texts_to(USER) == ["Status: in progress"]
        srv.fail_next(12)
        with pytest.raises(TemporaryFailure):
            await sender.send(USER, Reply("x"))
        srv.fail_http(503)
        with pytest.raises(TemporaryFailure):
            await sender.send(USER, Reply("x"))
        srv.fail_next(3)
        with pytest.raises(PermanentFailure):
            await sender.send(USER, Reply("x"))
    finally:
        await client.close()


async def test_set_and_unset_webhook(
    srv: FakeViberServer, bot: ViberBot, settings: Settings, tmp_path: Path
) -> None:
    env = Env(viber_auth_token=TOKEN, viber_api_base=srv.base_url)
    # Viber checks the URL with a signed "webhook" callback: the running bot answers it.
    srv.allow_http_webhook = True
    # (model_copy does not validate: bot.toml itself would refuse an http:// URL)
    local_vb = settings.viber.model_copy(
        update={"webhook_url": bot.url.removesuffix("/viber/webhook")}
    )
    local = settings.model_copy(update={"viber": local_vb})
    message = await viber_webhook(env, local)
    assert bot.url in message
    call = srv.calls_of("set_webhook")[-1]
    assert call.ok and call.body["url"] == bot.url
    assert set(call.body["event_types"]) >= {"conversation_started", "unsubscribed", "failed"}
    assert call.body["send_name"] is True
    assert srv.webhook["url"] == bot.url

    await viber_webhook(env, local, unset=True)
    assert srv.calls_of("set_webhook")[-1].body == {"url": ""} and srv.webhook == {}

    no_url = settings.model_copy(update={"viber": ViberSettings()})
    with pytest.raises(ConfigError):
        await viber_webhook(env, no_url)
    with pytest.raises(ConfigError):
        await viber_webhook(Env(), local)


def test_cli_needs_the_token(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    from bot.__main__ import main

    monkeypatch.delenv("VIBER_AUTH_TOKEN", raising=False)
    monkeypatch.setenv("BOT_CONFIG", str(Path(__file__).resolve().parents[2] / "bot.toml"))
    assert main(["viber", "set-webhook"]) == 2
    assert "VIBER_AUTH_TOKEN" in capsys.readouterr().err


# --- configuration --------------------------------------------------------------------------


def test_viber_configuration(settings: Settings) -> None:
    data: dict[str, Any] = {
        "city": settings.city.model_dump(),
        "contacts": settings.contacts.model_dump(),
        "departments": [d.model_dump() for d in settings.departments],
        "categories": [c.model_dump() for c in settings.categories],
    }
    assert parse_settings(data).viber.webhook_path == "/viber/webhook"
    bad = {**data, "viber": {"webhook_url": "http://bot.example.org"}}
    with pytest.raises(ConfigError, match="https"):
        parse_settings(bad)
    with pytest.raises(ConfigError, match="min_api_version"):
        parse_settings({**data, "viber": {"min_api_version": 0}})
    ok = parse_settings({**data, "viber": {"webhook_url": "https://bot.example.org/"}})
    assert ok.viber.full_webhook_url() == "https://bot.example.org/viber/webhook"
    env = Env.from_environ({"VIBER_AUTH_TOKEN": "abc", "VIBER_API_BASE": "http://127.0.0.1:1/pa"})
    assert env.viber_auth_token is not None and env.viber_auth_token.get_secret_value() == "abc"
    assert env.viber_api_base == "http://127.0.0.1:1/pa"
    assert Env.from_environ({}).viber_api_base == "https://chatapi.viber.com/pa"


# --- rendering and parsing, on their own ------------------------------------------------------


def b(label: str, payload: str = "", kind: ButtonKind = ButtonKind.CALLBACK) -> Button:
    return Button(label, payload or f"p:{label}"[:40], kind)


def widths(rows: list[list[Button]]) -> list[list[int]]:
    return [[w for _, w in line] for line in layout(rows)]


def test_buttons_share_the_six_columns() -> None:
    assert widths([[b("One")]]) == [[6]]
    assert widths([[b("Back"), b("Cancel")]]) == [[3, 3]]
    assert widths([[b("Yes"), b("No"), b("Maybe")]]) == [[2, 2, 2]]
    assert widths([[b("1"), b("2"), b("3"), b("4")]]) == [[3, 3], [3, 3]]
    assert widths([[b("1"), b("2"), b("3"), b("4"), b("5")]]) == [[2, 2, 2], [3, 3]]
    long = "🏠 Residential building and its yard"
    assert widths([[b(long), b("Back")]]) == [[6], [6]], "a long label gets a line of its own"
    assert widths([[b("Only one")], [], [b("A"), b("B")]]) == [[6], [3, 3]]


@given(
    st.lists(
        st.lists(st.text(min_size=1, max_size=40), min_size=0, max_size=7),
        min_size=0,
        max_size=8,
    )
)
def test_every_line_fills_six_columns_and_keeps_every_button(rows: list[list[str]]) -> None:
    buttons = [
        [Button(label, f"p:{i}:{j}") for j, label in enumerate(r)] for i, r in enumerate(rows)
    ]
    lines = layout(buttons)
    assert all(sum(w for _, w in line) == COLUMNS for line in lines)
    assert all(1 <= w <= COLUMNS for line in lines for _, w in line)
    assert [x for line in lines for x, _ in line] == [x for row in buttons for x in row]


def test_a_button_rendered_for_viber() -> None:
    (keyboard,) = render_keyboards(
        [
            [b("📍 Send location", "loc", ButtonKind.REQUEST_LOCATION)],
            [b("📞 Share <my> phone", "contact", ButtonKind.REQUEST_CONTACT)],
            [b("Back", "nav:back"), b("Cancel", "nav:cancel")],
        ]
    )
    assert keyboard["Type"] == "keyboard" and keyboard["DefaultHeight"] is False
    loc, phone, back, cancel = keyboard["Buttons"]
    assert (loc["ActionType"], phone["ActionType"], back["ActionType"]) == (
        "location-picker",
        "share-phone",
        "reply",
    )
    assert phone["Text"] == "📞 Share &lt;my&gt; phone"  # Viber reads button texts as HTML
    assert back["ActionBody"] == PAYLOAD_MARKER + "nav:back" and back["Silent"] is True
    assert "Silent" not in loc and loc["ActionBody"]  # the picker needs some ActionBody
    assert [x["Columns"] for x in (loc, phone, back, cancel)] == [6, 6, 3, 3]
    assert all(x["BgColor"] and x["Rows"] == 1 for x in (loc, phone, back, cancel))


def test_payloads_must_fit_action_body() -> None:
    assert decode_payload(encode_payload("req:42")) == "req:42"
    assert decode_payload("req:42") is None
    with pytest.raises(ValueError):
        encode_payload("x" * 250)


async def test_thirty_buttons_go_out_as_one_keyboard_viber_accepts(srv: FakeViberServer) -> None:
    """Viber documents no number of buttons (its limits are per button and 30 KB a message):
    a list the core did not page still goes as one keyboard, the only one Viber shows."""
    rows = [[b(f"Request 2026-{i:06d}", f"req:{i}")] for i in range(30)]
    messages = render_reply(Reply("Pick one", rows))
    boards = [m["keyboard"] for m in messages if "keyboard" in m]
    assert len(messages) == 1 and len(boards) == 1
    payloads = [decode_payload(x["ActionBody"]) for k in boards for x in k["Buttons"]]
    assert payloads == [f"req:{i}" for i in range(30)], "no button is dropped"
    client = make_client(srv)
    try:
        await client.send(USER, messages)
    finally:
        await client.close()
    assert all(c.ok for c in srv.calls)


async def test_long_texts_are_split_under_the_limits(srv: FakeViberServer) -> None:
    line = "Рядок тексту українською, досить довгий, щоб рахувати байти. " * 3
    text = "\n".join(f"{i}. {line}" for i in range(200))
    parts = list(split_text(text))
    assert len(parts) > 1 and all(len(p) <= TEXT_LIMIT for p in parts)
    assert "\n".join(parts) == text
    assert list(split_text("x" * 15000)) == ["x" * 7000, "x" * 7000, "x" * 1000]

    reply = Reply(text, [[b("Back", "nav:back")]])
    messages = render_reply(reply)
    assert all(message_size(m) < MESSAGE_LIMIT for m in messages)
    assert "keyboard" in messages[-1] and all("keyboard" not in m for m in messages[:-1])
    client = make_client(srv)
    try:
        await client.send(USER, messages)
    finally:
        await client.close()
    assert all(c.ok for c in srv.calls) and len(srv.sent_to(USER)) == len(messages)
    assert "".join(srv.texts_to(USER)).replace("\n", "") == text.replace("\n", "")


def test_reply_rendering_order_and_carried_keyboard() -> None:
    menu = [[b("Menu", "nav:menu")]]
    card = Reply(
        "Request <b>2026-000001</b> &amp; more",
        menu,
        photos=["https://media.example.org/a.jpg", "viber:viber/1.jpg", "AgACAgIAAxkBAAI"],
        latitude=47.9,
        longitude=33.4,
    )
    messages = render_reply(card)
    assert [m["type"] for m in messages] == ["picture", "text", "location"]
    assert messages[1]["text"] == "Request 2026-000001 & more"
    assert messages[2]["location"] == {"lat": 47.9, "lon": 33.4} and "keyboard" in messages[2]

    batch = render_replies([Reply("Choose", menu), Reply("(a hint)")])
    assert batch[1]["keyboard"] == batch[0]["keyboard"], "the buttons stay on the screen"
    gone = render_replies(
        [
            Reply("Send location", menu, keyboard=Keyboard.INPUT),
            Reply("Thanks", remove_input_keyboard=True),
        ]
    )
    assert "keyboard" not in gone[1]
    assert render_replies([Reply("", menu)]) == [{"keyboard": render_keyboards(menu)[0]}], (
        "a keyboard alone"
    )


def test_callbacks_become_incoming_events() -> None:
    def incoming(body: dict[str, Any]) -> Any:
        return to_incoming(parse_message(json.loads(json.dumps(body))))

    tap = incoming(cb.text_message(USER, encode_payload("menu:new")))
    assert (tap.kind, tap.payload, tap.channel, tap.user_id) == (
        Kind.BUTTON,
        "menu:new",
        "viber",
        USER,
    )
    assert incoming(cb.text_message(USER, "/Start now")).command == "start"
    typed = incoming(cb.text_message(USER, "вул. Соборності, 10"))
    assert (typed.kind, typed.text, typed.language_hint, typed.name) == (
        Kind.TEXT,
        "вул. Соборності, 10",
        "uk",
        "Olena",
    )
    loc = incoming(cb.location_message(USER, 47.91, 33.39))
    assert (loc.kind, loc.latitude, loc.longitude) == (Kind.LOCATION, 47.91, 33.39)
    contact = incoming(cb.contact_message(USER, "380671234567"))
    assert (contact.kind, contact.phone, contact.contact_is_own) == (
        Kind.CONTACT,
        "380671234567",
        True,
    )
    sticker = cb.text_message(USER, "")
    sticker["message"] = {"type": "sticker", "sticker_id": 46105}
    assert incoming(sticker).kind is Kind.OTHER
    poll = cb.text_message(USER, "")
    poll["message"] = {"type": "poll", "question": "?"}  # a type viberbot does not know
    assert incoming(poll).kind is Kind.OTHER
    picture = parse_message(cb.picture_message(USER, "https://dl.viber.com/x.jpg", "caption"))
    ev = to_incoming(picture, "viber:viber/1.jpg")
    assert (ev.kind, ev.photo, ev.text) == (Kind.PHOTO, "viber:viber/1.jpg", "caption")


@pytest.fixture
async def patient_bot(
    srv: FakeViberServer,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    tmp_path: Path,
) -> AsyncIterator[ViberBot]:
    """A bot whose flood guard lets one person send forty messages in a row."""
    conversation = Conversation(sessions, settings, flood=FloodGuard(limit=100_000))
    harness, runner = await start_bot(srv, conversation, viber_settings(settings, tmp_path))
    try:
        yield harness
    finally:
        await runner.cleanup()


async def test_a_captured_callback_replayed_later_does_nothing(
    patient_bot: ViberBot, sessions: async_sessionmaker[AsyncSession]
) -> None:
    bot = patient_bot
    """Issue 17, break 6: a validly signed Confirm, captured and replayed after thirty newer
    events, filed a second request. Now its token is remembered for 48 hours however many events
    come in between, and a callback stamped outside the replay window is refused outright."""
    await welcome(bot)
    await bot.step(cb.text_message(USER, encode_payload("lang:en"), silent=True))
    await to_summary(bot)
    confirm = cb.text_message(USER, encode_payload("confirm"), silent=True)
    assert await bot.step(confirm)
    for i in range(30):
        await bot.step(cb.text_message(USER, f"/help {i}"))
    # The same draft again, so that a replayed Confirm would have something to file.
    await bot.press("nav:menu")
    await to_summary(bot, "вул. Соборності, 12")
    assert await bot.step(confirm) == []
    assert len(await requests(sessions)) == 1
    # A fresh token but an old stamp (or one from the future): refused before anything is read.
    window = bot.channel.settings.replay_window_seconds
    for offset in (window + 60, -3600):
        stale = cb.text_message(USER, encode_payload("confirm"), silent=True)
        stale["timestamp"] = int((time.time() - offset) * 1000)
        assert await bot.step(stale) == []
    for missing in (None, "soon", True):
        odd = cb.text_message(USER, encode_payload("confirm"), silent=True)
        odd["timestamp"] = missing
        assert await bot.step(odd) == []
    assert len(await requests(sessions)) == 1
    # The draft is still there: the next real Confirm files it.
    assert await bot.step(cb.text_message(USER, encode_payload("confirm"), silent=True))
    assert len(await requests(sessions)) == 2
