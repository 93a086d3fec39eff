"""Filing a request, its last two steps before the summary: photos (optional, up to
``[limits] photos_max``) and the phone (shared, typed, or skipped)."""

from __future__ import annotations

from handlers.dialog.context import Context, Step
from handlers.dialog.flow import reask, step
from handlers.dialog.new_request import (
    _nav,
    advance,
    handled_commonly,
    keep_photo,
    moves,
    navigate,
)
from handlers.types import ButtonKind, Incoming, Keyboard, Kind
from handlers.validation import Invalid, normalize_phone

# --- photos -------------------------------------------------------------------------------


async def ask_photos(ctx: Context) -> None:
    count = len(ctx.draft.get("photos", []))
    limit = ctx.settings.limits.photos_max
    done = (
        ctx.button("photos.done", "photos:done")
        if count
        else ctx.button("photos.skip", "photos:done")
    )
    text = ctx.n("photos.prompt", limit) if not count else ctx.n("photos.have", count, limit=limit)
    rows = [[done]]
    if count:
        rows.append([ctx.button("photos.clear", "photos:clear")])
    ctx.say(text, [*rows, _nav(ctx)], Keyboard.INPUT)


@step(Step.PHOTOS, ask_photos, leads_to=moves(Step.PHOTOS))
async def on_photos(ctx: Context, ev: Incoming) -> None:
    if await navigate(ctx, ev):
        return
    if ev.kind is Kind.BUTTON and ev.payload == "photos:done":
        ctx.draft["photos_done"] = True
        await advance(ctx)
        return
    if ev.kind is Kind.BUTTON and ev.payload == "photos:clear":
        ctx.draft["photos"] = []
        ctx.say(ctx.t("photos.cleared"))
        await reask(ctx)
        return
    if ev.kind is not Kind.PHOTO:
        # Done is offered only once a photo is there; before that, Skip.
        ctx.hint("hint.photo_expected" if ctx.draft.get("photos") else "hint.photo_expected_first")
        await reask(ctx)
        return
    limit = ctx.settings.limits.photos_max
    if not keep_photo(ctx, ev):
        ctx.hint("photos.limit", limit=limit)
    count = len(ctx.draft["photos"])
    if count >= limit:
        ctx.draft["photos_done"] = True
        ctx.say(ctx.n("photos.full", count))
        await advance(ctx)
        return
    await reask(ctx)


# --- phone --------------------------------------------------------------------------------


async def ask_phone(ctx: Context) -> None:
    ctx.say(
        ctx.t("new.phone"),
        [
            [ctx.button("new.share_phone", "contact", ButtonKind.REQUEST_CONTACT)],
            [ctx.button("new.skip_phone", "phone:skip")],
            _nav(ctx),
        ],
        Keyboard.INPUT,
    )


@step(Step.PHONE, ask_phone, leads_to=moves(Step.PHONE))
async def on_phone(ctx: Context, ev: Incoming) -> None:
    if await handled_commonly(ctx, ev):
        return
    if ev.kind is Kind.BUTTON and ev.payload == "phone:skip":
        ctx.draft.update(phone=None, phone_done=True)
        await advance(ctx)
        return
    if ev.kind is Kind.CONTACT and not ev.contact_is_own:
        ctx.hint("error.phone.not_own")
        await reask(ctx)
        return
    if ev.kind not in (Kind.CONTACT, Kind.TEXT):
        ctx.hint("hint.phone_expected")
        await reask(ctx)
        return
    result = normalize_phone(ev.phone if ev.kind is Kind.CONTACT else ev.text)
    if isinstance(result, Invalid):
        ctx.hint("error.phone.bad_phone")
        await reask(ctx)
        return
    ctx.draft.update(phone=result, phone_done=True)
    await advance(ctx)
