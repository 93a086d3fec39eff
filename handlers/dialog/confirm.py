"""The last step of filing: the summary, its Edit buttons, and filing the request (numbered,
routed to its department, deadlined, its card queued for the department's chats)."""

from __future__ import annotations

from typing import Any

from handlers.dialog.context import Context, Step
from handlers.dialog.flow import goto, reask, step
from handlers.dialog.new_request import (
    EDITABLE,
    cancel,
    category_label,
    draft_place,
    keep_photo,
    next_missing,
    resume,
)
from handlers.formatting import answered, audio_length, when
from handlers.i18n import Safe
from handlers.types import Incoming, Kind
from models.domain.filing import file_request
from models.domain.requests import NewRequest


def photo_count(ctx: Context, count: int) -> str:
    """ "Photos: none" rather than "Photos: 0"."""
    return ctx.n("summary.photos", count) if count else ctx.t("summary.no_photos")


def summary(ctx: Context, d: dict[str, Any]) -> str:
    photos = len(d.get("photos", []))
    said = [
        ctx.t("summary.answer", question=q, answer=a)
        for q, a in answered(
            ctx.settings, ctx.lang, d.get("category", ""), d.get("subcategory"), d.get("answers")
        )
    ]
    voice = voice_line(ctx, d.get("voice_seconds") or 0) if d.get("voice") else ""
    if voice and d.get("description"):
        said.insert(0, voice)
    return "\n".join([_summary(ctx, d, photos, voice), *said])


def voice_line(ctx: Context, seconds: int) -> str:
    """ "🎤 voice message, 0:42" (Viber says no length of an audio file)."""
    length = audio_length(seconds)
    return ctx.t("summary.voice", length=length) if length else ctx.t("summary.voice_plain")


def _summary(ctx: Context, d: dict[str, Any], photos: int, voice: str) -> str:
    return ctx.t(
        "new.summary",
        category=category_label(ctx, d.get("category", ""), d.get("subcategory")),
        address=draft_place(ctx),
        description=d.get("description") or Safe(voice),
        photos=Safe(photo_count(ctx, photos)),
        phone=d.get("phone") or ctx.t("summary.no_phone"),
    )


async def ask_confirm(ctx: Context) -> None:
    ctx.draft["editing"] = False
    ctx.say(summary(ctx, ctx.draft), [])
    ctx.say(
        ctx.t("new.confirm_question"),
        [
            [ctx.button("new.confirm", "confirm")],
            [
                ctx.button("edit.category", "edit:category"),
                ctx.button("edit.address", "edit:address"),
            ],
            [
                ctx.button("edit.description", "edit:description"),
                ctx.button("edit.photos", "edit:photos"),
            ],
            [ctx.button("edit.phone", "edit:phone"), ctx.button("nav.cancel", "nav:cancel")],
        ],
    )


@step(
    Step.CONFIRM,
    ask_confirm,
    leads_to={
        **{edit: "Edit" for edit in EDITABLE.values()},
        Step.SUBCATEGORY: "a draft saved by an older version",
        Step.MENU: "Confirm → number 2026-000123, or Cancel",
    },
)
async def on_confirm(ctx: Context, ev: Incoming) -> None:
    if ev.kind is Kind.BUTTON and ev.payload == "nav:cancel":
        await cancel(ctx)
        return
    if ev.kind is Kind.BUTTON and ev.payload.startswith("edit:"):
        target = EDITABLE.get(ev.payload.removeprefix("edit:"))
        if target is not None:
            ctx.draft["editing"] = True  # the photos stay: more are added, or removed there
            await goto(ctx, target)
            return
    if ev.kind is Kind.BUTTON and ev.payload == "confirm":
        await submit(ctx)
        return
    if ev.kind is Kind.PHOTO and keep_photo(ctx, ev):
        ctx.say(ctx.t("photos.added"))
        await reask(ctx)
        return
    ctx.hint("hint.use_buttons")
    await reask(ctx)


async def submit(ctx: Context) -> None:
    d = ctx.draft
    if next_missing(ctx) is not Step.CONFIRM:  # a draft from an older version, or tampered
        await resume(ctx)
        return
    req = await file_request(
        ctx.session,
        ctx.settings,
        ctx.resident,
        NewRequest(
            category=d["category"],
            subcategory=d.get("subcategory"),
            department="",  # routed by file_request
            address=d.get("address") or None,
            latitude=d.get("lat"),
            longitude=d.get("lon"),
            description=d.get("description") or "",
            voice=d.get("voice") or None,
            voice_seconds=d.get("voice_seconds"),
            photos=list(d.get("photos", [])),
            phone=d.get("phone"),
            answers={str(k): str(v) for k, v in (d.get("answers") or {}).items()},
        ),
        now=ctx.now,
    )
    department = req.department
    dept = ctx.settings.department(department)
    ctx.data["draft"] = {}
    assert req.deadline_at is not None
    ctx.say(
        ctx.t(
            "new.submitted",
            number=req.number,
            department=dept.name.get(ctx.lang) if dept else department,
        )
        + "\n"
        + ctx.t("new.expected", deadline=when(ctx.settings, ctx.lang, req.deadline_at))
    )
    await goto(ctx, Step.MENU)
