"""/staff: who works at the desk (list, add, remove), for administrators."""

from __future__ import annotations

from handlers.desk.commands import ADMINS_ONLY, CommandGroup
from handlers.desk.engine import StaffDesk, Turn
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
    if args[:1] == ["remove"] and len(args) == 2 and args[1].isdigit():
        if int(args[1]) in desk.settings.staff.admins:
            desk.say(turn, desk.t("staff.bootstrap_admin", id=args[1]))
            return
        removed = await remove_staff(turn.session, int(args[1]))
        if removed:
            turn.staff_changed[int(args[1])] = False
        desk.say(turn, desk.t("staff.removed" if removed else "staff.not_staff", id=args[1]))
        return
    if args[:1] == ["add"] and len(args) in (3, 4) and args[1].isdigit():
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
        await put_staff(
            turn.session, int(args[1]), role, department, added_by=turn.staff.telegram_id
        )
        turn.staff_changed[int(args[1])] = True
        desk.say(
            turn, desk.t("staff.added", id=args[1], role=role.value, department=department or "—")
        )
        return
    desk.usage(turn, "staff")
