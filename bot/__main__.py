"""Command line: ``python -m bot run | chat | migrate | check-config | viber …``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence

from bot.app import App, build_app, database_url
from bot.channels.viber import ViberError
from bot.config import ConfigError, Env, load_settings
from models.storage.engine import create_engine
from models.storage.migrate import upgrade


async def _with_app(coro_fn: object, *args: object) -> None:
    app: App = await build_app()
    try:
        await coro_fn(app, *args)  # type: ignore[operator]
    finally:
        await app.close()


async def _migrate() -> None:
    engine = create_engine(database_url())
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description="citybot")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="start the bot (Telegram if TELEGRAM_BOT_TOKEN is set, else chat)")
    chat = sub.add_parser("chat", help="talk to the bot in this terminal, as a resident")
    chat.add_argument("--user", default=os.environ.get("USER", "local"), help="resident id")
    sub.add_parser("migrate", help="create or upgrade the database tables")
    sub.add_parser("check-config", help="validate bot.toml and exit")
    viber = sub.add_parser("viber", help="register the Viber webhook (the bot must be running)")
    viber.add_argument("action", choices=["set-webhook", "unset-webhook"])
    args = parser.parse_args(argv)

    serving = args.command == "run" and (
        bool(os.environ.get("TELEGRAM_BOT_TOKEN")) or bool(os.environ.get("VIBER_AUTH_TOKEN"))
    )
    # The terminal chat shares the screen with the log: keep it to warnings there.
    level = os.environ.get("LOG_LEVEL", "INFO" if serving else "WARNING")
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from bot import runner

    try:
        if args.command == "check-config":
            settings = load_settings(Env.from_environ().config_path)
            print(
                f"ok: {len(settings.departments)} departments, "
                f"{len(settings.categories)} categories"
            )
        elif args.command == "migrate":
            asyncio.run(_migrate())
            print("database is up to date")
        elif args.command == "viber":
            env = Env.from_environ()
            settings = load_settings(env.config_path)
            unset = args.action == "unset-webhook"
            print(asyncio.run(runner.viber_webhook(env, settings, unset=unset)))
        elif args.command == "chat":
            asyncio.run(_with_app(runner.run_terminal, args.user))
        else:
            env = Env.from_environ()
            if env.telegram_bot_token is None and env.viber_auth_token is None:
                print(
                    "TELEGRAM_BOT_TOKEN is not set: opening the terminal chat instead.\n"
                    "To connect Telegram: export TELEGRAM_BOT_TOKEN=<token from @BotFather> "
                    "and run `make run` again.\n",
                    file=sys.stderr,
                )
            asyncio.run(_with_app(runner.run))
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    except ViberError as exc:
        print(f"Viber refused: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
