"""Merging reports of one problem into one incident (issue 11): ``/merge <main> <dup>…`` and
the card's "Duplicate of…" (its prompt's answer is the main request's number). The domain
side is models/domain/incidents.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

from handlers.desk.turn import Turn
from models.domain.incidents import CannotMerge, merge
from models.domain.requests import parse_number
from models.domain.tables import Request

if TYPE_CHECKING:
    from handlers.desk.engine import StaffDesk


async def merge_into(
    desk: StaffDesk, turn: Turn, main_number: list[str], duplicates: list[Request]
) -> None:
    """Close ``duplicates`` as duplicates of the request numbered ``main_number``."""
    if not main_number or parse_number(main_number[0]) is None:
        desk.usage(turn, "merge")
        return
    main = await desk._visible(turn, number=main_number[0])
    if main is None:
        return
    done = []
    for dup in duplicates:
        try:
            await merge(
                turn.session,
                main,
                dup,
                actor_id=turn.actor_id,
                now=turn.now,
                main_chats=desk.chats(main),
                duplicate_chats=desk.chats(dup),
            )
        except CannotMerge as exc:
            desk.say(turn, desk.t(f"staff.merge_{exc.why}", number=exc.number))
            continue
        done.append(dup.number)
    if done:
        desk.say(turn, desk.t("staff.merge_done", main=main.number, numbers=", ".join(done)))
