"""/outbox: the state of delivery, for administrators and operators — what waits, what failed
and why, so nothing the city promised a resident silently disappears."""

from __future__ import annotations

import logging

from handlers.desk.engine import StaffDesk, Turn, command
from handlers.formatting import local_time
from models.domain.outbox import OutboxStatus
from models.domain.staff import Role
from models.storage.outbox_report import counts, recent_problems

log = logging.getLogger(__name__)


@command("outbox", read_only=True)
async def cmd_outbox(desk: StaffDesk, turn: Turn, args: list[str]) -> None:
    if turn.staff.role is Role.DEPARTMENT:
        log.warning("denied: %s (%s) used /outbox", turn.actor_id, turn.staff.role)
        desk.say(turn, desk.t("staff.outbox_denied"))
        return
    totals = await counts(turn.session)
    lines = [
        desk.t(
            "staff.outbox_head",
            pending=totals[OutboxStatus.PENDING],
            sent=totals[OutboxStatus.SENT],
            failed=totals[OutboxStatus.FAILED],
            undeliverable=totals[OutboxStatus.UNDELIVERABLE],
        )
    ]
    for msg in await recent_problems(turn.session):
        lines.append(
            desk.t(
                "staff.outbox_line",
                when=local_time(desk.settings, msg.created_at),
                status=msg.status.value,
                channel=msg.channel,
                recipient=msg.recipient,
                attempts=msg.attempts,
                error=(msg.last_error or "—")[:200],
            )
        )
    desk.say(turn, "\n".join(lines))
