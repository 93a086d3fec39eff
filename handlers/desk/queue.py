"""Finding requests: the queue, one request's card, and a search by text or phone."""

from __future__ import annotations

import logging

from handlers.desk.commands import CommandGroup
from handlers.desk.engine import StaffDesk, Turn
from handlers.formatting import category_name, local_time, place
from handlers.outbound.cards import load_card_request, proof_reply, render_card
from handlers.validation import Invalid, normalize_phone
from models.domain.requests import parse_number
from models.domain.status import STATUS_WORDS
from models.domain.tables import Request
from models.storage.desk_queries import queue, search

log = logging.getLogger(__name__)
commands = CommandGroup()


def line(desk: StaffDesk, req: Request) -> str:
    """One request in a list staff read."""
    return desk.t(
        "staff.queue_line",
        number=req.number,
        status=desk.t(f"status.{req.status.value}"),
        category=category_name(desk.settings, desk.lang, req.category, req.subcategory),
        address=place(desk.tr, desk.lang, req.address, req.latitude, req.longitude)[:40],
        created=local_time(desk.settings, req.created_at),
    )


@commands.command("queue", read_only=True)
async def cmd_queue(desk: StaffDesk, turn: Turn, args: list[str]) -> None:
    department, statuses = turn.scope, None
    for arg in args:
        if arg in STATUS_WORDS:
            statuses = frozenset({STATUS_WORDS[arg]})
        elif desk.settings.department(arg) is not None:
            if turn.scope is not None and arg != turn.scope:
                log.warning("denied: staff %s asked for queue of %s", turn.actor_id, arg)
                desk.say(turn, desk.t("staff.queue_empty"))
                return
            department = arg
        else:
            desk.usage(turn, "queue")
            return
    rows, total = await queue(turn.session, department, statuses)
    if not rows:
        desk.say(turn, desk.t("staff.queue_empty"))
        return
    text = desk.t("staff.queue_head", shown=len(rows), total=total)
    desk.say(turn, text + "\n" + "\n".join(line(desk, r) for r in rows))


@commands.command("show", read_only=True)
async def cmd_show(desk: StaffDesk, turn: Turn, args: list[str]) -> None:
    if len(args) != 1 or parse_number(args[0]) is None:
        desk.usage(turn, "show")
        return
    req = await desk._visible(turn, number=args[0])
    if req is None:
        return
    full = await load_card_request(turn.session, req.id)
    assert full is not None
    turn.replies.append(render_card(desk.settings, desk.tr, full))
    proof = proof_reply(desk.settings, desk.tr, full)
    if proof is not None:
        turn.replies.append(proof)


@commands.command("find", read_only=True)
async def cmd_find(desk: StaffDesk, turn: Turn, args: list[str]) -> None:
    text = " ".join(args).strip()
    if len(text) < 3:
        desk.usage(turn, "find")
        return
    phone = normalize_phone(text)
    rows = await search(
        turn.session, text, turn.scope, phone=None if isinstance(phone, Invalid) else phone
    )
    if not rows:
        desk.say(turn, desk.t("staff.find_none"))
        return
    desk.say(turn, "\n".join(line(desk, r) for r in rows))
