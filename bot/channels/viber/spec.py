"""The Viber channel as the registry lists it, and its own verbs:
``python -m bot viber set-webhook | unset-webhook``."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from bot.channels.base import ChannelSpec
from bot.channels.viber.callbacks import CHANNEL
from bot.channels.viber.client import ViberClient, ViberError
from bot.channels.viber.webhook import ViberChannel
from bot.errors import ConfigError
from bot.media import MediaStore

if TYPE_CHECKING:
    from bot.app import App
    from bot.config import Env, Settings


def viber_client(env: Env, settings: Settings) -> ViberClient:
    token = env.viber_auth_token
    if token is None:
        raise ConfigError("VIBER_AUTH_TOKEN is not set")
    vb = settings.viber
    return ViberClient(
        token.get_secret_value(),
        env.viber_api_base,
        name=vb.name,
        avatar=vb.avatar,
        min_api_version=vb.min_api_version,
    )


def build(app: App, media: MediaStore) -> ViberChannel:
    client = viber_client(app.env, app.settings)
    return ViberChannel(
        client, app.conversation, app.conversation.tr, app.settings.viber, media=media
    )


async def viber_webhook(env: Env, settings: Settings, *, unset: bool = False) -> str:
    """Viber checks the URL at once with a signed callback, so the bot must already be running
    there."""
    client = viber_client(env, settings)
    try:
        if unset:
            await client.unset_webhook()
            return "Viber webhook removed"
        url = settings.viber.full_webhook_url()
        if not url:
            raise ConfigError("viber.webhook_url: set the public https:// URL in bot.toml")
        events = await client.set_webhook(url)
        return f"Viber webhook set to {url} (events: {', '.join(events)})"
    finally:
        await client.close()


async def _webhook_command(args: argparse.Namespace, env: Env, settings: Settings) -> int:
    try:
        print(await viber_webhook(env, settings, unset=args.action == "unset-webhook"))
    except ViberError as exc:
        print(f"Viber refused: {exc}", file=sys.stderr)
        return 1
    return 0


def add_cli(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    viber = sub.add_parser("viber", help="register the Viber webhook (the bot must be running)")
    viber.add_argument("action", choices=["set-webhook", "unset-webhook"])
    viber.set_defaults(command_handler=_webhook_command)


VIBER = ChannelSpec(
    name=CHANNEL,
    enabled=lambda env: env.viber_auth_token is not None,
    build=build,
    media_root=lambda settings: settings.viber.media_dir,
    add_cli=add_cli,
)
