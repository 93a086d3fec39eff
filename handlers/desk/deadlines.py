"""/overdue and /deadline: the staff's view of time, and the one sanctioned way to move it."""

from __future__ import annotations

import logging
import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from handlers.desk.commands import ADMINS_AND_OPERATORS, CommandGroup
from handlers.desk.engine import StaffDesk, Turn
from handlers.formatting import department_name, local_time, when
from handlers.parsing import parse_clock, parse_day
from models.domain.base import as_utc
from models.domain.deadlines.policy import policy_for
from models.domain.deadlines.spans import LEGAL_MAXIMUM
from models.domain.lifecycle import set_deadline
from models.domain.requests import is_open
from models.storage.digest_queries import oldest_overdue

log = logging.getLogger(__name__)
_RELATIVE = re.compile(r"^\+(\d{1,3})([hd])$", re.ASCII)
_CLOCK_LIKE = re.compile(r"\d{1,2}:\d{2}", re.ASCII)
commands = CommandGroup()


@commands.command("overdue", read_only=True)
async def cmd_overdue(desk: StaffDesk, turn: Turn, args: list[str]) -> None:
    department = turn.scope
    if args:
        if len(args) > 1 or desk.settings.department(args[0]) is None:
            desk.usage(turn, "overdue")
            return
        if turn.scope is not None and args[0] != turn.scope:
            log.warning("denied: staff %s asked for overdue of %s", turn.actor_id, args[0])
            desk.say(turn, desk.t("staff.overdue_none"))
            return
        department = args[0]
    rows = await oldest_overdue(turn.session, turn.now, 30, department)
    if not rows:
        desk.say(turn, desk.t("staff.overdue_none"))
        return
    lines = [desk.t("staff.overdue_head", count=len(rows))]
    for r in rows:
        late = as_utc(turn.now) - r.deadline_at
        lines.append(
            desk.t(
                "staff.overdue_line",
                number=r.number,
                department=department_name(desk.settings, desk.lang, r.department),
                deadline=local_time(desk.settings, r.deadline_at),
                hours=int(late.total_seconds() // 3600),
            )
        )
    desk.say(turn, "\n".join(lines))


def parse_new_deadline(desk: StaffDesk, now: datetime, words: list[str]) -> tuple[datetime, int]:
    """The deadline a staff member typed (``+2d``, ``+4h``, ``2026-12-05`` or
    ``2026-12-05 18:00``, city time) and how many words it took; ValueError if none."""
    tz = ZoneInfo(desk.settings.city.timezone)
    m = _RELATIVE.match(words[0]) if words else None
    if m:
        amount = int(m.group(1))
        step = timedelta(hours=amount) if m.group(2) == "h" else timedelta(days=amount)
        return as_utc(now) + step, 1
    day = parse_day(words[0]) if words else None
    if day is None:
        raise ValueError("not a day")
    at, used = time(18, 0), 1
    if len(words) > 1 and _CLOCK_LIKE.fullmatch(words[1]):
        clock = parse_clock(words[1])
        if clock is None:  # 99:99 was meant as a time, not as the reason's first word
            raise ValueError("not a time of day")
        at, used = clock, 2
    return datetime.combine(day, at, tzinfo=tz).astimezone(ZoneInfo("UTC")), used


@commands.command("deadline", roles=ADMINS_AND_OPERATORS, denied="staff.deadline_denied")
async def cmd_deadline(desk: StaffDesk, turn: Turn, args: list[str]) -> None:
    if len(args) < 3:
        desk.usage(turn, "deadline")
        return
    try:
        new, used = parse_new_deadline(desk, turn.now, args[1:])
    except ValueError:
        desk.usage(turn, "deadline")
        return
    reason = " ".join(args[1 + used :]).strip()
    if not reason:
        desk.usage(turn, "deadline")
        return
    req = await desk._visible(turn, number=args[0])
    if req is None:
        return
    if not is_open(req):
        desk.say(turn, desk.t("staff.deadline_closed", number=req.number))
        return
    if new <= as_utc(turn.now) or new > as_utc(req.created_at) + LEGAL_MAXIMUM:
        desk.say(turn, desk.t("staff.deadline_range", number=req.number))
        return
    await set_deadline(
        turn.session,
        req,
        new,
        actor_id=turn.actor_id,
        reason=reason,
        now=turn.now,
        desk_chats=desk.chats(req),
        policy=policy_for(desk.settings),
    )
    desk.say(
        turn,
        desk.t(
            "staff.deadline_done", number=req.number, deadline=when(desk.settings, desk.lang, new)
        ),
    )
