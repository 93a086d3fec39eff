"""Photos of the fix (issue 15): a department resolving a request may send photos with it, and
the resident gets them with the resolution and its "Is it fixed?" question.

How staff send them, after the card's Resolve button or ``/resolve <number>``:
- photos without a caption are collected by the open prompt (it stays open, and is kept alive
  while photos come); the text that follows, a photo with a caption, or the "Resolve with
  these photos" button completes the resolution with every photo collected;
- ``/resolve <number> <text>`` as a photo's caption resolves with that photo;
- Telegram delivers an album as one message per photo, the caption on one of them: the photos
  before the captioned one are collected, and those after it (same album, within
  :data:`ALBUM_TAIL_SECONDS`) follow the resolution to the resident one by one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from handlers.desk.turn import Turn
from handlers.types import Button, Kind
from models.domain.base import as_utc
from models.domain.lifecycle import add_proof
from models.domain.prompts import StaffPrompt, find_prompt, open_prompt
from models.domain.tables import Request

if TYPE_CHECKING:
    from handlers.desk.engine import StaffDesk

RESOLVE = "resolve"
# The prompt left behind by a resolution sent from an album: the album's later photos.
ALBUM_TAIL = "proof"
ALBUM_TAIL_SECONDS = 120


def proof_photos(turn: Turn, action: str, prompt: StaffPrompt | None = None) -> list[str]:
    """The photos a text action carries: a resolution's only."""
    if action != RESOLVE:
        return []
    photos = list(prompt.photos or []) if prompt is not None else []
    if turn.ev.kind in (Kind.PHOTO, Kind.COMMAND) and turn.ev.photo:
        photos.append(turn.ev.photo)
    return photos


async def ask(desk: StaffDesk, turn: Turn, action: str, request_id: int, number: str) -> None:
    """Open a prompt for ``action``'s text (with the photo the command came with, if any)."""
    prompt = await open_prompt(
        turn.session, turn.chat, turn.staff.telegram_id, action, request_id, turn.now
    )
    photos = proof_photos(turn, action)
    if photos:
        prompt.photos, prompt.album = photos, turn.ev.album or None
        _acknowledge(desk, turn, request_id, number)
        return
    desk.say(turn, desk.t(f"staff.prompt.{action}", number=number), force_reply=True)


def _acknowledge(desk: StaffDesk, turn: Turn, request_id: int, number: str) -> None:
    desk.say(
        turn,
        desk.t("staff.proof_added", number=number),
        [[Button(desk.t("staff.proof_resolve"), f"s:proofdone:{request_id}")]],
    )


async def on_message(desk: StaffDesk, turn: Turn) -> bool:
    """A staff member's text or photo: the answer to their open prompt, if there is one."""
    ev = turn.ev
    prompt = await find_prompt(
        turn.session,
        turn.chat,
        turn.staff.telegram_id,
        turn.now,
        reply_to=ev.reply_to if ev.group else None,
    )
    if prompt is None:
        return False
    if prompt.action == ALBUM_TAIL:
        return await _album_tail(desk, turn, prompt)
    if ev.kind is Kind.PHOTO and not ev.text.strip() and prompt.action == RESOLVE:
        await _collect(desk, turn, prompt)
        return True
    await turn.session.delete(prompt)
    req = await desk._visible(turn, request_id=prompt.request_id)
    if req is not None:
        photos = proof_photos(turn, prompt.action, prompt)
        await desk._with_text(turn, req, prompt.action, ev.text, photos)
    return True


async def _collect(desk: StaffDesk, turn: Turn, prompt: StaffPrompt) -> None:
    """A photo without a caption: kept by the prompt until the text comes. An album's photos
    are acknowledged once, not once each."""
    ev = turn.ev
    same_album = bool(ev.album) and ev.album == prompt.album
    prompt.photos = [*(prompt.photos or []), ev.photo]
    prompt.album = ev.album or None
    prompt.created_at = turn.now  # photos keep coming: the prompt is not stale
    if same_album:
        return
    req = await desk._visible(turn, request_id=prompt.request_id)
    if req is not None:
        _acknowledge(desk, turn, req.id, req.number)


async def finish(desk: StaffDesk, turn: Turn, req: Request) -> None:
    """The "Resolve with these photos" button: the resolution without a text."""
    prompt = await find_prompt(turn.session, turn.chat, turn.staff.telegram_id, turn.now)
    if prompt is None or prompt.action != RESOLVE or prompt.request_id != req.id:
        desk.say(turn, desk.t("staff.proof_expired", number=req.number))
        return
    await turn.session.delete(prompt)
    await desk._with_text(turn, req, RESOLVE, "", list(prompt.photos or []))


async def after_resolution(turn: Turn, request_id: int, photos: Sequence[str]) -> None:
    """A resolution sent from an album: its later photos still go to the resident."""
    if not (photos and turn.ev.album):
        return
    tail = await open_prompt(
        turn.session, turn.chat, turn.staff.telegram_id, ALBUM_TAIL, request_id, turn.now
    )
    tail.album = turn.ev.album


async def _album_tail(desk: StaffDesk, turn: Turn, prompt: StaffPrompt) -> bool:
    ev = turn.ev
    fresh = turn.now - as_utc(prompt.created_at) <= timedelta(seconds=ALBUM_TAIL_SECONDS)
    if not (ev.kind is Kind.PHOTO and ev.album and ev.album == prompt.album and fresh):
        await turn.session.delete(prompt)  # the album is over: anything else is not for it
        return False
    req = await desk._visible(turn, request_id=prompt.request_id)
    if req is not None:
        await add_proof(
            turn.session,
            req,
            ev.photo,
            actor_id=turn.actor_id,
            now=turn.now,
            desk_chats=desk.chats(req),
        )
    return True
