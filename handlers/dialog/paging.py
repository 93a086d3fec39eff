"""A keyboard longer than the channel shows at once, in pages.

Some messengers show a long keyboard badly (Viber: one keyboard at a time, and a long one
scrolls out of sight or, split over several messages, only the last part stays). The channel
says how many buttons it shows at once (``Incoming.page_size``); a longer keyboard goes out
as its first page and a "More ▶️" button, and the other pages are kept with the dialog's
state, so a press answered by another worker or after a restart finds them. Every button of
every page stays valid (typed or pressed) while the keyboard is the dialog's latest.
"""

from __future__ import annotations

from typing import Any

from handlers.dialog.context import Context
from handlers.dialog.flow import reask
from handlers.types import Button, ButtonKind, Incoming, Keyboard, Kind

PREFIX = "kbpage:"
KEY = "kb_pages"


def is_page(ev: Incoming) -> bool:
    return ev.kind is Kind.BUTTON and ev.payload.startswith(PREFIX)


def _split(rows: list[list[Button]], per_page: int) -> list[list[list[Button]]]:
    """Whole rows on a page while they fit; a row wider than a page is cut."""
    pages: list[list[list[Button]]] = [[]]
    room = per_page
    for row in rows:
        for start in range(0, len(row), per_page):
            part = row[start : start + per_page]
            if len(part) > room and pages[-1]:
                pages.append([])
                room = per_page
            pages[-1].append(part)
            room -= len(part)
    return pages


def _nav(ctx: Context, page: int, pages: int) -> list[Button]:
    row = []
    if page > 0:
        row.append(Button(ctx.label("kb.prev", page=page, pages=pages), f"{PREFIX}{page - 1}"))
    if page < pages - 1:
        row.append(Button(ctx.label("kb.next", page=page + 2, pages=pages), f"{PREFIX}{page + 1}"))
    return row


def _stored(pages: list[list[list[Button]]], keyboard: Keyboard) -> dict[str, Any]:
    return {
        "kb": keyboard.value,
        "pages": [[[[b.label, b.payload, b.kind.value] for b in row] for row in p] for p in pages],
    }


def _loaded(rows: list[list[list[str]]]) -> list[list[Button]]:
    return [[Button(label, payload, ButtonKind(kind)) for label, payload, kind in r] for r in rows]


def paginate(ctx: Context, page_size: int) -> None:
    """The dialog's new keyboard (on its last reply with buttons) cut into pages when it has
    more than ``page_size`` buttons; the first page goes out, the rest are kept."""
    shown = [r for r in ctx.replies if r.buttons]
    if not shown:
        return  # a hint without buttons: the keyboard on screen, and its pages, still hold
    reply = shown[-1]
    if page_size <= 1 or sum(len(row) for row in reply.buttons) <= page_size:
        ctx.data.pop(KEY, None)
        return
    pages = _split(reply.buttons, page_size - 1)  # a place for "More" on each page
    ctx.data[KEY] = _stored(pages, reply.keyboard)
    reply.buttons = [*pages[0], _nav(ctx, 0, len(pages))]


async def show(ctx: Context, ev: Incoming) -> None:
    """Another page of the keyboard on screen, under a short line saying which."""
    stored = ctx.data.get(KEY) or {}
    pages = stored.get("pages") or []
    try:
        page = int(ev.payload[len(PREFIX) :])
    except ValueError:
        page = -1
    if not 0 <= page < len(pages):
        ctx.hint("hint.stale_button")
        await reask(ctx)
        return
    ctx.keep_offered = True  # every page's buttons stay valid, as they were
    buttons = [*_loaded(pages[page]), _nav(ctx, page, len(pages))]
    ctx.say(
        ctx.t("kb.page", page=page + 1, pages=len(pages)),
        buttons,
        keyboard=Keyboard(stored.get("kb", Keyboard.INLINE.value)),
    )
