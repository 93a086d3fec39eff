"""Filing a request: category → subcategory → the category's extra questions → address →
description → photos → phone → confirm.

Every step has Back and Cancel. From the summary any field can be edited; after an edit the
resident comes straight back to the summary.
"""

from __future__ import annotations

from handlers.dialog import nearby, outages, safety
from handlers.dialog.context import Context, Step
from handlers.dialog.flow import goto, reask, step
from handlers.formatting import category_name, place
from handlers.types import Button, ButtonKind, Incoming, Keyboard, Kind
from handlers.validation import (
    Invalid,
    validate_address,
    validate_description,
)
from models.domain.city import Question

FLOW = (
    Step.CATEGORY,
    Step.SUBCATEGORY,
    Step.QUESTIONS,
    Step.ADDRESS,
    Step.DESCRIPTION,
    Step.PHOTOS,
    Step.PHONE,
)
# Steps only some categories have: Back from the step after them may skip them.
OPTIONAL = (Step.SUBCATEGORY, Step.QUESTIONS)


def moves(at: Step) -> dict[Step, str]:
    """Where a step of filing leads: on to the next step still unanswered (any later one, and
    the summary when all are or when editing from it), back to the one before (Back), and to
    the menu (Cancel)."""
    i = FLOW.index(at)
    out = dict.fromkeys(FLOW[i + 1 :], "already answered")
    if i + 1 < len(FLOW):
        out[FLOW[i + 1]] = ""
    out[Step.CONFIRM] = "" if i + 1 == len(FLOW) else "all answered"
    j = i - 1
    while j >= 0:
        out[FLOW[j]] = "Back"
        if FLOW[j] not in OPTIONAL:
            break
        j -= 1
    out[Step.MENU] = "Cancel"
    return out


EDITABLE = {
    "category": Step.CATEGORY,
    "address": Step.ADDRESS,
    "description": Step.DESCRIPTION,
    "photos": Step.PHOTOS,
    "phone": Step.PHONE,
}


def _nav(ctx: Context) -> list[Button]:
    return [ctx.button("nav.back", "nav:back"), ctx.button("nav.cancel", "nav:cancel")]


def category_label(ctx: Context, code: str, sub: str | None = None) -> str:
    return category_name(ctx.settings, ctx.lang, code, sub)


async def start(ctx: Context) -> None:
    ctx.data["draft"] = {}
    await goto(ctx, Step.CATEGORY)


def next_missing(ctx: Context) -> Step:
    d = ctx.draft
    cat = ctx.settings.category(d.get("category", ""))
    if cat is None:
        return Step.CATEGORY
    if cat.subcategories and not d.get("subcategory"):
        return Step.SUBCATEGORY
    if pending_question(ctx) is not None:
        return Step.QUESTIONS
    if not has_place(d):
        return Step.ADDRESS
    if not d.get("description") and not d.get("voice"):
        return Step.DESCRIPTION
    if not d.get("photos_done"):
        return Step.PHOTOS
    if not d.get("phone_done"):
        return Step.PHONE
    return Step.CONFIRM


def has_place(d: dict[str, object]) -> bool:
    """An address typed, or a pin (which keeps its coordinates and no text)."""
    return bool(d.get("address")) or d.get("lat") is not None


def draft_place(ctx: Context) -> str:
    d = ctx.draft
    return place(ctx.tr, ctx.lang, d.get("address"), d.get("lat"), d.get("lon"))


async def resume(ctx: Context) -> None:
    await goto(ctx, next_missing(ctx))


async def advance(ctx: Context) -> None:
    """After a step is answered: the next unanswered one, or the summary when all are."""
    await goto(ctx, next_missing(ctx))


async def back(ctx: Context) -> None:
    if ctx.in_editing() and ctx.step is not Step.SUBCATEGORY:
        await goto(ctx, Step.CONFIRM)
        return
    i = FLOW.index(ctx.step) - 1
    while i >= 0 and FLOW[i] in OPTIONAL and not _applies(ctx, FLOW[i]):
        i -= 1
    if i >= 0 and FLOW[i] is Step.QUESTIONS:
        ctx.draft["answers"] = {}  # asked again from the first
    await goto(ctx, FLOW[i] if i >= 0 else Step.MENU)


def _applies(ctx: Context, at: Step) -> bool:
    cat = ctx.settings.category(ctx.draft.get("category", ""))
    if cat is None:
        return False
    if at is Step.SUBCATEGORY:
        return bool(cat.subcategories)
    return bool(cat.questions_for(ctx.draft.get("subcategory")))


def questions(ctx: Context) -> list[Question]:
    cat = ctx.settings.category(ctx.draft.get("category", ""))
    return cat.questions_for(ctx.draft.get("subcategory")) if cat is not None else []


