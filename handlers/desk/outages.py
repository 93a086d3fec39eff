"""/outage and /outages: staff declare a known outage (a category, until when, which streets
or buildings, and what to tell residents), list the active ones, and end one, which tells
everyone who subscribed (models/domain/outages.py). Department staff declare and end their
own department's; administrators and operators any."""

from __future__ import annotations

import logging

from handlers.desk.commands import CommandGroup
from handlers.desk.deadlines import parse_new_deadline
from handlers.desk.engine import StaffDesk, Turn
from handlers.formatting import category_name, when
from handlers.parsing import parse_row_id
from handlers.validation import Invalid, validate_comment
from models.domain.base import as_utc
from models.domain.deadlines.spans import LEGAL_MAXIMUM
from models.domain.outages import Outage, active, declare, end, split_places, subscribers

log = logging.getLogger(__name__)
commands = CommandGroup()


@commands.command("outage")
async def cmd_outage(desk: StaffDesk, turn: Turn, args: list[str]) -> None:
    if args[:1] == ["end"]:
        await _end(desk, turn, args[1:])
        return
    head, sep, text = turn.ev.text.partition(";")
    words = head.split()
    if not sep or len(words) < 3:
        desk.usage(turn, "outage")
        return
    cat = desk.settings.category(words[0])
    checked = validate_comment(text, desk.settings.limits.comment_max)
    try:
        until, used = parse_new_deadline(desk, turn.now, words[1:])
    except ValueError:
        desk.usage(turn, "outage")
        return
    places = split_places(" ".join(words[1 + used :]))
    if cat is None or not places or isinstance(checked, Invalid):
        desk.usage(turn, "outage")
        return
    if until <= as_utc(turn.now) or until > as_utc(turn.now) + LEGAL_MAXIMUM:
        desk.say(turn, desk.t("staff.outage_range"))
        return
    department = desk.settings.route(cat.code, None)
    if turn.scope is not None and department != turn.scope:
        log.warning("denied: staff %s declared an outage of %s", turn.actor_id, cat.code)
        desk.say(turn, desk.t("staff.outage_not_yours"))
        return
    outage = await declare(
        turn.session,
        category=cat.code,
        department=department,
        places=places,
        text=checked,
        until=until,
        by=turn.actor_id,
        now=turn.now,
    )
    desk.say(turn, desk.t("staff.outage_done", **_fields(desk, outage), count=len(places)))


def _fields(desk: StaffDesk, outage: Outage) -> dict[str, object]:
    return {
        "id": outage.id,
        "category": category_name(desk.settings, desk.lang, outage.category, None),
        "until": when(desk.settings, desk.lang, outage.until_at),
        "places": "; ".join(outage.places),
    }


@commands.command("outages", read_only=True)
async def cmd_outages(desk: StaffDesk, turn: Turn, args: list[str]) -> None:
    found = await active(turn.session, turn.scope)
    if not found:
        desk.say(turn, desk.t("staff.outages_none"))
        return
    counts = await subscribers(turn.session, [o.id for o in found])
    lines = [desk.t("staff.outages_head", count=len(found))]
    lines += [
        desk.t("staff.outages_line", **_fields(desk, o), subscribers=counts.get(o.id, 0))
        for o in found
    ]
    desk.say(turn, "\n".join(lines))


async def _end(desk: StaffDesk, turn: Turn, args: list[str]) -> None:
    outage_id = parse_row_id(args[0]) if args else None
    if outage_id is None:
        desk.usage(turn, "outage")
        return
    outage = await turn.session.get(Outage, outage_id, with_for_update=True)
    if (
        outage is None
        or outage.ended_at is not None
        or (turn.scope is not None and outage.department != turn.scope)
    ):
        desk.say(turn, desk.t("staff.outage_not_found", id=outage_id))
        return
    text = turn.ev.text.split(None, 2)[2] if len(args) > 1 else ""
    checked = validate_comment(text, desk.settings.limits.comment_max) if text else ""
    if isinstance(checked, Invalid):
        desk.usage(turn, "outage")
        return
    told = await end(turn.session, outage, checked, turn.now)
    desk.say(turn, desk.t("staff.outage_ended", id=outage.id, told=told))
