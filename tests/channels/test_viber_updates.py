"""A Viber resident gets what a department does in Telegram: the staff act in the fake
Telegram server, the outbox delivers through the fake Viber server, in the resident's language."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.channels.base import Channel
from bot.channels.telegram.channel import build as telegram_channel
from bot.channels.viber.client import ViberClient
from bot.channels.viber.markup import looks_like
from bot.channels.viber.render import decode_payload
from bot.channels.viber.sender import ViberSender
from bot.channels.viber.webhook import ViberChannel
from bot.config import Settings
from bot.delivery import Sender
from bot.media import MediaStore
from bot.runner import build_channels, delivering, receiving, run
from handlers.i18n import to_plain
from tests.channels.test_viber import JPEG, ViberBot, file_request
from tests.desk_data import add_request
from tests.desk_settings import ADMIN, LIGHTING_CHAT, desk_settings
from tests.fakes.telegram_server import FakeTelegramServer
from tests.fakes.viber_server import TOKEN as VIBER_TOKEN
from tests.fakes.viber_server import FakeViberServer, free_port
from tests.telegram_harness import make_app

VIBER_RESIDENT = "01234567890A=="
PUBLIC = "https://bot.example.org"


@pytest.fixture
async def servers() -> AsyncIterator[tuple[FakeTelegramServer, FakeViberServer]]:
    async with FakeTelegramServer() as tg, FakeViberServer() as vb:
        yield tg, vb


@contextlib.asynccontextmanager
async def both_channels(
    servers: tuple[FakeTelegramServer, FakeViberServer],
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    cfg: Settings,
    port: int,
) -> AsyncIterator[list[Channel]]:
    """The whole bot (``run``) with Telegram and Viber on: its web server on ``port``."""
    tg, vb = servers
    app = make_app(tg, engine, sessions, cfg)
    app.env = app.env.model_copy(
        update={"viber_auth_token": SecretStr(VIBER_TOKEN), "viber_api_base": vb.base_url}
    )
    channels = build_channels(app)
    running = asyncio.create_task(run(app, channels))
    try:
        await tg.wait_for("getMe")
        yield channels
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


def viber_settings(settings: Settings, port: int, **viber: str) -> Settings:
    cfg = desk_settings(settings)
    return cfg.model_copy(
        update={
            "telegram": cfg.telegram.model_copy(update={"listen_port": port}),
            "viber": cfg.viber.model_copy(update={"webhook_url": PUBLIC, **viber}),
        }
    )


async def test_a_staff_action_in_telegram_reaches_the_viber_resident(
    servers: tuple[FakeTelegramServer, FakeViberServer],
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    tg, vb = servers
    cfg = desk_settings(settings)
    req = await add_request(
        sessions, cfg, resident=VIBER_RESIDENT, category="lighting", channel="viber", lang="uk"
    )
    app = make_app(tg, engine, sessions, cfg)
    channel = telegram_channel(app, MediaStore())
    client = ViberClient(VIBER_TOKEN, vb.base_url, name="Контакт-центр")
    senders: dict[str, Sender] = {"telegram": channel.sender(), "viber": ViberSender(client)}
    try:
        async with receiving(app, [channel]), delivering(app, senders):
            await tg.wait_for("getMe")
            tg.push_update(tg.message_update(ADMIN, f"/resolve {req.number} Лампу замінено"))
            calls = await vb.wait_for(lambda c: c.body.get("receiver") == VIBER_RESIDENT, 1, 10)
    finally:
        await client.close()
    message = calls[0].body
    assert "вирішено" in message["text"] and "Лампу замінено" in message["text"]
    payloads = {decode_payload(b["ActionBody"]) for b in message["keyboard"]["Buttons"]}
    assert payloads == {f"fb:yes:{req.id}", f"fb:no:{req.id}"}  # "Is it fixed?" in Viber too


async def test_a_viber_residents_photo_reaches_the_department_card_in_telegram(
    servers: tuple[FakeTelegramServer, FakeViberServer],
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    tmp_path: Path,
) -> None:
    """Regression: with ``[viber] media_dir`` not the default, the photo a resident sent in
    Viber silently vanished from the card the department gets in Telegram."""
    tg, vb = servers
    port = free_port()
    media_dir = tmp_path / "elsewhere" / "photos"
    cfg = viber_settings(settings, port, media_dir=str(media_dir), name="Kryvyi Rih 1520")
    async with both_channels(servers, engine, sessions, cfg, port) as channels:
        [viber] = [c for c in channels if isinstance(c, ViberChannel)]
        resident = ViberBot(viber, vb, f"http://127.0.0.1:{port}/viber/webhook", media_dir)
        await file_request(resident)
        [card] = await tg.wait_for(
            lambda c: (
                c.ok
                and c.method in ("sendPhoto", "sendMediaGroup")
                and str(c.params.get("chat_id")) == str(LIGHTING_CHAT)
            ),
            1,
            10,
        )
    [upload] = card.files.values()
    assert upload.data == JPEG


async def test_a_departments_photo_of_the_fix_reaches_the_viber_resident(
    servers: tuple[FakeTelegramServer, FakeViberServer],
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    tmp_path: Path,
) -> None:
    """Viber shows a picture only from a URL it fetches: the staff member's Telegram photo is
    fetched once, kept, and served by the bot under a signed URL (bot/channels/viber/media.py)."""
    tg, vb = servers
    port = free_port()
    cfg = viber_settings(settings, port, media_dir=str(tmp_path / "media"))
    req = await add_request(
        sessions, cfg, resident=VIBER_RESIDENT, category="lighting", channel="viber", lang="ru"
    )
    async with both_channels(servers, engine, sessions, cfg, port):
        tg.push_update(
            tg.message_update(ADMIN, photo=JPEG, caption=f"/resolve {req.number} Опора заменена")
        )
        calls = await vb.wait_for(lambda c: c.body.get("receiver") == VIBER_RESIDENT, 2, 10)
        picture, text = calls[0].body, calls[1].body
        assert picture["type"] == "picture" and picture["media"].startswith(PUBLIC)
        assert picture["media"].endswith(".jpeg")  # Viber's rule for a picture's URL
        local = picture["media"].replace(PUBLIC, f"http://127.0.0.1:{port}")
        async with aiohttp.ClientSession() as http:
            async with http.get(local) as served:
                assert served.status == 200 and served.content_type == "image/jpeg"
                assert await served.read() == JPEG
            forged = local.replace("/viber/media/", "/viber/media/0", 1)
            async with http.get(forged) as refused:
                assert refused.status == 404  # a name without its signature is not served
    assert "Опора заменена" in text["text"]
    payloads = {decode_payload(b["ActionBody"]) for b in text["keyboard"]["Buttons"]}
    assert payloads == {f"fb:yes:{req.id}", f"fb:no:{req.id}"}


async def test_markers_typed_on_either_side_arrive_as_typed(
    servers: tuple[FakeTelegramServer, FakeViberServer],
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    """Viber formats *bold*, _italic_ and ~strike~; Telegram (HTML) does not: what a Viber
    resident typed reaches the department as typed, and what staff typed reaches the resident
    unformatted."""
    tg, vb = servers
    cfg = desk_settings(settings)
    described = "Ліхтар *не світить* у _дворі_ ~тиждень~"
    req = await add_request(
        sessions,
        cfg,
        resident=VIBER_RESIDENT,
        category="lighting",
        channel="viber",
        lang="uk",
        description=described,
    )
    app = make_app(tg, engine, sessions, cfg)
    channel = telegram_channel(app, MediaStore())
    client = ViberClient(VIBER_TOKEN, vb.base_url, name="Контакт-центр")
    senders: dict[str, Sender] = {"telegram": channel.sender(), "viber": ViberSender(client)}
    answer = "*Бригада* виїхала, буде _до 18:00_"
    try:
        async with receiving(app, [channel]), delivering(app, senders):
            await tg.wait_for("getMe")
            tg.push_update(tg.message_update(ADMIN, f"/reply {req.number} {answer}"))
            calls = await vb.wait_for(lambda c: c.body.get("receiver") == VIBER_RESIDENT, 1, 10)
            tg.push_update(tg.message_update(ADMIN, f"/show {req.number}"))
            await tg.wait_for(
                lambda c: c.method == "sendMessage" and described in to_plain(c.params["text"]),
                1,
                10,
            )
    finally:
        await client.close()
    shown = calls[0].body["text"]
    assert answer in looks_like(shown) and answer not in shown
    assert "Бригада" in shown and "*Бригада*" not in shown
