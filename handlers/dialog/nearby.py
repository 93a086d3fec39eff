""" "This is my problem too" (issue 11): once the category and the place are known, the open
requests of that category at the same building (or near the pin) are shown, up to three, each
with a button to join it instead of filing another; "Mine is different" (or simply answering
the next question) goes on filing. Joining subscribes the resident to that request
(models/domain/subscribers.py): they are told its number now and every change later, and the
department's card counts them, edited in place. The buttons are the step's own, so only
requests the resident was shown can be joined."""

from __future__ import annotations

from handlers.dialog.context import Context, Step
from handlers.dialog.flow import goto, reask
from handlers.formatting import shorten, when
from handlers.parsing import parse_row_id
from handlers.types import Button
from models.domain.lifecycle import card_refresh
from models.domain.status import RULE
from models.domain.subscribers import join, nearby_open
from models.domain.tables import Request

PREFIX = "near:"
SHORT = 80


def _short(text: str | None) -> str:
    return shorten(" ".join((text or "").split()), SHORT)


async def offer(
    ctx: Context,
    *,
    address: str | None = None,
    lat: float | None = None,
    lon: float | None = None,
) -> None:
    found = await nearby_open(
        ctx.session,
        str(ctx.draft.get("category") or ""),
        address=address,
        lat=lat,
        lon=lon,
        radius_m=ctx.settings.limits.nearby_radius_m,
    )
    if not found:
        return
    lines = [ctx.t("nearby.head")]
    lines += [
        ctx.t(
            "nearby.line",
            number=r.number,
            description=_short(r.description),
            status=ctx.t(f"status.{r.status.value}"),
            filed=when(ctx.settings, ctx.lang, r.created_at),
        )
        for r in found
    ]
    rows = [
        [Button(ctx.label("nearby.mine_too", number=r.number), f"{PREFIX}join:{r.id}")]
        for r in found
    ]
    rows.append([ctx.button("nearby.different", f"{PREFIX}no")])
    ctx.say("\n".join(lines), rows)


async def on_button(ctx: Context, payload: str) -> None:
    action, _, raw_id = payload.removeprefix(PREFIX).partition(":")
    if action != "join":
        ctx.say(ctx.t("nearby.go_on"))
        await reask(ctx)
        return
    request_id = parse_row_id(raw_id)
    req = (
        await ctx.session.get(Request, request_id, with_for_update=True)
        if request_id is not None
        else None
    )
    if req is None or not RULE[req.status].open:
        ctx.say(ctx.t("nearby.closed_meanwhile"))
        await reask(ctx)
        return
    if await join(ctx.session, req, ctx.resident, ctx.now):
        # The department's card shows how many residents this problem has, edited in place.
        card_refresh(ctx.session, req, ctx.settings.desk_chats(req.department), now=ctx.now)
    ctx.data["draft"] = {}
    ctx.say(ctx.t("nearby.joined", number=req.number, status=ctx.t(f"status.{req.status.value}")))
    await goto(ctx, Step.MENU)
