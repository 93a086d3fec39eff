"""How a staff command is declared: each module of commands makes one CommandGroup and
decorates its functions with it, the way an aiogram Router is used per file. The desk is built
from an explicit list of groups (handlers/desk/__init__.py), so nothing registers itself by
being imported, and what a command needs (who may run it, whether it only reads, whether the
menu shows it) is written once, on the command."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from models.domain.staff import Role

if TYPE_CHECKING:  # the engine runs commands; a command module only names its types
    from handlers.desk.engine import StaffDesk, Turn

Command = Callable[["StaffDesk", "Turn", list[str]], Awaitable[None]]
# Whether a command only reads: True/False, or decided by its arguments (/staff list).
ReadOnly = bool | Callable[[list[str]], bool]

ADMINS_ONLY = frozenset({Role.ADMIN})
ADMINS_AND_OPERATORS = frozenset({Role.ADMIN, Role.OPERATOR})


@dataclass(frozen=True)
class StaffCommand:
    """One command as the engine sees it. Its texts are ``staff.usage.<name>`` (the usage
    line, also in /help) and ``cmd.<name>`` (the Telegram menu), and ``denied`` when
    ``roles`` leaves someone out."""

    name: str
    run: Command
    read_only: ReadOnly = False
    # Who may run it; None: every staff member. Anyone else is refused before it runs.
    roles: frozenset[Role] | None = None
    denied: str = ""
    # Shown in the Telegram menu and to every staff member in /help; a command kept out of
    # the menu is listed in /help only to those allowed to run it.
    menu: bool = True

    def reads_only(self, args: list[str]) -> bool:
        return self.read_only(args) if callable(self.read_only) else self.read_only

    def allows(self, role: Role) -> bool:
        return self.roles is None or role in self.roles


class CommandGroup:
    """The commands of one module, in the order they are declared."""

    def __init__(self) -> None:
        self.commands: list[StaffCommand] = []

    def command(
        self,
        name: str,
        *,
        read_only: ReadOnly = False,
        roles: frozenset[Role] | None = None,
        denied: str | None = None,
        menu: bool = True,
    ) -> Callable[[Command], Command]:
        """Declare a staff command. ``read_only`` ones run on the read sessions: they must not
        write (on SQLite the connection is query_only, on PostgreSQL the transaction READ
        ONLY). ``denied`` is the refusal's catalog id, ``staff.<name>_denied`` unless given."""

        def register(fn: Command) -> Command:
            self.commands.append(
                StaffCommand(
                    name,
                    fn,
                    read_only,
                    roles,
                    (denied or f"staff.{name}_denied") if roles is not None else "",
                    menu,
                )
            )
            return fn

        return register

    def __iter__(self) -> Iterator[StaffCommand]:
        return iter(self.commands)


def command_table(groups: Iterable[CommandGroup]) -> dict[str, StaffCommand]:
    """Every command of ``groups`` by name, in declaration order; a name used twice is a
    mistake that would silently hide one of them."""
    table: dict[str, StaffCommand] = {}
    for group in groups:
        for cmd in group:
            if cmd.name in table:
                raise ValueError(f"staff command /{cmd.name} is declared twice")
            table[cmd.name] = cmd
    return table
