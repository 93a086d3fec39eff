"""How staff commands are declared: every one has its texts in every language, the Telegram
menu is the desk's own list, /help follows the desk's order, and a command declared for some
roles is refused to everyone else before it runs."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.telegram.commands import STAFF_COMMANDS
from bot.config import Settings
from handlers.desk import GROUPS, menu_commands
from handlers.desk.commands import ADMINS_AND_OPERATORS, CommandGroup, command_table
from handlers.desk.engine import StaffDesk, Turn
from handlers.dialog.conversation import Conversation
from handlers.i18n import LANGUAGES, translator
from models.domain.staff import Role
from tests.desk_data import Desk, add_staff
from tests.desk_settings import ADMIN, desk_settings
from tests.dialog.test_catalogs import messages

LIGHTING_STAFF = 800_001
OPERATOR = 800_002


def desk_for(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    groups: tuple[CommandGroup, ...] | None = None,
) -> Desk:
    cfg = desk_settings(settings)
    return Desk(StaffDesk(sessions, cfg, translator(), groups=groups), Conversation(sessions, cfg))


def t(key: str, **kw: object) -> str:
    return translator().t("en", key, **kw)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_command_has_its_texts(lang: str) -> None:
    """Adding a command is a function plus these strings: its usage line (also in /help), its
    menu text, and its refusal when only some roles may run it."""
    keys = set(messages(lang))
    missing = []
    for cmd in command_table(GROUPS).values():
        wanted = [f"staff.usage.{cmd.name}", f"cmd.{cmd.name}"]
        if cmd.roles is not None:
            wanted.append(cmd.denied)
        missing += [key for key in wanted if key not in keys]
    assert not missing, f"{lang}: missing {missing}"


def test_the_telegram_menu_is_the_desks_list(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    desk = StaffDesk(sessions, desk_settings(settings), translator())
    offered = tuple(name for name, cmd in desk.commands.items() if cmd.menu)
    assert STAFF_COMMANDS == menu_commands() == offered
    # Every command the desk runs is in the menu, but /staff (administrators only).
    assert set(desk.commands) - set(STAFF_COMMANDS) == {"staff"}
    assert STAFF_COMMANDS[-1] == "help"


def test_a_name_declared_twice_is_refused() -> None:
    twice = CommandGroup()

    @twice.command("queue")
    async def cmd_queue_again(desk: StaffDesk, turn: Turn, args: list[str]) -> None:
        raise AssertionError("never run")

    with pytest.raises(ValueError, match="/queue"):
        command_table((*GROUPS, twice))


async def test_help_lists_the_commands_in_the_desks_order(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    desk = desk_for(sessions, settings)
    await add_staff(sessions, LIGHTING_STAFF, Role.DEPARTMENT, "lighting")
    names = [n for n in desk.desk.commands if n != "help"]
    usage = [t("staff.usage." + n) for n in names]
    assert names[-1] == "staff"
    assert await desk.command(ADMIN, "/help") == ["\n".join([t("staff.help"), *usage])]
    # /staff is for administrators: others are not shown it.
    assert await desk.command(LIGHTING_STAFF, "/help") == [
        "\n".join([t("staff.help"), *usage[:-1]])
    ]


async def test_a_command_for_some_roles_is_refused_to_others_before_it_runs(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The roles written on a command are the whole check: the function never sees a member
    the declaration leaves out, and the refusal is the command's own text."""
    ran: list[int] = []
    probe = CommandGroup()

    @probe.command("probe", roles=ADMINS_AND_OPERATORS, denied="staff.outbox_denied")
    async def cmd_probe(desk: StaffDesk, turn: Turn, args: list[str]) -> None:
        ran.append(turn.staff.telegram_id)
        desk.say(turn, "ran")

    desk = desk_for(sessions, settings, (*GROUPS, probe))
    await add_staff(sessions, LIGHTING_STAFF, Role.DEPARTMENT, "lighting")
    await add_staff(sessions, OPERATOR, Role.OPERATOR, None)
    caplog.set_level(logging.WARNING, logger="handlers.desk.engine")

    assert await desk.command(LIGHTING_STAFF, "/probe") == [t("staff.outbox_denied")]
    assert ran == []
    assert any(
        r.getMessage() == f"denied: {LIGHTING_STAFF} (department) used /probe"
        for r in caplog.records
    )
    assert await desk.command(OPERATOR, "/probe") == ["ran"]
    assert await desk.command(ADMIN, "/probe") == ["ran"]
    assert ran == [OPERATOR, ADMIN]
