"""A known outage, told before filing (issue 11): once the category and a typed address are
known, a resident at a place staff declared an outage for hears that the city knows, until
when, and may subscribe to be told when it is over instead of filing. The filing simply goes
on otherwise: the next question follows the notice. A pin has no street to match."""

from __future__ import annotations

from handlers.dialog.context import Context, Step
from handlers.dialog.flow import goto, reask
from handlers.formatting import category_name, when
from handlers.parsing import parse_row_id
from models.domain.outages import Outage, known_at, subscribe

PREFIX = "out:"


async def offer(ctx: Context, address: str) -> None:
    category = str(ctx.draft.get("category") or "")
    outage = await known_at(ctx.session, category, address)
    if outage is None:
        return
    ctx.say(
        ctx.t(
            "outage.known",
            category=category_name(ctx.settings, ctx.lang, outage.category, None),
            text=outage.text,
            until=when(ctx.settings, ctx.lang, outage.until_at),
        ),
        [[ctx.button("outage.subscribe", f"{PREFIX}sub:{outage.id}")]],
    )


async def on_button(ctx: Context, rest: str) -> None:
    """ "Tell me when it is over": subscribed, and the draft is let go."""
    action, _, raw_id = rest.partition(":")
    outage_id = parse_row_id(raw_id)
    outage = await ctx.session.get(Outage, outage_id) if outage_id is not None else None
    if action != "sub" or outage is None or outage.ended_at is not None:
        ctx.say(ctx.t("outage.already_over"))
        await reask(ctx)
        return
    await subscribe(ctx.session, outage, ctx.resident)
    ctx.data["draft"] = {}
    ctx.say(
        ctx.t(
            "outage.subscribed",
            category=category_name(ctx.settings, ctx.lang, outage.category, None),
        )
    )
    await goto(ctx, Step.MENU)
