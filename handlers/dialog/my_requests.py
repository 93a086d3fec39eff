"""My requests: a paged list, a detail view with history, adding details, withdrawing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from handlers import formatting
from handlers.dialog.confirm import photo_count
from handlers.dialog.context import Context, Step
from handlers.dialog.flow import goto, reask, step
from handlers.dialog.new_request import category_label
from handlers.formatting import department_name, place, when
from handlers.i18n import Safe
from handlers.parsing import parse_row_id
from handlers.types import Button, Incoming, Kind
from handlers.validation import Invalid, validate_comment
from models.domain.lifecycle import notify_desk
from models.domain.requests import (
    add_comment,
    add_photo,
    add_voice,
    cancel_by_resident,
    get_for_resident,
    is_open,
    list_for_resident,
    parse_number,
)
from models.domain.status import Status
from models.domain.tables import Actor, EventKind, Request

SHORT_ADDRESS = 28


def local_time(ctx: Context, value: datetime) -> str:
    """A resident reads one style of date in every view ("3 December, 18:00"), the style of
    the deadline beside it; the numeric style is the staff's."""
    return formatting.when(ctx.settings, ctx.lang, value)


def status_label(ctx: Context, status: Status) -> str:
    return ctx.t(f"status.{status.value}")


def _short(text: str | None, limit: int = SHORT_ADDRESS) -> str:
    return formatting.shorten(text, limit)


async def open_list(ctx: Context, page: int) -> None:
    ctx.view["page"] = max(page, 0)
    ctx.view.pop("request", None)
    await goto(ctx, Step.MY_LIST)


async def ask_list(ctx: Context) -> None:
    size = ctx.settings.limits.page_size
    page = int(ctx.view.get("page", 0))
    items, total = await list_for_resident(
        ctx.session, ctx.resident.id, offset=page * size, limit=size
    )
    if not items and page > 0:  # the list shrank since the page was shown
        ctx.view["page"] = page = 0
        items, total = await list_for_resident(ctx.session, ctx.resident.id, offset=0, limit=size)
    if not total:
        ctx.say(
            ctx.t("my.empty"),
            [[ctx.button("menu.new", "menu:new")], [ctx.button("nav.menu", "nav:menu")]],
        )
        return
    pages = (total + size - 1) // size
    rows = [
        [
            Button(
                ctx.label(
                    "my.item",
                    number=r.number,
                    status=status_label(ctx, r.status),
                    address=_short(place(ctx.tr, ctx.lang, r.address, r.latitude, r.longitude)),
                ),
                f"req:{r.id}",
            )
        ]
        for r in items
    ]
    nav = []
    if page > 0:
        nav.append(ctx.button("my.prev", f"page:{page - 1}"))
    if page + 1 < pages:
        nav.append(ctx.button("my.next", f"page:{page + 1}"))
    if nav:
        rows.append(nav)
    rows.append([ctx.button("nav.menu", "nav:menu")])
    ctx.say(ctx.n("my.list", total, page=page + 1, pages=pages), rows)


async def _open_detail(ctx: Context, req: Request) -> None:
    ctx.view["request"] = req.id
    await goto(ctx, Step.MY_DETAIL)


async def _find_own_by_number(ctx: Context, text: str) -> Request | None:
    if parse_number(text) is None:
        return None
    req_id = (
        await ctx.session.execute(
            select(Request.id).where(
                Request.number == text.strip(), Request.resident_id == ctx.resident.id
            )
        )
    ).scalar_one_or_none()
    return None if req_id is None else await get_for_resident(ctx.session, ctx.resident.id, req_id)


