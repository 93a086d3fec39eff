"""The runner knows channels only through their contract: which ones run, and a channel the
bot has never heard of plugging in beside them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.__main__ import main
from bot.app import App
from bot.channels.registry import enabled_specs
from bot.config import Env, Settings
from bot.delivery import Progress
from bot.media import MediaStore
from bot.runner import run
from handlers.desk.engine import StaffDesk
from handlers.dialog.conversation import Conversation
from handlers.types import Incoming, Kind, Reply
from tests.conftest import ROOT
from tests.fakes.viber_server import free_port


def names(env: Env) -> list[str]:
    return [spec.name for spec in enabled_specs(env)]


def test_the_terminal_chat_runs_only_when_no_messenger_is_configured() -> None:
    assert names(Env()) == ["terminal"]
    assert names(Env(viber_auth_token="v")) == ["viber"]
    assert names(Env(telegram_bot_token="1:t")) == ["telegram"]
    assert names(Env(telegram_bot_token="1:t", viber_auth_token="v")) == ["telegram", "viber"]


class Pager:
    """A made-up messenger: residents write through a webhook, the outbox pages them."""

    name = "pager"

    def __init__(self, app: App) -> None:
        self.app = app
        self.paged: list[tuple[str, str]] = []
        self.events: list[str] = []
        self.done = asyncio.Event()

    def sender(self) -> Pager:
        return self

    def is_group(self, recipient: str) -> bool:
        return False

    async def send(self, recipient: str, reply: Reply, progress: Progress | None = None) -> str:
        self.paged.append((recipient, reply.text))
        return "1"

    async def send_card(
        self, recipient: str, reply: Reply, progress: Progress | None = None
    ) -> str:
        return await self.send(recipient, reply)

    async def edit(self, recipient: str, message_id: str, reply: Reply) -> None:
        await self.send(recipient, reply)

    def mount(self, web_app: web.Application) -> bool:
        web_app.router.add_post("/pager", self.hook)
        return True

    async def hook(self, request: web.Request) -> web.Response:
        ev = Incoming(self.name, await request.text(), Kind.COMMAND, command="start")
        replies = await self.app.conversation.handle(ev)
        return web.Response(text=replies[0].text)

    async def start(self) -> None:
        self.events.append("start")

    async def run(self) -> None:
        await self.done.wait()

    async def stop(self) -> None:
        self.events.append("stop")


async def test_a_new_channel_needs_nothing_but_the_contract(
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    port = free_port()
    settings = settings.model_copy(
        update={"telegram": settings.telegram.model_copy(update={"listen_port": port})}
    )
    conversation = Conversation(sessions, settings)
    app = App(
        Env(),
        settings,
        engine,
        sessions,
        conversation,
        StaffDesk(sessions, settings, conversation.tr),
    )
    pager = Pager(app)
    running = asyncio.create_task(run(app, [pager]))
    async with aiohttp.ClientSession() as http:
        for _ in range(100):
            try:
                async with http.post(f"http://127.0.0.1:{port}/pager", data="p-1") as resp:
                    answer = await resp.text()
                break
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)
    assert "Choose your language" in answer
    pager.done.set()  # the channel's loop ends: the bot stops
    await asyncio.wait_for(running, 10)
    assert pager.events == ["start", "stop"]


def test_photo_references_resolve_to_what_a_messenger_can_show(tmp_path: Path) -> None:
    kept = tmp_path / "viber" / "viber" / "5123.jpg"
    kept.parent.mkdir(parents=True)
    kept.write_bytes(b"jpeg")
    chart = tmp_path / "chart.png"
    chart.write_bytes(b"png")
    media = MediaStore({"viber": tmp_path / "viber"})
    assert media.resolve("viber:viber/5123.jpg") == kept
    assert media.resolve(f"file:{chart}") == chart
    file_id = "AgACAgIAAxkBAAIBQ2Zx-photo_id"
    assert media.resolve(file_id) == file_id  # a Telegram file id passes through
    assert media.resolve("https://example.org/p.jpg") == "https://example.org/p.jpg"
    for nothing in ("viber:viber/gone.jpg", f"file:{tmp_path}/gone.png", "terminal:photo"):
        assert media.resolve(nothing) is None
    assert MediaStore().resolve("viber:viber/5123.jpg") is None  # no folder for it


def test_webhook_mode_without_its_secret_is_refused_at_check_and_at_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A webhook with no TELEGRAM_WEBHOOK_SECRET took forged updates "from" a bootstrap admin
    (issue 17, break 12): check-config says so, and the bot does not start."""
    toml = (ROOT / "bot.toml").read_text(encoding="utf-8")
    toml = toml.replace(
        'mode = "polling"', 'mode = "webhook"\nwebhook_url = "https://bot.example"', 1
    )
    config = tmp_path / "bot.toml"
    config.write_text(toml, encoding="utf-8")
    monkeypatch.setenv("BOT_CONFIG", str(config))
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:abc")
    monkeypatch.delenv("TELEGRAM_WEBHOOK_SECRET", raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'bot.sqlite3'}")
    assert main(["check-config"]) == 2
    assert "TELEGRAM_WEBHOOK_SECRET" in capsys.readouterr().err
    assert main(["run"]) == 2
    assert "TELEGRAM_WEBHOOK_SECRET" in capsys.readouterr().err
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "s3cret")
    assert main(["check-config"]) == 0
