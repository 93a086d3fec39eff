"""The request card in department chats, in the staff's language: rendered when it is sent or
edited, so it always shows the request as it is then."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from handlers.formatting import (
    answered,
    audio_length,
    category_name,
    department_name,
    local_time,
    place,
    shorten,
)
from handlers.i18n import Safe, Translator, to_plain
from handlers.types import Button, Reply
from models.domain.base import as_utc, utcnow
from models.domain.city import CityConfig
from models.domain.status import RULE, Clock, card_actions
from models.domain.tables import EventKind, Request


def card_buttons(tr: Translator, lang: str, req: Request) -> list[list[Button]]:
    buttons = [
        Button(tr.t(lang, f"card.{action}"), f"s:{action}:{req.id}")
        for action in card_actions(req.status)
    ]
    return [buttons[i : i + 3] for i in range(0, len(buttons), 3)]


async def load_card_request(session: AsyncSession, request_id: int) -> Request | None:
    return (
        await session.execute(
            select(Request)
            .where(Request.id == request_id)
            .options(
                selectinload(Request.photos),
                selectinload(Request.events),
                selectinload(Request.subscribers),
                selectinload(Request.duplicate_of),
            )
        )
    ).scalar_one_or_none()


def deadline_line(
    settings: CityConfig, tr: Translator, lang: str, req: Request, now: datetime
) -> str:
    """The deadline as staff need it: how long is left, how late it is, or that it waits."""
    if req.deadline_at is None:
        return "—"
    due = local_time(settings, req.deadline_at)
    clock = RULE[req.status].clock
    if clock is Clock.PAUSED:
        return tr.t(lang, "card.deadline_paused")
    if clock is Clock.STOPPED:
        return due
    left = as_utc(req.deadline_at) - as_utc(now)
    hours, minutes = divmod(int(abs(left.total_seconds())) // 60, 60)
    key = "card.deadline_left" if left.total_seconds() >= 0 else "card.deadline_overdue"
    return tr.t(lang, key, deadline=due, hours=hours, minutes=minutes)


# Telegram's limit on a message, counted as the reader sees it (cards go to Telegram only).
CARD_TEXT_MAX = 4096


def proof_reply(settings: CityConfig, tr: Translator, req: Request) -> Reply | None:
    """The department's photos of the fix, for /show (the card's own photos are the
    resident's)."""
    photos = [p.file_ref for p in req.photos if p.proof]
    if not photos:
        return None
    lang = settings.staff.language
    return Reply(
        tr.t(lang, "card.proof", count=len(photos), number=req.number), photos=photos, lang=lang
    )


def render_card(
    settings: CityConfig, tr: Translator, req: Request, now: datetime | None = None
) -> Reply:
    lang = settings.staff.language
    now = now or utcnow()
    last = next(
        (e for e in reversed(req.events) if e.kind in (EventKind.STATUS, EventKind.REASSIGNED)),
        None,
    )
    acted = ""
    if last is not None:
        who = (
            tr.t(lang, "card.by_resident")
            if last.actor.value == "resident"
            else (last.actor_id or "—")
        )
        acted = tr.t(lang, "card.acted", who=who, when=local_time(settings, last.at))
    own = [p.file_ref for p in req.photos if not p.proof]
    proof = sum(1 for p in req.photos if p.proof)
    followers = len(req.subscribers)
    main = req.duplicate_of
    voice = ""
    if req.voice:
        voice = tr.t(lang, "card.voice", length=audio_length(req.voice_seconds or 0) or "—")
        if req.voice_transcript:
            voice += "\n" + tr.t(lang, "card.transcript", text=req.voice_transcript)
    closing = [
        *(
            tr.t(lang, "card.answer", question=q, answer=a)
            for q, a in answered(settings, lang, req.category, req.subcategory, req.answers)
        ),
        voice,
        tr.t(lang, "card.duplicate_of", main=main.number) if main is not None else "",
        tr.t(lang, "card.subscribers", count=followers) if followers else "",
        tr.t(lang, "card.rating", rating=req.rating) if req.rating else "",
        tr.t(lang, "card.proof", count=proof, number=req.number) if proof else "",
    ]
    fields: dict[str, object] = dict(
        number=req.number,
        status=tr.t(lang, f"status.{req.status.value}"),
        category=category_name(settings, lang, req.category, req.subcategory),
        department=department_name(settings, lang, req.department),
        address=place(tr, lang, req.address, req.latitude, req.longitude),
        description=req.description or ("" if voice else "—"),
        photos=len(own),
        language=req.language,
        phone=req.phone or tr.t(lang, "summary.no_phone"),
        created=local_time(settings, req.created_at),
        deadline=Safe(deadline_line(settings, tr, lang, req, now)),
        priority=Safe(
            tr.t(lang, f"card.priority.{req.priority}")
            if req.priority in ("emergency", "high")
            else ""
        ),
        acted=Safe(acted),
        rating=Safe("\n".join(line for line in closing if line)),
    )
    text = tr.t(lang, "card.text", **fields)
    over = len(to_plain(text)) - CARD_TEXT_MAX
    if over > 0:
        # One message, always: the card is edited in place, and a card cut in two lost its
        # phone and deadline. The description gives way (its full text is in /show's history
        # and the export); the text is cut before escaping, so no entity is broken.
        description = str(fields["description"])
        fields["description"] = description[: max(0, len(description) - over - 1)] + "…"
        text = tr.t(lang, "card.text", **fields)
    return Reply(
        text.strip(),
        card_buttons(tr, lang, req),
        photos=own,
        latitude=req.latitude,
        longitude=req.longitude,
        lang=lang,
        voice=req.voice or "",
    )


BATCH_MAX = 30  # requests listed in one message: well inside Telegram's 4096 characters


def render_batch(settings: CityConfig, tr: Translator, reqs: list[Request]) -> Reply:
    """New requests a group could not get one card each of in time (a surge): one message
    listing them, each with a /show link that brings its card and buttons."""
    lang = settings.staff.language
    lines = [tr.t(lang, "card.batch_head", count=len(reqs))]
    for req in reqs:
        lines.append(
            tr.t(
                lang,
                "card.batch_line",
                number=req.number,
                show=req.number.replace("-", "_"),
                category=category_name(settings, lang, req.category, req.subcategory),
                address=place(tr, lang, req.address, req.latitude, req.longitude),
                description=shorten(" ".join((req.description or "").split()), 60),
            )
        )
    return Reply("\n".join(lines), lang=lang)