@step(
    Step.MY_LIST,
    ask_list,
    leads_to={Step.MY_DETAIL: "a request", Step.CATEGORY: "New request", Step.MENU: ""},
)
async def on_list(ctx: Context, ev: Incoming) -> None:
    from handlers.dialog import new_request

    if ev.kind is Kind.BUTTON:
        kind, _, arg = ev.payload.partition(":")
        number = parse_row_id(arg)
        if kind == "req" and number is not None:
            req = await get_for_resident(ctx.session, ctx.resident.id, number)
            if req is not None:
                await _open_detail(ctx, req)
                return
            ctx.hint("my.not_found")
            await reask(ctx)
            return
        if kind == "page" and number is not None:
            await open_list(ctx, number)
            return
        if ev.payload == "nav:menu":
            await goto(ctx, Step.MENU)
            return
        if ev.payload == "menu:new":
            await new_request.start(ctx)
            return
    if ev.kind is Kind.TEXT and parse_number(ev.text):
        req = await _find_own_by_number(ctx, ev.text)
        if req is not None:
            await _open_detail(ctx, req)
            return
        ctx.hint("my.not_found")
        await reask(ctx)
        return
    ctx.hint("hint.use_buttons_or_number")
    await reask(ctx)


def _history(ctx: Context, req: Request) -> str:
    lines = []
    for ev in req.events:
        when = local_time(ctx, ev.at)
        if ev.kind in (EventKind.CREATED, EventKind.STATUS) and ev.new_status is not None:
            line = ctx.t("history.status", when=when, status=status_label(ctx, ev.new_status))
        elif ev.kind is EventKind.COMMENT:
            line = ctx.t("history.comment", when=when, text=_short(ev.text, 200))
        elif ev.kind is EventKind.PHOTO:
            own = ev.actor is Actor.RESIDENT
            line = ctx.t("history.photo" if own else "history.proof", when=when)
        elif ev.kind is EventKind.VOICE:
            line = ctx.t("history.voice", when=when)
        elif ev.kind is EventKind.DEADLINE:
            line = ctx.t("history.deadline", when=when, text=_short(ev.text, 300))
        elif ev.kind is EventKind.REPLY:
            line = ctx.t("history.reply", when=when, text=_short(ev.text, 500))
        else:
            continue
        if ev.text and ev.kind is EventKind.STATUS:
            line += "\n" + ctx.t("history.note", text=_short(ev.text, 500))
        lines.append(line)
    return "\n".join(lines)


async def ask_detail(ctx: Context) -> None:
    req = await get_for_resident(ctx.session, ctx.resident.id, int(ctx.view.get("request", 0)))
    if req is None:
        await open_list(ctx, int(ctx.view.get("page", 0)))
        return
    expected = ""
    if is_open(req) and req.deadline_at is not None and req.status is not Status.NEEDS_INFO:
        expected = "\n" + ctx.t(
            "new.expected", deadline=when(ctx.settings, ctx.lang, req.deadline_at)
        )
    ctx.say(
        ctx.t(
            "my.detail",
            number=req.number,
            status=status_label(ctx, req.status),
            category=category_label(ctx, req.category, req.subcategory),
            department=department_name(ctx.settings, ctx.lang, req.department),
            address=place(ctx.tr, ctx.lang, req.address, req.latitude, req.longitude),
            description=req.description or "—",
            photos=Safe(photo_count(ctx, sum(1 for p in req.photos if not p.proof))),
            created=local_time(ctx, req.created_at),
            history=Safe(_history(ctx, req)),
        )
        + expected
    )
    rows: list[list[Button]] = []
    if is_open(req):
        rows.append([ctx.button("my.add_info", "detail:add")])
    if req.status is Status.NEW:
        rows.append([ctx.button("my.cancel_request", "detail:cancel")])
    rows.append([ctx.button("my.back_to_list", "detail:list"), ctx.button("nav.menu", "nav:menu")])
    ctx.say(ctx.t("my.detail_actions"), rows)


