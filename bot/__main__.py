"""Command line: ``python -m bot run | web | migrate | copy-to | check-config``, plus each
channel's own verbs (``chat``, ``viber …``) from the registry."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence

from bot.app import App, build_app, database_url
from bot.channels.base import ChannelCommand, CliCommand
from bot.channels.registry import CHANNELS, channel_problems, enabled_specs
from bot.config import ConfigError, Env, load_settings
from bot.voice import problems as voice_problems
from models.storage.engine import create_engine
from models.storage.migrate import upgrade


async def _run(env: Env, only: ChannelCommand | None, args: argparse.Namespace) -> None:
    from bot import runner

    app: App = await build_app(env)
    try:
        await runner.run(app, None if only is None else [only(app, args)])
    finally:
        await app.close()


async def _web(env: Env) -> None:
    from bot.web.serve import serve

    app: App = await build_app(env)
    try:
        await serve(app)
    finally:
        await app.close()


async def _migrate() -> None:
    engine = create_engine(database_url())
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


async def _copy_to(target_url: str) -> None:
    from models.storage.copy import copy_database
    from models.storage.engine import normalise_url

    source = create_engine(database_url())
    target = create_engine(normalise_url(target_url))
    try:
        copied = await copy_database(source, target)
    finally:
        await source.dispose()
        await target.dispose()
    print(f"copied {sum(copied.values())} rows; now start the bot with DATABASE_URL={target_url}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description="citybot")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="start the bot (Telegram if TELEGRAM_BOT_TOKEN is set, else chat)")
    sub.add_parser(
        "web",
        help="serve the public page and the Open311 API in a process of their own "
        "([web] listen_host:listen_port), beside a bot run with [web] enabled = false",
    )
    sub.add_parser("migrate", help="create or upgrade the database tables")
    sub.add_parser("check-config", help="validate bot.toml and exit")
    copy = sub.add_parser(
        "copy-to",
        help="copy this bot's database (DATABASE_URL or bot.toml's SQLite file) into another, "
        "e.g. SQLite into PostgreSQL; run with the bot stopped",
    )
    copy.add_argument("target", help="the new database's URL, e.g. postgresql://citybot@db/citybot")
    for spec in CHANNELS:
        if spec.add_cli is not None:
            spec.add_cli(sub)
    args = parser.parse_args(argv)

    env = Env.from_environ()
    serving = args.command == "web" or (
        args.command == "run" and not any(s.fallback for s in enabled_specs(env))
    )
    # The terminal chat shares the screen with the log: keep it to warnings there.
    level = os.environ.get("LOG_LEVEL", "INFO" if serving else "WARNING")
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    try:
        if args.command == "check-config":
            settings = load_settings(env.config_path)
            problems = channel_problems(env, settings) + voice_problems(settings.voice)
            if problems:
                raise ConfigError("\n".join(problems))
            print(
                f"ok: {len(settings.departments)} departments, "
                f"{len(settings.categories)} categories"
            )
            if not settings.staff.admins:
                print(
                    "warning: [staff] admins is empty: nobody can use the staff commands "
                    "until a Telegram user id is added there"
                )
        elif args.command == "migrate":
            asyncio.run(_migrate())
            print("database is up to date")
        elif args.command == "copy-to":
            from models.storage.copy import TargetNotEmpty

            try:
                asyncio.run(_copy_to(args.target))
            except TargetNotEmpty as exc:
                print(f"refused: {exc}", file=sys.stderr)
                return 2
        elif args.command == "run":
            asyncio.run(_run(env, None, args))
        elif args.command == "web":
            asyncio.run(_web(env))
        elif getattr(args, "command_channel", None) is not None:
            asyncio.run(_run(env, args.command_channel, args))
        else:
            handler: CliCommand = args.command_handler
            return asyncio.run(handler(args, env, load_settings(env.config_path)))
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # Ctrl-C is how a person stops the bot or leaves the terminal chat: a clean stop, not
        # an error for make to report.
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
