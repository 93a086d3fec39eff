"""Voice messages as a request's description (issue 14): many residents would rather speak
than type. Filed in Telegram and in Viber, over the fake servers, the audio reaches the
department's card as something Telegram plays, and the summary says what was attached."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.channels.viber.render import encode_payload
from bot.channels.viber.webhook import ViberChannel
from bot.config import Settings
from handlers.desk.engine import StaffDesk
from handlers.i18n import translator
from models.domain.outbox import enqueue
from models.domain.tables import Request
from tests.channels.test_viber import ViberBot, texts, welcome
from tests.channels.test_viber_updates import VIBER_RESIDENT, both_channels, viber_settings
from tests.delivery.test_delivery import drained, sender_for, worker
from tests.desk.test_export import export, read_csv
from tests.desk_settings import ADMIN, LIGHTING_CHAT, desk_settings
from tests.fakes import viber_server as cb
from tests.fakes.telegram_server import Call, FakeTelegramServer
from tests.fakes.viber_server import FakeViberServer, free_port
from tests.telegram_harness import running_bot

USER = 555_077
OGG = b"OggS\x00\x02 a resident speaking"


@pytest.fixture
async def servers() -> AsyncIterator[tuple[FakeTelegramServer, FakeViberServer]]:
    async with FakeTelegramServer() as tg, FakeViberServer() as vb:
        yield tg, vb


async def stored(sessions: async_sessionmaker[AsyncSession]) -> Request:
    async with sessions() as session:
        [req] = (await session.execute(select(Request))).scalars()
        return req


async def card_audio(tg: FakeTelegramServer, method: str) -> Call:
    [call] = await tg.wait_for(
        lambda c: (
            c.ok and c.method == method and str(c.params.get("chat_id")) == str(LIGHTING_CHAT)
        ),
        1,
        10,
    )
    return call


async def test_a_voice_message_filed_in_telegram_reaches_the_card_as_a_voice_message(
    servers: tuple[FakeTelegramServer, FakeViberServer],
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    tg, _ = servers
    cfg = desk_settings(settings, operators_chat=None)
    async with running_bot(tg, engine, sessions, cfg) as h:
        await h.step(USER, tg.message_update(USER, "/start"))
        await h.step(USER, tg.callback_update(USER, "lang:en"))
        await h.step(USER, tg.callback_update(USER, "menu:new"))
        await h.step(USER, tg.callback_update(USER, "cat:lighting"))
        await h.step(USER, tg.callback_update(USER, "sub:light_off"))
        [prompt] = await h.step(USER, tg.message_update(USER, "вул. Шевченка, 10"))
        assert "or send a voice message" in prompt
        await h.step(USER, tg.message_update(USER, voice=(OGG, 42)))
        await h.step(USER, tg.message_update(USER, "⏭ Skip"))
        summary = await h.step(USER, tg.message_update(USER, "⏭ Skip, stay anonymous"), 2)
        assert "🎤 voice message, 0:42" in summary[0], summary
        await h.step(USER, tg.callback_update(USER, "confirm"))
        voice = await card_audio(tg, "sendVoice")
        [card] = await tg.wait_for(
            lambda c: (
                c.ok
                and c.method == "sendMessage"
                and str(c.params.get("chat_id")) == str(LIGHTING_CHAT)
            ),
            1,
            10,
        )
    req = await stored(sessions)
    assert req.voice and req.voice_seconds == 42 and req.description == ""
    assert voice.params["voice"] == req.voice, "the resident's own voice note, by its file id"
    assert "Voice message, 0:42" in card.params["text"]
    # /export notes it: the voice message's length, in seconds.
    _, data, _ = await export(StaffDesk(sessions, cfg, translator()), ADMIN, "")
    [head, row] = read_csv(data)
    assert row[head.index("voice_seconds")] == "42"


@pytest.mark.parametrize("kind", ["file", "video"])
async def test_a_voice_message_filed_in_viber_reaches_the_card_as_audio(
    servers: tuple[FakeTelegramServer, FakeViberServer],
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    tmp_path: Path,
    kind: str,
) -> None:
    tg, vb = servers
    port = free_port()
    media_dir = tmp_path / "media"
    cfg = viber_settings(settings, port, media_dir=str(media_dir))
    cfg = cfg.model_copy(update={"staff": cfg.staff.model_copy(update={"operators_chat_id": None})})
    async with both_channels(servers, engine, sessions, cfg, port) as channels:
        [viber] = [c for c in channels if isinstance(c, ViberChannel)]
        bot = ViberBot(viber, vb, f"http://127.0.0.1:{port}/viber/webhook", media_dir)
        user = VIBER_RESIDENT
        await welcome(bot, user)
        await bot.step(cb.text_message(user, encode_payload("lang:en"), silent=True), user)
        await bot.press("menu:new", user)
        await bot.press("cat:lighting", user)
        await bot.press("sub:light_off", user)
        await bot.step(cb.text_message(user, "вул. Шевченка, 10"), user)
        if kind == "file":
            url = vb.add_media("voice.m4a", b"\x00\x00\x00\x18ftypM4A  spoken")
            spoken = cb.file_message(user, url, "Voice 2026-12-04.m4a")
        else:
            url = vb.add_media("note.mp4", b"\x00\x00\x00\x18ftypmp42 spoken")
            spoken = cb.video_message(user, url, duration=75)
        await bot.step(spoken, user)
        await bot.press("photos:done", user)
        sent = await bot.press("phone:skip", user)
        expected = "🎤 voice message" if kind == "file" else "🎤 voice message, 1:15"
        assert expected in texts(sent)[0], texts(sent)
        await bot.press("confirm", user)
        audio = await card_audio(tg, "sendAudio")
    [upload] = audio.files.values()
    assert upload.data.endswith(b"spoken")
    req = await stored(sessions)
    assert req.voice and req.voice.startswith("viber:")
    assert (media_dir / req.voice.split(":", 1)[1]).is_file()


async def test_a_spoken_comment_reaches_the_departments_chat_as_a_voice_message(
    servers: tuple[FakeTelegramServer, FakeViberServer],
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    """A voice message added to an open request: the department's chat gets it played, then
    the line saying whose request it is."""
    tg, _ = servers
    cfg = desk_settings(settings, operators_chat=None)
    tg.add_file("AwACAgIAAxkBspoken", OGG, "voice.ogg")
    async with sessions() as session, session.begin():
        enqueue(
            session,
            "telegram",
            str(LIGHTING_CHAT),
            {
                "event": "desk_comment",
                "number": "2026-000042",
                "text": "",
                "voice": "AwACAgIAAxkBspoken",
                "voice_seconds": 9,
                "lang": "en",
            },
        )
    sender = sender_for(tg)
    try:
        async with worker(sessions, cfg, sender):
            await drained(sessions, within=10)
    finally:
        await sender.bot.session.close()
    calls = [c for c in tg.calls if str(c.params.get("chat_id")) == str(LIGHTING_CHAT)]
    assert [c.method for c in calls] == ["sendVoice", "sendMessage"]
    assert calls[0].params["voice"] == "AwACAgIAAxkBspoken"
    assert "Voice message, 0:09" in calls[1].params["text"]