def pending_question(ctx: Context) -> Question | None:
    answers = ctx.draft.get("answers") or {}
    return next((q for q in questions(ctx) if q.key not in answers), None)


async def cancel(ctx: Context) -> None:
    ctx.data["draft"] = {}
    ctx.say(ctx.t("new.cancelled"))
    await goto(ctx, Step.MENU)


async def navigate(ctx: Context, ev: Incoming) -> bool:
    """Back / Cancel, and the "this is my problem too" buttons shown after the address, common
    to every step of the flow."""
    if ev.kind is Kind.BUTTON and ev.payload.startswith(nearby.PREFIX):
        await nearby.on_button(ctx, ev.payload)
        return True
    if ev.kind is Kind.BUTTON and ev.payload == "nav:back":
        await back(ctx)
        return True
    if ev.kind is Kind.BUTTON and ev.payload == "nav:cancel":
        await cancel(ctx)
        return True
    return False


def keep_photo(ctx: Context, ev: Incoming) -> bool:
    photos: list[str] = ctx.draft.setdefault("photos", [])
    if len(photos) >= ctx.settings.limits.photos_max:
        return False
    photos.append(ev.photo)
    return True


TEXT_STEPS = (Step.ADDRESS, Step.DESCRIPTION)


async def handled_commonly(ctx: Context, ev: Incoming) -> bool:
    """Back, Cancel, and a photo sent before the photo step (kept; its caption still answers
    a text step). True when the event needs nothing more from the step."""
    if await navigate(ctx, ev):
        return True
    if ev.kind is not Kind.PHOTO:
        return False
    kept = keep_photo(ctx, ev)
    if not kept:
        ctx.hint("photos.limit", limit=ctx.settings.limits.photos_max)
    if ev.text and ctx.step in TEXT_STEPS:
        return False
    if kept:
        ctx.say(ctx.t("photos.kept_early"))
    await reask(ctx)
    return True


def invalid_hint(ctx: Context, field: str, err: Invalid) -> None:
    ctx.hint(f"error.{field}.{err.code}", limit=err.limit)


# --- category and subcategory -------------------------------------------------------------


async def ask_category(ctx: Context) -> None:
    buttons = [
        Button(category_label(ctx, c.code), f"cat:{c.code}") for c in ctx.settings.categories
    ]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    rows.append(_nav(ctx))
    ctx.say(ctx.t("new.category"), rows)


@step(Step.CATEGORY, ask_category, leads_to=moves(Step.CATEGORY))
async def on_category(ctx: Context, ev: Incoming) -> None:
    if await handled_commonly(ctx, ev):
        return
    code = ev.payload.removeprefix("cat:") if ev.kind is Kind.BUTTON else ""
    cat = ctx.settings.category(code)
    if cat is None:
        ctx.hint("hint.use_buttons")
        await reask(ctx)
        return
    if ctx.draft.get("category") != code:
        ctx.draft["subcategory"] = None
        ctx.draft["answers"] = {}
    ctx.draft["category"] = code
    safety.show(ctx, cat.notice)
    if cat.subcategories:
        await goto(ctx, Step.SUBCATEGORY)
    else:
        await advance(ctx)


async def ask_subcategory(ctx: Context) -> None:
    cat = ctx.settings.category(ctx.draft.get("category", ""))
    if cat is None:
        await goto(ctx, Step.CATEGORY)
        return
    rows = [[Button(s.name.get(ctx.lang), f"sub:{s.code}")] for s in cat.subcategories]
    rows.append(_nav(ctx))
    ctx.say(ctx.t("new.subcategory", category=category_label(ctx, cat.code)), rows)


@step(Step.SUBCATEGORY, ask_subcategory, leads_to=moves(Step.SUBCATEGORY))
async def on_subcategory(ctx: Context, ev: Incoming) -> None:
    if ev.kind is Kind.BUTTON and ev.payload == "nav:back":
        await goto(ctx, Step.CATEGORY)
        return
    if await handled_commonly(ctx, ev):
        return
    cat = ctx.settings.category(ctx.draft.get("category", ""))
    code = ev.payload.removeprefix("sub:") if ev.kind is Kind.BUTTON else ""
    if cat is None or code not in {s.code for s in cat.subcategories}:
        ctx.hint("hint.use_buttons")
        await reask(ctx)
        return
    if ctx.draft.get("subcategory") != code:
        ctx.draft["answers"] = {}
    ctx.draft["subcategory"] = code
    safety.show(ctx, next(s for s in cat.subcategories if s.code == code).notice)
    await advance(ctx)


# --- the category's extra questions ---------------------------------------------------------


async def ask_questions(ctx: Context) -> None:
    question = pending_question(ctx)
    if question is None:
        await advance(ctx)
        return
    rows = [[Button(o.text.get(ctx.lang), f"q:{question.key}:{o.key}")] for o in question.options]
    rows.append(_nav(ctx))
    ctx.say(ctx.t("new.question", question=question.text.get(ctx.lang)), rows)