@step(
    Step.MY_DETAIL,
    ask_detail,
    leads_to={
        Step.ADD_INFO: "add a comment or photo",
        Step.CANCEL_REQUEST: "withdraw (only while new)",
        Step.MY_LIST: "",
        Step.MENU: "",
    },
)
async def on_detail(ctx: Context, ev: Incoming) -> None:
    match ev.payload if ev.kind is Kind.BUTTON else "":
        case "detail:add":
            await goto(ctx, Step.ADD_INFO)
        case "detail:cancel":
            await goto(ctx, Step.CANCEL_REQUEST)
        case "detail:list":
            await open_list(ctx, int(ctx.view.get("page", 0)))
        case "nav:menu":
            await goto(ctx, Step.MENU)
        case _:
            ctx.hint("hint.use_buttons")
            await reask(ctx)


async def _own_open(ctx: Context) -> Request | None:
    req = await get_for_resident(ctx.session, ctx.resident.id, int(ctx.view.get("request", 0)))
    return req if req is not None and is_open(req) else None


async def ask_add_info(ctx: Context) -> None:
    ctx.say(ctx.t("my.add_info_prompt"), [[ctx.button("nav.back", "nav:back")]])


@step(Step.ADD_INFO, ask_add_info, leads_to={Step.MY_DETAIL: ""})
async def on_add_info(ctx: Context, ev: Incoming) -> None:
    if ev.kind is Kind.BUTTON and ev.payload == "nav:back":
        await goto(ctx, Step.MY_DETAIL)
        return
    req = await _own_open(ctx)
    if req is None:
        ctx.hint("my.closed_now")
        await goto(ctx, Step.MY_DETAIL)
        return
    if ev.kind not in (Kind.TEXT, Kind.PHOTO, Kind.VOICE):
        ctx.hint("hint.text_or_photo_expected")
        await reask(ctx)
        return
    text = ""
    if ev.text or ev.kind is Kind.TEXT:
        result = validate_comment(ev.text, ctx.settings.limits.comment_max)
        if isinstance(result, Invalid):
            ctx.hint(f"error.comment.{result.code}", limit=result.limit)
            await reask(ctx)
            return
        text = result
        await add_comment(ctx.session, ctx.resident, req, text)
    if ev.kind is Kind.PHOTO:
        await add_photo(ctx.session, ctx.resident, req, ev.photo)
    if ev.kind is Kind.VOICE:
        await add_voice(ctx.session, ctx.resident, req, ev.voice)
    # The department sees what the resident added without opening the request.
    notify_desk(
        ctx.session,
        req,
        ctx.settings.desk_chats(req.department),
        "desk_comment",
        now=ctx.now,
        text=text,
        photo=ev.photo if ev.kind is Kind.PHOTO else None,
        voice=ev.voice or None,
        voice_seconds=ev.duration if ev.voice else None,
    )
    ctx.say(ctx.t("my.info_added", number=req.number))
    await goto(ctx, Step.MY_DETAIL)


async def ask_cancel(ctx: Context) -> None:
    ctx.say(
        ctx.t("my.cancel_confirm"),
        [[ctx.button("my.cancel_yes", "cancel:yes")], [ctx.button("my.cancel_no", "cancel:no")]],
    )


@step(Step.CANCEL_REQUEST, ask_cancel, leads_to={Step.MY_DETAIL: ""})
async def on_cancel(ctx: Context, ev: Incoming) -> None:
    if ev.kind is Kind.BUTTON and ev.payload == "cancel:yes":
        req = await get_for_resident(ctx.session, ctx.resident.id, int(ctx.view.get("request", 0)))
        if req is not None and await cancel_by_resident(ctx.session, ctx.resident, req):
            ctx.say(ctx.t("my.cancelled", number=req.number))
        else:
            ctx.hint("my.cannot_cancel")
        await goto(ctx, Step.MY_DETAIL)
    elif ev.kind is Kind.BUTTON and ev.payload == "cancel:no":
        await goto(ctx, Step.MY_DETAIL)
    else:
        ctx.hint("hint.use_buttons")
        await reask(ctx)
