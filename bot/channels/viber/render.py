"""The core's replies as Viber messages: pictures, texts, locations and keyboards.

How buttons come back: Viber keyboards have no callback data. A ``reply`` button sends its
``ActionBody`` back as an ordinary text message, so the ``ActionBody`` is the core's payload
behind a marker nobody types — U+2063 (INVISIBLE SEPARATOR) and ``b:`` — and the button is
``Silent`` so this text never shows in the chat. A text starting with the marker is a button
press (the core itself says whether the payload is still on offer); anything else is text,
and a typed label still works through the core's label mapping. ``location-picker`` and
``share-phone`` buttons need some ActionBody too (they answer with a location or contact
message instead) and API level 3: only a message that carries one asks for
``min_api_version`` 3 (the rest ask for 1, Viber's default, so every app shows them), and a
resident whose app reports a lower ``api_version`` gets no such buttons at all (they type the
address or phone instead; the client falls back the same way on error 13).

Viber shows one keyboard at a time, the one of the last message: each reply's keyboard goes
on its last message, and a reply without buttons that follows one with buttons in the same
answer carries that keyboard on, so the buttons the core still accepts stay on the screen.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Iterator
from typing import Any

from viberbot.api.messages import KeyboardMessage, LocationMessage, PictureMessage, TextMessage
from viberbot.api.messages.data_types.location import Location

from bot.channels.text import split_text as text_split
from bot.channels.viber.client import MESSAGE_LIMIT, REQUEST_ACTIONS, message_size
from bot.channels.viber.markup import as_typed
from handlers.i18n import to_plain
from handlers.types import Button, ButtonKind, Reply

log = logging.getLogger(__name__)

TEXT_LIMIT = 7000  # characters of a text message
# Room left in a message for receiver, sender name/avatar and min_api_version.
MESSAGE_BUDGET = MESSAGE_LIMIT - 2048
COLUMNS = 6
ACTION_BODY_LIMIT = 250
LABEL_LIMIT = 120
PAYLOAD_MARKER = "\u2063b:"

# What a label may be and still share a line: a wider one gets a line of its own.
FITS_IN = {6: 10_000, 3: 22, 2: 13}
BUTTON_COLOR = "#F2F1FA"
REQUEST_BUTTON_COLOR = "#DDF3E4"  # location / phone: they send something personal
KEYBOARD_COLOR = "#FFFFFF"


def encode_payload(payload: str) -> str:
    body = PAYLOAD_MARKER + payload
    if len(body) > ACTION_BODY_LIMIT:
        raise ValueError(f"button payload too long for Viber's ActionBody: {payload!r}")
    return body


def decode_payload(text: str) -> str | None:
    return text[len(PAYLOAD_MARKER) :] if text.startswith(PAYLOAD_MARKER) else None


def split_text(text: str, limit: int = TEXT_LIMIT) -> Iterator[str]:
    return text_split(text, limit)


def _balanced(row: list[Button], most: int = 3) -> list[list[Button]]:
    """A row of 4 becomes 2 + 2, 5 becomes 3 + 2: never more than ``most`` side by side."""
    parts = -(-len(row) // most)
    size, extra = divmod(len(row), parts)
    out, i = [], 0
    for p in range(parts):
        n = size + (1 if p < extra else 0)
        out.append(row[i : i + n])
        i += n
    return out


def layout(rows: list[list[Button]]) -> list[list[tuple[Button, int]]]:
    """The core's rows as lines of (button, Columns) that fill Viber's 6 columns exactly.

    One button: 6 columns; two: 3 each; three: 2 each. A line whose labels do not fit their
    share is broken up, each of its buttons full width.
    """
    lines: list[list[tuple[Button, int]]] = []
    for row in rows:
        for part in _balanced(row) if row else []:
            width = COLUMNS // len(part)
            if all(len(b.label) <= FITS_IN[width] for b in part):
                lines.append([(b, width) for b in part])
            else:
                lines.extend([(b, COLUMNS)] for b in part)
    return lines


_ACTION = {
    ButtonKind.CALLBACK: "reply",
    ButtonKind.REQUEST_LOCATION: "location-picker",
    ButtonKind.REQUEST_CONTACT: "share-phone",
}


def render_button(button: Button, columns: int) -> dict[str, Any]:
    label = button.label  # plain text (the core never puts markup in labels)
    if len(label) > LABEL_LIMIT:
        label = label[: LABEL_LIMIT - 1] + "…"
    rendered: dict[str, Any] = {
        "Columns": columns,
        "Rows": 1,
        "BgColor": BUTTON_COLOR if button.kind is ButtonKind.CALLBACK else REQUEST_BUTTON_COLOR,
        "Text": html.escape(label, quote=False),  # Viber reads button texts as HTML
        "TextSize": "regular",
        "TextVAlign": "middle",
        "TextHAlign": "center",
        "ActionType": _ACTION[button.kind],
        "ActionBody": encode_payload(button.payload),
    }
    if button.kind is ButtonKind.CALLBACK:
        rendered["Silent"] = True  # the marker and payload never appear in the chat
    return rendered


def _keyboard(buttons: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "Type": "keyboard",
        "DefaultHeight": False,
        "BgColor": KEYBOARD_COLOR,
        "Buttons": buttons,
    }


def render_keyboards(rows: list[list[Button]]) -> list[dict[str, Any]]:
    """One keyboard. The core pages long lists (``viber.keyboard_page_buttons``); only a
    keyboard over what one message may carry (30 KB) would still go in several, lines never
    cut and no button dropped, and only the last would stay on the resident's screen."""
    keyboards: list[dict[str, Any]] = []
    current: list[dict[str, Any]] = []
    for line in layout(rows):
        rendered = [render_button(b, width) for b, width in line]
        candidate = current + rendered
        too_big = message_size(_keyboard(candidate)) > MESSAGE_BUDGET
        if current and too_big:
            keyboards.append(_keyboard(current))
            candidate = rendered
        current = candidate
    if current:
        keyboards.append(_keyboard(current))
    if len(keyboards) > 1:
        log.warning("a keyboard of %s lines went out in %s messages", len(rows), len(keyboards))
    return keyboards


