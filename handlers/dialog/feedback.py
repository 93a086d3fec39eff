"""What residents do in answer to the city: "Is it fixed?", a rating, and answers to a
department's question. These buttons come from notifications, not from the dialog, so they
are valid whatever step the resident is at; ownership and status are checked every time."""

from __future__ import annotations

from datetime import datetime, timedelta

from handlers.dialog import outages
from handlers.dialog.context import Context
from handlers.parsing import parse_int, parse_row_id
from handlers.types import Button, Incoming, Kind
from handlers.validation import Invalid, validate_comment
from models.domain.base import as_utc
from models.domain.deadlines.policy import policy_for
from models.domain.lifecycle import change_status, notify_desk
from models.domain.requests import add_comment, add_photo, get_for_resident
from models.domain.status import Status
from models.domain.subscribers import is_subscriber
from models.domain.tables import Actor, EventKind, Request, RequestEvent

GLOBAL_PREFIXES = ("fb:", "rate:", outages.PREFIX)
# A resident often answers in several messages (a text, then a photo): what follows the answer
# this soon still belongs to it, rather than being taken for a dialog step.
ANSWER_FOLLOW_UP = timedelta(minutes=10)


def is_global(ev: Incoming) -> bool:
    return ev.kind is Kind.BUTTON and ev.payload.startswith(GLOBAL_PREFIXES)


async def _own(ctx: Context, raw_id: str) -> Request | None:
    request_id = parse_row_id(raw_id)
    if request_id is None:
        return None
    return await get_for_resident(ctx.session, ctx.resident.id, request_id, for_update=True)


async def _followed(ctx: Context, raw_id: str) -> Request | None:
    """A request the resident joined ("this is my problem too"), not filed."""
    request_id = parse_row_id(raw_id)
    if request_id is None or not await is_subscriber(ctx.session, request_id, ctx.resident.id):
        return None
    return await ctx.session.get(Request, request_id, with_for_update=True)


async def on_global_button(ctx: Context, ev: Incoming) -> None:
    kind, _, rest = ev.payload.partition(":")
    if kind == "out":
        await outages.on_button(ctx, rest)
        return
    if kind == "fb":
        answer, _, raw_id = rest.partition(":")
        req = await _own(ctx, raw_id)
        follower = req is None
        if follower:
            req = await _followed(ctx, raw_id)
        if req is None or req.status is not Status.RESOLVED:
            ctx.say(ctx.t("feedback.too_late"))
            return
        chats = ctx.settings.desk_chats(req.department)
        fixed = answer == "yes"
        if follower and fixed:
            # Each answers for themself: a subscriber's "Yes" closes nothing (the resident
            # who filed it, or the follow-up, does), but one "No" is enough to reopen it.
            ctx.say(ctx.t("feedback.thanks_follower", number=req.number))
            return
        await change_status(
            ctx.session,
            req,
            Status.CLOSED if fixed else Status.REOPENED,
            actor=Actor.RESIDENT,
            actor_id=str(ctx.resident.id),
            note=None,
            now=ctx.now,
            desk_chats=chats,
            policy=policy_for(ctx.settings),
        )
        if fixed:
            ctx.say(
                ctx.t("feedback.thanks_rate", number=req.number),
                [[Button(str(n), f"rate:{req.id}:{n}") for n in range(1, 6)]],
            )
        else:
            notify_desk(ctx.session, req, chats, "desk_reopened", now=ctx.now)
            ctx.say(ctx.t("feedback.reopened", number=req.number))
        return
    if kind == "rate":
        raw_id, _, raw_score = rest.partition(":")
        req = await _own(ctx, raw_id)
        score = parse_int(raw_score, low=1, high=5) or 0
        if req is None or req.status is not Status.CLOSED or req.rating or not 1 <= score <= 5:
            ctx.say(ctx.t("feedback.too_late"))
            return
        req.rating = score
        ctx.session.add(
            RequestEvent(
                request_id=req.id,
                kind=EventKind.RATING,
                actor=Actor.RESIDENT,
                actor_id=str(ctx.resident.id),
                text=str(score),
                at=ctx.now,
            )
        )
        chats = ctx.settings.desk_chats(req.department)
        notify_desk(ctx.session, req, chats, "desk_rating", now=ctx.now, rating=score)
        from models.domain.lifecycle import card_refresh

        card_refresh(ctx.session, req, chats, now=ctx.now)
        ctx.say(ctx.t("feedback.rated"))


async def answer_question(ctx: Context, ev: Incoming) -> bool:
    """The resident's message answers the department's open question, if there is one."""
    rid = ctx.resident.awaiting_request_id
    if rid is None or ev.kind not in (Kind.TEXT, Kind.PHOTO):
        return False
    req = await get_for_resident(ctx.session, ctx.resident.id, rid, for_update=True)
    follow_up = req is not None and _just_answered(req, ctx.now)
    if req is None or (req.status is not Status.NEEDS_INFO and not follow_up):
        ctx.resident.awaiting_request_id = None
        return False
    text = ""
    if ev.text:
        result = validate_comment(ev.text, ctx.settings.limits.comment_max)
        if isinstance(result, Invalid):
            ctx.hint(f"error.comment.{result.code}", limit=result.limit)
            return True
        text = result
        await add_comment(ctx.session, ctx.resident, req, text)
    if ev.kind is Kind.PHOTO:
        await add_photo(ctx.session, ctx.resident, req, ev.photo)
    chats = ctx.settings.desk_chats(req.department)
    notify_desk(
        ctx.session,
        req,
        chats,
        "desk_answer",
        now=ctx.now,
        text=text,
        photo=ev.photo if ev.kind is Kind.PHOTO else None,
    )
    if not follow_up:
        await change_status(
            ctx.session,
            req,
            Status.IN_PROGRESS,
            actor=Actor.RESIDENT,
            actor_id=str(ctx.resident.id),
            note=None,
            now=ctx.now,
            desk_chats=chats,
            policy=policy_for(ctx.settings),
        )
        ctx.resident.awaiting_request_id = req.id  # for a follow-up, see ANSWER_FOLLOW_UP
    ctx.say(ctx.t("feedback.answer_passed", number=req.number))
    return True


def _just_answered(req: Request, now: datetime) -> bool:
    """The request's last change was the resident's answer to a question, moments ago."""
    last = next((e for e in reversed(req.events) if e.kind is EventKind.STATUS), None)
    return (
        req.status is Status.IN_PROGRESS
        and last is not None
        and last.actor is Actor.RESIDENT
        and last.old_status is Status.NEEDS_INFO
        and now - as_utc(last.at) <= ANSWER_FOLLOW_UP
    )
