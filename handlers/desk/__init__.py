"""The staff desk, assembled: the engine (engine.py) runs the commands of these groups, one
module per group, in this order; /help and the Telegram menu list them in the same order.
Adding a command is one decorated function in one of these modules, plus its catalog strings
(``staff.usage.<name>`` and ``cmd.<name>``)."""

from __future__ import annotations

from handlers.desk import (
    deadlines,
    export,
    help,
    outages,
    outbox,
    queue,
    reports,
    requests,
    team,
    templates,
)
from handlers.desk.commands import CommandGroup, command_table

GROUPS: tuple[CommandGroup, ...] = (
    queue.commands,
    requests.commands,
    templates.commands,
    reports.commands,
    export.commands,
    deadlines.commands,
    outages.commands,
    outbox.commands,
    help.commands,
    team.commands,
)


def menu_commands(groups: tuple[CommandGroup, ...] = GROUPS) -> tuple[str, ...]:
    """The staff commands the Telegram menu offers, in the desk's order."""
    return tuple(name for name, cmd in command_table(groups).items() if cmd.menu)