def _checked(message: Any) -> dict[str, Any]:
    if not message.validate():
        raise ValueError(f"not a valid Viber message: {message}")
    # viberbot writes absent fields as null ("thumbnail": null); Viber wants them left out.
    return {k: v for k, v in message.to_dict().items() if v is not None}


def _needs_level_3(message: dict[str, Any]) -> bool:
    keyboard = message.get("keyboard") or {}
    return any(b.get("ActionType") in REQUEST_ACTIONS for b in keyboard.get("Buttons", []))


def _without_request_buttons(rows: list[list[Button]]) -> list[list[Button]]:
    kept = [[b for b in row if b.kind is ButtonKind.CALLBACK] for row in rows]
    return [row for row in kept if row]


def is_url(ref: str) -> bool:
    return ref.startswith(("https://", "http://"))


def render_reply(
    reply: Reply, carried: dict[str, Any] | None = None, api_version: int = 0
) -> list[dict[str, Any]]:
    """The messages for one reply: pictures, text (split), location; the keyboard (the reply's
    own, else ``carried``) rides on the last of them."""
    messages: list[dict[str, Any]] = []
    for ref in reply.photos:
        # Only public URLs can be shown: Viber fetches the picture itself. The sender gives
        # the bot's own photos one first (bot/channels/viber/media.py).
        if is_url(ref):
            messages.append(_checked(PictureMessage(media=ref, text="")))
    # reply.document (staff CSV exports) and force_reply have no Viber counterpart: the text
    # goes alone. Viber "file" messages would need a public URL, like pictures.
    text = as_typed(to_plain(reply.text))
    messages += [_checked(TextMessage(text=part)) for part in split_text(text)]
    if reply.latitude is not None and reply.longitude is not None:
        messages.append(
            _checked(LocationMessage(location=Location(lat=reply.latitude, lon=reply.longitude)))
        )
    rows = reply.buttons
    if 0 < api_version < 3:
        rows = _without_request_buttons(rows)
    keyboards = render_keyboards(rows) if rows else []
    if not keyboards and carried is not None and not reply.remove_input_keyboard:
        keyboards = [carried]
    for i, keyboard in enumerate(keyboards):
        last = messages[-1] if messages else None
        if (
            i == 0
            and last is not None
            and message_size({**last, "keyboard": keyboard}) <= MESSAGE_BUDGET
        ):
            last["keyboard"] = keyboard
        else:
            messages.append(_checked(KeyboardMessage(keyboard=keyboard)))
    for message in messages:
        if _needs_level_3(message):
            message["min_api_version"] = 3
    return messages


def render_replies(replies: list[Reply], api_version: int = 0) -> list[dict[str, Any]]:
    """``api_version``: the resident's app's, when a callback said it (0: unknown)."""
    messages: list[dict[str, Any]] = []
    carried: dict[str, Any] | None = None
    for reply in replies:
        rendered = render_reply(reply, carried, api_version)
        if reply.buttons or reply.remove_input_keyboard:
            carried = rendered[-1].get("keyboard") if rendered else None
        messages += rendered
    return messages


def render_welcome(
    replies: list[Reply], sender: dict[str, str], min_api_version: int
) -> dict[str, Any]:
    """The one message a ``conversation_started`` callback may answer with: the first reply
    with buttons (the language choice), or all the texts."""
    shown = next((r for r in replies if r.buttons), None)
    text = to_plain(shown.text) if shown else "\n\n".join(to_plain(r.text) for r in replies)
    text = as_typed(text)
    first = next(split_text(text), "")
    if not first:
        return {}
    keyboards = render_keyboards(shown.buttons) if shown else []
    message = _checked(TextMessage(text=first, keyboard=keyboards[0] if keyboards else None))
    message["sender"] = sender
    message["min_api_version"] = max(min_api_version, 3 if _needs_level_3(message) else 1)
    if message_size(message) > MESSAGE_BUDGET:  # one message only: shorten the text
        message["text"] = first[:1000] + "…"
    return message
