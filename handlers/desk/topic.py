"""Staff acting inside a request's topic (a forum group, bot/delivery/topics.py): the topic
says which request, so a command there needs no number (``/resolve Replaced the lamp``), and a
plain message there is the department's reply to the resident, unless it begins with ``//``
(a note among colleagues, which stays in the group)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from handlers.desk.turn import Turn
from handlers.types import Kind
from models.domain.outbox import topic_request
from models.domain.requests import parse_number
from models.domain.tables import Request

if TYPE_CHECKING:
    from handlers.desk.engine import StaffDesk

# Commands whose first argument is a request's number.
NOTE_PREFIX = "//"
NUMBERED = frozenset(
    {"show", "assign", "status", "reply", "needinfo", "resolve", "reject", "deadline"}
)


async def _here(turn: Turn) -> int | None:
    ev = turn.ev
    if not (ev.group and ev.thread and ev.chat_id):
        return None
    return await topic_request(turn.session, ev.chat_id, ev.thread)


async def imply_number(turn: Turn) -> None:
    """In a request's topic, a numbered command without its number is about that request."""
    ev = turn.ev
    if ev.command not in NUMBERED or parse_number((ev.text.split() or [""])[0]) is not None:
        return
    request_id = await _here(turn)
    req = await turn.session.get(Request, request_id) if request_id is not None else None
    if req is not None:
        turn.ev = replace(ev, text=f"{req.number} {ev.text}".strip())


async def on_message(desk: StaffDesk, turn: Turn) -> bool:
    """A staff member's plain text in a request's topic: a reply to its resident."""
    if turn.ev.kind is not Kind.TEXT or not turn.ev.text.strip():
        return False
    request_id = await _here(turn)
    if request_id is None:
        return False
    if turn.ev.text.lstrip().startswith(NOTE_PREFIX):
        return True  # for the colleagues: nothing goes to the resident
    req = await desk._visible(turn, request_id=request_id)
    if req is not None:
        await desk._with_text(turn, req, "reply", turn.ev.text)
    return True
