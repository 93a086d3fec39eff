"""What a messenger is to the bot: the contract every channel implements.

A channel is described by a ``ChannelSpec`` (its name, whether the environment turns it on,
how to build it) and listed in ``bot.channels.registry``. The runner knows only this contract:
adding a messenger is a new package with its spec, one line in the registry and its section
in ``bot.config.Settings``; no other channel, the runner and the outbox stay as they are.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web

from bot.delivery import Sender

if TYPE_CHECKING:
    from bot.config import Env, Settings


if TYPE_CHECKING:
    from bot.app import App
    from bot.media import MediaStore


class Channel(Protocol):
    """One messenger, built for a running bot."""

    @property
    def name(self) -> str:
        """The ``channel`` stored on residents and outbox rows ("telegram", "viber", …)."""
        ...

    def sender(self) -> Sender:
        """The outbox's way into this messenger."""
        ...

    def mount(self, web_app: web.Application) -> bool:
        """Add the channel's webhook routes to the bot's one web server; False when it
        receives some other way and needs no server."""
        ...

    async def start(self) -> None:
        """Before receiving (and after the web server listens): register the webhook, set
        command menus."""
        ...

    async def run(self) -> None:
        """Receive until stopped: polling, the terminal's prompt; a channel that only answers
        webhooks just waits for ``stop``. The bot stops when any channel's ``run`` returns."""
        ...

    async def stop(self) -> None:
        """Stop receiving and release what the channel holds (HTTP sessions)."""
        ...


# A channel's own command line verb, ``python -m bot <verb> …``, sets one of these defaults:
# ``command_handler``, a CliCommand that returns the exit code, or ``command_channel``, a
# ChannelCommand whose channel the bot then runs alone (``python -m bot chat``).
CliCommand = Callable[[argparse.Namespace, "Env", "Settings"], Coroutine[Any, Any, int]]
ChannelCommand = Callable[["App", argparse.Namespace], Channel]


@dataclass(frozen=True)
class ChannelSpec:
    """A channel as the registry lists it."""

    name: str
    enabled: Callable[[Env], bool]
    """Whether the environment turns the channel on (its token is set)."""
    build: Callable[[App, MediaStore], Channel]
    fallback: bool = False
    """Runs only when no other channel is enabled (the terminal chat)."""
    media_root: Callable[[Settings], str] | None = None
    """The folder where the channel keeps the pictures residents send (``bot.media``)."""
    add_cli: Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None] | None = None
    """Adds the channel's own verbs to ``python -m bot`` (see ``CliCommand``)."""
    check: Callable[[Env, Settings], list[str]] | None = None
    """What stops the channel from running safely with this environment and bot.toml, each
    a sentence naming the variable or key; ``check-config`` prints them and ``run`` refuses
    to start while there are any."""
