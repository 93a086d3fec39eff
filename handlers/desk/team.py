"""/staff: who works at the desk (list, add, remove), for administrators."""

from __future__ import annotations

from handlers.desk.commands import ADMINS_ONLY, CommandGroup
from handlers.desk.engine import StaffDesk, Turn
from handlers.parsing import parse_telegram_id
from models.domain.staff import Role, list_staff, put_staff, remove_staff

commands = CommandGroup()


def _staff_reads(args: list[str]) -> bool:
    """/staff list (and a usage line) only reads; add and remove write."""
    return args[:1] not in (["add"], ["remove"])


@commands.command(
    "staff", read_only=_staff_reads, roles=ADMINS_ONLY, denied="staff.admins_only", menu=False
)
async def cmd_staff(desk: StaffDesk, turn: Turn, args: list[str]) -> None:
    if args[:1] == ["list"]:
        members = await list_staff(turn.session)
        lines = [
            desk.t(
                "staff.member",
                id=m.telegram_id,
                role=m.role.value,
                department=m.department or "—",
            )
            for m in members
        ]
        boot = ", ".join(str(a) for a in desk.settings.staff.admins) or "—"
        desk.say(turn, "\n".join([desk.t("staff.list_head", bootstrap=boot), *lines]))
        return
    who = parse_telegram_id(args[1]) if len(args) > 1 else None
    if args[:1] == ["remove"] and len(args) == 2 and who is not None:
        if who in desk.settings.staff.admins:
            desk.say(turn, desk.t("staff.bootstrap_admin", id=who))
            return
        removed = await remove_staff(turn.session, who)
        if removed:
            turn.staff_changed[who] = False
        desk.say(turn, desk.t("staff.removed" if removed else "staff.not_staff", id=who))
        return
    if args[:1] == ["add"] and len(args) in (3, 4) and who is not None:
        try:
            role = Role(args[2])
        except ValueError:
            desk.usage(turn, "staff")
            return
        department = args[3] if len(args) == 4 else None
        if role is Role.DEPARTMENT and (
            department is None or desk.settings.department(department) is None
        ):
            desk.say(turn, desk.t("staff.unknown_department", department=department or "—"))
            return
        await put_staff(turn.session, who, role, department, added_by=turn.staff.telegram_id)
        turn.staff_changed[who] = True
        desk.say(
            turn, desk.t("staff.added", id=args[1], role=role.value, department=department or "—")
        )
        return
    desk.usage(turn, "staff")