@step(Step.QUESTIONS, ask_questions, leads_to=moves(Step.QUESTIONS))
async def on_questions(ctx: Context, ev: Incoming) -> None:
    if await handled_commonly(ctx, ev):
        return
    question = pending_question(ctx)
    kind, _, rest = ev.payload.partition(":") if ev.kind is Kind.BUTTON else ("", "", "")
    key, _, option = rest.partition(":")
    if question is None or kind != "q" or key != question.key or not question.option(option):
        ctx.hint("hint.use_buttons")
        await reask(ctx)
        return
    ctx.draft.setdefault("answers", {})[key] = option
    await advance(ctx)


# --- address ------------------------------------------------------------------------------


def _answered(ctx: Context, field: str) -> str | None:
    if field == "address":
        return draft_place(ctx) if has_place(ctx.draft) else None
    return ctx.draft.get(field) or None


def _keep_row(ctx: Context, field: str) -> list[list[Button]]:
    """Back to a step already answered: the answer is shown with a button to keep it."""
    return [[ctx.button("new.keep", f"keep:{field}")]] if _answered(ctx, field) else []


def _with_answer(ctx: Context, text: str, field: str) -> str:
    typed = _answered(ctx, field)
    return f"{text}\n\n{ctx.t(f'new.{field}_now', **{field: typed})}" if typed else text


async def ask_address(ctx: Context) -> None:
    ctx.say(
        _with_answer(ctx, ctx.t("new.address"), "address"),
        [
            [ctx.button("new.send_location", "loc", ButtonKind.REQUEST_LOCATION)],
            *_keep_row(ctx, "address"),
            _nav(ctx),
        ],
        Keyboard.INPUT,
    )


@step(Step.ADDRESS, ask_address, leads_to=moves(Step.ADDRESS))
async def on_address(ctx: Context, ev: Incoming) -> None:
    if await handled_commonly(ctx, ev):
        return
    if ev.kind is Kind.BUTTON and ev.payload == "keep:address" and has_place(ctx.draft):
        await advance(ctx)
        return
    lim = ctx.settings.limits
    if ev.kind is Kind.LOCATION and ev.latitude is not None and ev.longitude is not None:
        if not ctx.settings.city.bbox.contains(ev.latitude, ev.longitude):
            ctx.hint("error.address.outside_city", city=ctx.settings.city.name.get(ctx.lang))
            await reask(ctx)
            return
        ctx.draft.update(address=None, lat=ev.latitude, lon=ev.longitude)
        await nearby.offer(ctx, lat=ev.latitude, lon=ev.longitude)
        await advance(ctx)
        return
    if ev.kind not in (Kind.TEXT, Kind.PHOTO):
        ctx.hint("hint.address_expected")
        await reask(ctx)
        return
    result = validate_address(ev.text, lim.address_min, lim.address_max)
    if isinstance(result, Invalid):
        invalid_hint(ctx, "address", result)
        await reask(ctx)
        return
    ctx.draft.update(address=result, lat=None, lon=None)
    await outages.offer(ctx, result)
    await nearby.offer(ctx, address=result)
    await advance(ctx)


# --- description --------------------------------------------------------------------------


async def ask_description(ctx: Context) -> None:
    lim = ctx.settings.limits
    ctx.say(
        _with_answer(
            ctx,
            ctx.t("new.description", min=lim.description_min, max=lim.description_max),
            "description",
        ),
        [*_keep_row(ctx, "description"), _nav(ctx)],
        Keyboard.INPUT,
    )


@step(Step.DESCRIPTION, ask_description, leads_to=moves(Step.DESCRIPTION))
async def on_description(ctx: Context, ev: Incoming) -> None:
    if await handled_commonly(ctx, ev):
        return
    if ev.kind is Kind.BUTTON and ev.payload == "keep:description" and ctx.draft.get("description"):
        await advance(ctx)
        return
    if ev.kind is Kind.VOICE:  # spoken rather than typed: the audio is the description
        ctx.draft.update(voice=ev.voice, voice_seconds=ev.duration, description=ev.text.strip())
        await advance(ctx)
        return
    if ev.kind not in (Kind.TEXT, Kind.PHOTO):
        ctx.hint("hint.text_expected")
        await reask(ctx)
        return
    lim = ctx.settings.limits
    result = validate_description(ev.text, lim.description_min, lim.description_max)
    if isinstance(result, Invalid):
        invalid_hint(ctx, "description", result)
        if result.code == "too_long":
            ctx.hint("error.description.length_now", length=len(ev.text.strip()))
        await reask(ctx)
        return
    ctx.draft.update(description=result, voice=None, voice_seconds=None)
    safety.after_description(ctx, result)
    await advance(ctx)
