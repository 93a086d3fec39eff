"""Every channel the bot knows, in the order they start. Adding a messenger: its package with
a ``ChannelSpec``, one line here, its section in ``bot.config.Settings``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.channels.base import ChannelSpec
from bot.channels.telegram.channel import TELEGRAM
from bot.channels.terminal.channel import TERMINAL
from bot.channels.viber.spec import VIBER

if TYPE_CHECKING:
    from bot.config import Env, Settings


CHANNELS: tuple[ChannelSpec, ...] = (TELEGRAM, VIBER, TERMINAL)


def enabled_specs(env: Env, channels: tuple[ChannelSpec, ...] = CHANNELS) -> list[ChannelSpec]:
    """The channels the environment turns on; the fallback ones only when no other is on."""
    chosen = [spec for spec in channels if not spec.fallback and spec.enabled(env)]
    return chosen or [spec for spec in channels if spec.fallback and spec.enabled(env)]


def channel_problems(
    env: Env, settings: Settings, channels: tuple[ChannelSpec, ...] = CHANNELS
) -> list[str]:
    """What keeps the enabled channels from running safely (``ChannelSpec.check``)."""
    return [
        p for spec in enabled_specs(env, channels) if spec.check for p in spec.check(env, settings)
    ]
