"""The command menus Telegram shows: residents see theirs; staff (in their private chat and in
department groups) see the staff commands as well."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BotCommand, BotCommandScopeChat, BotCommandScopeDefault

from handlers.desk import menu_commands
from handlers.i18n import LANGUAGES, Translator
from models.domain.city import CityConfig

log = logging.getLogger(__name__)

RESIDENT_COMMANDS = ("start", "new", "my", "help", "language", "cancel", "forget")
STAFF_COMMANDS = menu_commands()


def _commands(tr: Translator, lang: str, names: tuple[str, ...]) -> list[BotCommand]:
    return [BotCommand(command=n, description=tr.plain(lang, f"cmd.{n}")) for n in names]


async def register_commands(
    bot: Bot, tr: Translator, settings: CityConfig, staff_ids: list[int]
) -> None:
    """Set every menu; a failure is logged, never fatal (the commands work without a menu)."""
    try:
        for lang in LANGUAGES:
            code = None if lang == settings.default_language else lang
            await bot.set_my_commands(
                _commands(tr, lang, RESIDENT_COMMANDS), BotCommandScopeDefault(), code
            )
        staff_menu = _commands(tr, settings.staff.language, STAFF_COMMANDS)
        groups = [d.telegram_chat_id for d in settings.departments if d.telegram_chat_id]
        if settings.staff.operators_chat_id:
            groups.append(settings.staff.operators_chat_id)
        for chat in [*dict.fromkeys(groups), *dict.fromkeys(staff_ids)]:
            await bot.set_my_commands(staff_menu, BotCommandScopeChat(chat_id=chat))
    except TelegramAPIError as exc:
        log.warning("could not set the command menus: %s", exc)


async def forget_commands(bot: Bot, user_id: int) -> None:
    """A removed staff member sees the residents' menu again."""
    try:
        await bot.delete_my_commands(BotCommandScopeChat(chat_id=user_id))
    except TelegramAPIError as exc:
        log.warning("could not reset the command menu of %s: %s", user_id, exc)
