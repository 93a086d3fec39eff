"""Acting on one request: route it, change its status, answer the resident."""

from __future__ import annotations

from handlers.desk import incidents, proof
from handlers.desk.commands import CommandGroup
from handlers.desk.engine import StaffDesk, Turn
from models.domain.requests import parse_number
from models.domain.status import STATUS_WORDS

commands = CommandGroup()


@commands.command("assign")
async def cmd_assign(desk: StaffDesk, turn: Turn, args: list[str]) -> None:
    if len(args) < 2 or parse_number(args[0]) is None:
        desk.usage(turn, "assign")
        return
    req = await desk._visible(turn, number=args[0])
    if req is not None:
        await desk._reassign(turn, req, args[1], " ".join(args[2:]) or None)


@commands.command("status")
async def cmd_status(desk: StaffDesk, turn: Turn, args: list[str]) -> None:
    if len(args) < 2 or parse_number(args[0]) is None or args[1].lower() not in STATUS_WORDS:
        desk.usage(turn, "status")
        return
    req = await desk._visible(turn, number=args[0])
    if req is not None:
        note = " ".join(args[2:]) or None
        await desk._set_status(turn, req, STATUS_WORDS[args[1].lower()], note)


async def _with_text(desk: StaffDesk, turn: Turn, args: list[str], action: str) -> None:
    """``/<action> <number> <text>``: the same as the card's button and its prompt; without
    the text it asks for it, as the button does. As a photo's caption, /resolve sends the
    photo with the resolution (handlers/desk/proof.py)."""
    if not args or parse_number(args[0]) is None:
        desk.usage(turn, action)
        return
    req = await desk._visible(turn, number=args[0])
    if req is None:
        return
    if len(args) < 2:
        await proof.ask(desk, turn, action, req.id, req.number)
        return
    text = turn.ev.text.split(None, 1)[1]
    photos = proof.proof_photos(turn, action)
    await desk._with_text(turn, req, action, text, photos)


@commands.command("reply")
async def cmd_reply(desk: StaffDesk, turn: Turn, args: list[str]) -> None:
    await _with_text(desk, turn, args, "reply")


@commands.command("needinfo")
async def cmd_needinfo(desk: StaffDesk, turn: Turn, args: list[str]) -> None:
    await _with_text(desk, turn, args, "needinfo")


@commands.command("resolve")
async def cmd_resolve(desk: StaffDesk, turn: Turn, args: list[str]) -> None:
    await _with_text(desk, turn, args, "resolve")


@commands.command("reject")
async def cmd_reject(desk: StaffDesk, turn: Turn, args: list[str]) -> None:
    await _with_text(desk, turn, args, "reject")


@commands.command("merge")
async def cmd_merge(desk: StaffDesk, turn: Turn, args: list[str]) -> None:
    """``/merge <main> <duplicate>…``: one incident instead of many reports."""
    if len(args) < 2 or any(parse_number(a) is None for a in args):
        desk.usage(turn, "merge")
        return
    duplicates = []
    for number in args[1:]:
        found = await desk._visible(turn, number=number)
        if found is not None:
            duplicates.append(found)
    if duplicates:
        await incidents.merge_into(desk, turn, args[:1], duplicates)
