"""The terminal as a channel: the fallback the runner starts when no messenger is configured,
and ``python -m bot chat`` to talk to the bot here whatever else is configured."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import TYPE_CHECKING

from aiohttp import web

from bot.channels.base import ChannelSpec
from bot.channels.terminal.chat import CHANNEL, TerminalChat
from bot.channels.terminal.sender import TerminalSender
from bot.media import MediaStore

if TYPE_CHECKING:
    from bot.app import App


FALLBACK_NOTICE = (
    "TELEGRAM_BOT_TOKEN is not set: opening the terminal chat instead.\n"
    "To connect Telegram: export TELEGRAM_BOT_TOKEN=<token from @BotFather> "
    "and run `make run` again.\n"
)


class TerminalChannel:
    name = CHANNEL

    def __init__(self, app: App, user_id: str = "local", *, notice: bool = False) -> None:
        self.notice = notice
        self._reading: asyncio.Task[object] | None = None
        self.chat = TerminalChat(
            app.conversation.handle,
            app.conversation.tr,
            user_id=user_id,
            lang=app.settings.default_language,
        )

    def sender(self) -> TerminalSender:
        return TerminalSender(self.chat)

    def mount(self, web_app: web.Application) -> bool:
        return False

    async def start(self) -> None:
        if self.notice:  # started as the fallback: say how to connect a messenger instead
            print(FALLBACK_NOTICE, file=sys.stderr)

    async def run(self) -> None:
        self._reading = asyncio.current_task()
        await self.chat.run()  # until /quit or the end of input: then the bot stops

    async def stop(self) -> None:
        # Stopped from outside (Ctrl-C): waiting for a line nobody will type only delays exit.
        if self._reading is not None and not self._reading.done():
            self._reading.cancel()


def build(app: App, media: MediaStore) -> TerminalChannel:
    return TerminalChannel(app, notice=True)


def _chat(app: App, args: argparse.Namespace) -> TerminalChannel:
    return TerminalChannel(app, args.user)


def add_cli(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    chat = sub.add_parser("chat", help="talk to the bot in this terminal, as a resident")
    chat.add_argument("--user", default=os.environ.get("USER", "local"), help="resident id")
    chat.set_defaults(command_channel=_chat)


TERMINAL = ChannelSpec(
    name=CHANNEL, enabled=lambda env: True, build=build, fallback=True, add_cli=add_cli
)
