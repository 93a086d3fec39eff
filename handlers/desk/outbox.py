"""/outbox: the state of delivery, for administrators and operators — what waits, what failed
and why, so nothing the city promised a resident silently disappears."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from handlers.desk.commands import ADMINS_AND_OPERATORS, CommandGroup
from handlers.desk.engine import StaffDesk, Turn
from handlers.formatting import local_time, viber_costs
from models.domain.outbox import OutboxStatus
from models.storage.outbox_report import billing_month, counts, recent_problems, viber_usage

commands = CommandGroup()


@commands.command(
    "outbox", read_only=True, roles=ADMINS_AND_OPERATORS, denied="staff.outbox_denied"
)
async def cmd_outbox(desk: StaffDesk, turn: Turn, args: list[str]) -> None:
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
    lines.append(await _viber_costs(desk, turn))
    cap = desk.settings.costs.viber_monthly_cap
    if cap:
        billed = (await viber_usage(turn.session, billing_month(turn.now))).billed
        lines.append(
            desk.t("staff.outbox_cap", billed=billed, cap=cap, waiting=totals[OutboxStatus.WAITING])
        )
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


async def _viber_costs(desk: StaffDesk, turn: Turn) -> str:
    """What Viber bills: messages the bot starts outside a resident's 24-hour session."""
    today = turn.now.astimezone(ZoneInfo(desk.settings.city.timezone)).date()
    day = await viber_usage(turn.session, desk.local_day_start(today))
    month = await viber_usage(turn.session, desk.local_day_start(today.replace(day=1)))
    return desk.t("staff.outbox_viber", **viber_costs(desk.settings, day, month))
