"""/templates: the ready answers a staff member may send as ``#name`` (answers.py)."""

from __future__ import annotations

from handlers.desk.answers import listing
from handlers.desk.commands import CommandGroup
from handlers.desk.engine import StaffDesk, Turn

commands = CommandGroup()


@commands.command("templates", read_only=True)
async def cmd_templates(desk: StaffDesk, turn: Turn, args: list[str]) -> None:
    desk.say(turn, listing(desk.settings, desk.tr, desk.lang, turn.scope))
