"""/help: the usage line of every staff command, in the desk's order."""

from __future__ import annotations

from handlers.desk.commands import CommandGroup
from handlers.desk.engine import StaffDesk, Turn

commands = CommandGroup()


@commands.command("help", read_only=True)
async def cmd_help(desk: StaffDesk, turn: Turn, args: list[str]) -> None:
    lines = [desk.t("staff.help")]
    lines += [
        desk.t("staff.usage." + cmd.name)
        for cmd in desk.commands.values()
        if cmd.name != "help" and (cmd.menu or cmd.allows(turn.staff.role))
    ]
    desk.say(turn, "\n".join(lines))
