"""The Viber channel: callbacks → ``Incoming``, ``Reply`` → Viber REST API messages.

What viberbot (1.0.12) is used for, and what it is not:

* **Parsing callbacks and building messages** — ``viber_requests.create_request`` and the
  message classes (``TextMessage``, ``KeyboardMessage``, ``PictureMessage``,
  ``LocationMessage``) with their ``to_dict()``/``validate()`` describe the wire format well.
  Its parser is not trusted blindly: it raises ``KeyError('desc')`` on the ``failed`` callbacks
  Viber really sends (they have no ``desc``) and raises on event types it does not know
  (``client_status``, anything Viber adds later). Every callback is therefore read from the
  JSON as well, and an event viberbot cannot parse is still answered with 200.
* **Not for sending.** ``Api.send_messages`` posts with the blocking ``requests`` library: one
  slow answer from Viber would stop the whole event loop — every Telegram update, every other
  Viber callback, the outbox worker — for as long as it takes. ``ViberClient`` posts the same
  JSON (``to_dict()`` of viberbot's messages) to ``{VIBER_API_BASE}/send_message`` with aiohttp,
  authenticated with the ``X-Viber-Auth-Token`` header, and turns ``status != 0`` into typed
  errors (``ViberError.retryable``, ``NotSubscribed``) that the outbox can act on.

How buttons come back: Viber keyboards have no callback data. A ``reply`` button sends its
``ActionBody`` back as an ordinary text message, so the ``ActionBody`` is the core's payload
behind a marker nobody types — U+2063 (INVISIBLE SEPARATOR) and ``b:`` — and the button is
``Silent`` so this text never shows in the chat. A text starting with the marker is a button
press (the core itself says whether the payload is still on offer); anything else is text,
and a typed label still works through the core's label mapping. ``location-picker`` and
``share-phone`` buttons need some ActionBody too (they answer with a location or contact
message instead) and need ``min_api_version`` ≥ 3 (``viber.min_api_version``).

Viber shows one keyboard at a time, the one of the last message: each reply's keyboard goes
on its last message, and a reply without buttons that follows one with buttons in the same
answer carries that keyboard on, so the buttons the core still accepts stay on the screen.

The webhook checks ``X-Viber-Content-Signature`` (HMAC-SHA256 of the raw body, keyed with the
auth token) before reading anything. ``conversation_started`` is answered in the response body
(the one welcome message Viber allows; the person is not subscribed yet). Messages are
answered 200 at once and handled in the background, one at a time per person, in the order
they came; ``message_token`` is the event id the core dedupes on, so Viber's retries of a
callback neither file a second request nor answer twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import json
import logging
import re
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from viberbot.api.messages import (
    ContactMessage,
    KeyboardMessage,
    LocationMessage,
    PictureMessage,
    TextMessage,
    URLMessage,
)
from viberbot.api.messages.data_types.location import Location
from viberbot.api.viber_requests import ViberMessageRequest, create_request

from bot.channels.text import split_text as text_split
from bot.config import PUBLIC_VIBER_API, ViberSettings
from bot.delivery import MessageGone, PermanentFailure, RecipientGone, TemporaryFailure
from handlers.dialog.conversation import Conversation
from handlers.i18n import LANGUAGES, Translator, to_plain
from handlers.types import Button, ButtonKind, Incoming, Kind, Reply
from models.domain.base import utcnow
from models.domain.residents import find_resident, get_or_create_resident

log = logging.getLogger(__name__)

CHANNEL = "viber"
SIGNATURE_HEADER = "X-Viber-Content-Signature"
AUTH_HEADER = "X-Viber-Auth-Token"

TEXT_LIMIT = 7000  # characters of a text message
MESSAGE_LIMIT = 30 * 1024  # bytes of one send_message request
# Room left in a message for receiver, sender name/avatar and min_api_version.
MESSAGE_BUDGET = MESSAGE_LIMIT - 2048
KEYBOARD_BUTTONS = 24
COLUMNS = 6
ACTION_BODY_LIMIT = 250
LABEL_LIMIT = 120
SENDER_NAME_LIMIT = 28
PHOTO_MAX_BYTES = 10 * 1024 * 1024
PAYLOAD_MARKER = "\u2063b:"

# What a label may be and still share a line: a wider one gets a line of its own.
FITS_IN = {6: 10_000, 3: 22, 2: 13}
BUTTON_COLOR = "#F2F1FA"
REQUEST_BUTTON_COLOR = "#DDF3E4"  # location / phone: they send something personal
KEYBOARD_COLOR = "#FFFFFF"

# Events asked for in set_webhook (``message`` comes always). delivered/seen are not needed.
WEBHOOK_EVENTS = ["conversation_started", "subscribed", "unsubscribed", "failed"]

# https://creators.viber.com/docs/bots-api/errors
STATUS_NOT_REGISTERED = 5
STATUS_NOT_SUBSCRIBED = 6
STATUS_TOO_MANY_REQUESTS = 12
RETRYABLE_STATUSES = frozenset({STATUS_TOO_MANY_REQUESTS})
TRANSPORT_ERROR = -1  # no Viber status: HTTP error, timeout, connection refused…

_IMAGE_EXT = {"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp"}
_SAFE_NAME = re.compile(r"[^0-9A-Za-z_-]")


# --- errors and the HTTP client ------------------------------------------------------------


class ViberError(Exception):
    """Viber answered ``status != 0`` (or could not be reached: ``status`` -1)."""

    def __init__(self, status: int, status_message: str, *, retryable: bool | None = None):
        super().__init__(f"Viber status {status}: {status_message}")
        self.status = status
        self.status_message = status_message
        self.retryable = status in RETRYABLE_STATUSES if retryable is None else retryable


class NotSubscribed(ViberError):
    """The person unsubscribed (or has no Viber account): nothing may be sent to them."""


def _error(status: int, message: str) -> ViberError:
    if status in (STATUS_NOT_SUBSCRIBED, STATUS_NOT_REGISTERED):
        return NotSubscribed(status, message, retryable=False)
    return ViberError(status, message)


def _dumps(data: object) -> bytes:
    # UTF-8, not \\u escapes: a Cyrillic text is a third of the size against the 30 KB limit.
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def message_size(message: dict[str, Any]) -> int:
    return len(_dumps(message))


class ViberClient:
    """The Viber REST API over aiohttp; independent of the webhook, reusable by the outbox."""

    def __init__(
        self,
        auth_token: str,
        api_base: str = PUBLIC_VIBER_API,
        *,
        name: str,
        avatar: str = "",
        min_api_version: int = 7,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 15.0,
    ) -> None:
        self.auth_token = auth_token
        self.api_base = api_base.rstrip("/")
        self.name = name[:SENDER_NAME_LIMIT]
        self.avatar = avatar
        self.min_api_version = min_api_version
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session = session
        self._owns_session = session is None

    @property
    def sender(self) -> dict[str, str]:
        return {"name": self.name, "avatar": self.avatar} if self.avatar else {"name": self.name}

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
            self._owns_session = True
        return self._session

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()

    async def call(self, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST one API method; the answer's JSON when ``status`` is 0, else ``ViberError``."""
        try:
            async with self.session.post(
                f"{self.api_base}/{method}",
                data=_dumps(payload),
                headers={AUTH_HEADER: self.auth_token, "Content-Type": "application/json"},
            ) as resp:
                if resp.status != 200:
                    text = (await resp.text())[:200]
                    raise ViberError(
                        TRANSPORT_ERROR,
                        f"HTTP {resp.status} from {method}: {text}",
                        retryable=resp.status >= 500 or resp.status == 429,
                    )
                answer = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ViberError(
                TRANSPORT_ERROR, f"{method}: {type(exc).__name__}: {exc}", retryable=True
            ) from exc
        if not isinstance(answer, dict):
            raise ViberError(TRANSPORT_ERROR, f"{method}: not a JSON object", retryable=True)
        status = int(answer.get("status", TRANSPORT_ERROR))
        if status != 0:
            raise _error(status, str(answer.get("status_message", "")))
        return answer

    async def send(self, receiver: str, messages: list[dict[str, Any]]) -> list[str]:
        """Send the messages in order; their message tokens. Stops at the first error."""
        tokens = []
        for message in messages:
            payload = {
                **message,
                "receiver": receiver,
                "sender": self.sender,
                "min_api_version": max(
                    int(message.get("min_api_version", 1)), self.min_api_version
                ),
            }
            answer = await self.call("send_message", payload)
            tokens.append(str(answer.get("message_token", "")))
        return tokens

    async def set_webhook(self, url: str, event_types: list[str] | None = None) -> list[str]:
        answer = await self.call(
            "set_webhook",
            {
                "url": url,
                "event_types": WEBHOOK_EVENTS if event_types is None else event_types,
                "send_name": True,
                "send_photo": False,
            },
        )
        return list(answer.get("event_types", []))

    async def unset_webhook(self) -> None:
        await self.call("set_webhook", {"url": ""})

    async def get_account_info(self) -> dict[str, Any]:
        return await self.call("get_account_info", {})


# --- rendering: Reply → Viber messages ------------------------------------------------------


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
    """One keyboard, or several when the buttons exceed what one message may carry (24
    buttons, 30 KB): lines are never cut and no button is dropped."""
    keyboards: list[dict[str, Any]] = []
    current: list[dict[str, Any]] = []
    for line in layout(rows):
        rendered = [render_button(b, width) for b, width in line]
        candidate = current + rendered
        too_big = message_size(_keyboard(candidate)) > MESSAGE_BUDGET
        if current and (len(candidate) > KEYBOARD_BUTTONS or too_big):
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
    data: dict[str, Any] = message.to_dict()
    return data


def _is_url(ref: str) -> bool:
    return ref.startswith(("https://", "http://"))


def render_reply(reply: Reply, carried: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The messages for one reply: pictures, text (split), location; the keyboard (the reply's
    own, else ``carried``) rides on the last of them."""
    messages: list[dict[str, Any]] = []
    for ref in reply.photos:
        # Only public URLs can be shown: Viber fetches the picture itself. Telegram file ids
        # and photos in our media folder would need a public media URL first (not yet).
        if _is_url(ref):
            messages.append(_checked(PictureMessage(media=ref, text="")))
    # reply.document (staff CSV exports) and force_reply have no Viber counterpart: the text
    # goes alone. Viber "file" messages would need a public URL, like pictures.
    messages += [_checked(TextMessage(text=part)) for part in split_text(to_plain(reply.text))]
    if reply.latitude is not None and reply.longitude is not None:
        messages.append(
            _checked(LocationMessage(location=Location(lat=reply.latitude, lon=reply.longitude)))
        )
    keyboards = render_keyboards(reply.buttons) if reply.buttons else []
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
    return messages


def render_replies(replies: list[Reply]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    carried: dict[str, Any] | None = None
    for reply in replies:
        rendered = render_reply(reply, carried)
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
    first = next(split_text(text), "")
    if not first:
        return {}
    keyboards = render_keyboards(shown.buttons) if shown else []
    message = _checked(TextMessage(text=first, keyboard=keyboards[0] if keyboards else None))
    message["sender"] = sender
    message["min_api_version"] = min_api_version
    if message_size(message) > MESSAGE_BUDGET:  # one message only: shorten the text
        message["text"] = first[:1000] + "…"
    return message


# --- incoming: callbacks → Incoming ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Msg:
    """A message callback reduced to what the channel needs, however it was parsed."""

    token: str
    user_id: str
    name: str
    language: str
    type: str
    text: str = ""
    media: str = ""
    latitude: float | None = None
    longitude: float | None = None
    phone: str = ""


def _lang(value: object) -> str:
    code = str(value or "")[:2].lower()
    return code if code in LANGUAGES else ""


def _from_viberbot(req: ViberMessageRequest) -> _Msg:
    sender, message = req.sender, req.message
    base = _Msg(
        token=str(req.message_token),
        user_id=str(sender.id or ""),
        name=str(sender.name or ""),
        language=_lang(sender.language),
        type="other",
    )
    if isinstance(message, TextMessage):
        return replace(base, type="text", text=message.text or "")
    if isinstance(message, PictureMessage):
        return replace(base, type="picture", text=message.text or "", media=message.media or "")
    if isinstance(message, LocationMessage) and message.location is not None:
        loc = message.location
        return replace(base, type="location", latitude=loc.latitude, longitude=loc.longitude)
    if isinstance(message, ContactMessage) and message.contact is not None:
        return replace(base, type="contact", phone=message.contact.phone_number or "")
    if isinstance(message, URLMessage):  # a link: the text the person sent
        return replace(base, type="text", text=message.media or "")
    return base


def _from_json(data: dict[str, Any]) -> _Msg:
    """The same, read from the JSON: for messages viberbot cannot parse."""
    sender = data.get("sender") or {}
    message = data.get("message") or {}
    kind = str(message.get("type", ""))
    location = message.get("location") or {}
    contact = message.get("contact") or {}
    lat, lon = location.get("lat"), location.get("lon")
    text = message.get("text") or ""
    if kind == "url":  # a link: the text the person sent
        kind, text = "text", message.get("media") or ""
    if kind == "location" and (lat is None or lon is None):
        kind = "other"
    return _Msg(
        token=str(data.get("message_token", "")),
        user_id=str(sender.get("id", "")),
        name=str(sender.get("name", "")),
        language=_lang(sender.get("language")),
        type=kind if kind in ("text", "picture", "location", "contact") else "other",
        text=str(text),
        media=str(message.get("media") or ""),
        latitude=float(lat) if lat is not None else None,
        longitude=float(lon) if lon is not None else None,
        phone=str(contact.get("phone_number") or ""),
    )


def parse_message(data: dict[str, Any]) -> _Msg:
    try:
        req = create_request(data)
    except Exception as exc:  # viberbot raises bare Exception / KeyError on what it lacks
        log.debug("viberbot could not parse a message callback (%r): reading the JSON", exc)
        return _from_json(data)
    if not isinstance(req, ViberMessageRequest):
        return _from_json(data)
    return _from_viberbot(req)


def to_incoming(msg: _Msg, photo: str = "") -> Incoming:
    base = Incoming(
        channel=CHANNEL,
        user_id=msg.user_id,
        kind=Kind.OTHER,
        name=msg.name,
        language_hint=msg.language,
    )
    match msg.type:
        case "text":
            payload = decode_payload(msg.text)
            if payload is not None:
                return replace(base, kind=Kind.BUTTON, payload=payload)
            text = msg.text
            if text.startswith("/") and len(text) > 1:
                head, _, rest = text.partition(" ")
                return replace(base, kind=Kind.COMMAND, command=head[1:].lower(), text=rest)
            return replace(base, kind=Kind.TEXT, text=text)
        case "picture" if photo:
            return replace(base, kind=Kind.PHOTO, photo=photo, text=msg.text)
        case "location":
            return replace(base, kind=Kind.LOCATION, latitude=msg.latitude, longitude=msg.longitude)
        case "contact":
            # Viber cannot say whose number a contact is; share-phone sends one's own. (Viber
            # desktop sends it empty: the core then asks for the number to be typed.)
            return replace(base, kind=Kind.CONTACT, phone=msg.phone, contact_is_own=True)
    return base


def signature(body: bytes, auth_token: str) -> str:
    return hmac.new(auth_token.encode(), body, hashlib.sha256).hexdigest()


# --- the channel --------------------------------------------------------------------------


class ViberChannel:
    """The webhook endpoint and the resident's dialog in Viber."""

    def __init__(
        self,
        client: ViberClient,
        conversation: Conversation,
        tr: Translator,
        settings: ViberSettings,
        *,
        http: aiohttp.ClientSession | None = None,
        photo_max_bytes: int = PHOTO_MAX_BYTES,
    ) -> None:
        self.client = client
        self.conversation = conversation
        self.tr = tr
        self.settings = settings
        self.media_dir = Path(settings.media_dir)
        self.photo_max_bytes = photo_max_bytes
        self._http = http
        self._key = client.auth_token.encode()
        self._tasks: set[asyncio.Task[None]] = set()
        self._order: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    # -- aiohttp wiring

    def register(self, app: web.Application, path: str | None = None) -> None:
        app.router.add_post(path or self.settings.webhook_path, self.handle_webhook)
        app.on_shutdown.append(self._shutdown)

    async def _shutdown(self, _: web.Application) -> None:
        try:
            async with asyncio.timeout(10):
                await self.idle()
        except TimeoutError:
            log.warning("Viber: %s messages still unanswered at shutdown", len(self._tasks))
        await self.close()

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
        await self.client.close()

    async def idle(self) -> None:
        """Wait until every message received so far has been answered."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    def verify(self, body: bytes, given: str) -> bool:
        expected = hmac.new(self._key, body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected.encode(), given.strip().lower().encode())

    async def handle_webhook(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not self.verify(body, request.headers.get(SIGNATURE_HEADER, "")):
            log.warning("Viber callback with a missing or wrong signature from %s", request.remote)
            return web.Response(status=403)
        try:
            data = json.loads(body)
        except ValueError:
            return web.Response(status=400)
        if not isinstance(data, dict):
            return web.Response(status=400)
        event = str(data.get("event", ""))
        match event:
            case "message":
                self._spawn(data)
            case "conversation_started":
                welcome = await self.on_conversation_started(data)
                if welcome:
                    return web.json_response(welcome, dumps=lambda d: _dumps(d).decode())
            case "subscribed":
                user = data.get("user") or {}
                await self.set_subscribed(str(user.get("id", "")), True, str(user.get("name", "")))
            case "unsubscribed":
                await self.set_subscribed(str(data.get("user_id", "")), False)
            case "failed":
                log.warning(
                    "Viber could not deliver message %s to %s: %s",
                    data.get("message_token"),
                    data.get("user_id"),
                    data.get("desc", "no description"),
                )
            case "delivered" | "seen" | "webhook":
                log.debug("Viber %s: %s", event, data.get("message_token"))
            case _:
                log.debug("Viber event %r ignored", event)
        return web.Response(status=200)

    # -- events

    async def on_conversation_started(self, data: dict[str, Any]) -> dict[str, Any]:
        user = data.get("user") or {}
        user_id = str(user.get("id", ""))
        if not user_id:
            return {}
        if data.get("subscribed"):
            return {}  # already talking to us: their chat and keyboard are there
        ev = Incoming(
            channel=CHANNEL,
            user_id=user_id,
            kind=Kind.COMMAND,
            command="start",
            name=str(user.get("name", "")),
            language_hint=_lang(user.get("language")),
        )
        # No event id: a retried conversation_started must get its welcome again.
        replies = await self.conversation.handle(ev)
        # Not subscribed yet: nothing may be sent to them until they write (which clears it).
        await self.set_subscribed(user_id, False)
        return render_welcome(replies, self.client.sender, self.client.min_api_version)

    async def set_subscribed(self, user_id: str, subscribed: bool, name: str = "") -> None:
        """``blocked_at`` means "cannot be messaged now": set on unsubscribe, cleared on
        subscribe (and by the core on every new message)."""
        if not user_id:
            return
        async with self.conversation.sessions() as session, session.begin():
            if subscribed:
                resident = await get_or_create_resident(session, CHANNEL, user_id, name)
                resident.blocked_at = None
            else:
                found = await find_resident(session, CHANNEL, user_id)
                if found is not None:
                    found.blocked_at = utcnow()

    def _spawn(self, data: dict[str, Any]) -> None:
        task = asyncio.create_task(self._on_message(data), name="viber-message")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _lock(self, user_id: str) -> asyncio.Lock:
        lock = self._order.get(user_id)
        if lock is None:
            lock = self._order[user_id] = asyncio.Lock()
        return lock

    async def _on_message(self, data: dict[str, Any]) -> None:
        msg = parse_message(data)
        if not msg.user_id:
            return
        # Taken before any await: tasks start in arrival order, so one person's messages are
        # handled in the order they came even when a photo takes a while to download.
        async with self._lock(msg.user_id):
            try:
                await self._answer(msg)
            except Exception:
                log.exception("Viber message %s from %s failed", msg.token, msg.user_id)

    async def _answer(self, msg: _Msg) -> None:
        photo = ""
        if msg.type == "picture":
            photo = await self.download_photo(msg.media, msg.token)
            if not photo:
                await self.send(msg.user_id, [await self._photo_failed(msg)])
                return
        ev = to_incoming(msg, photo)
        replies = await self.conversation.handle(ev, event_id=msg.token)
        await self.send(msg.user_id, replies)

    async def _photo_failed(self, msg: _Msg) -> Reply:
        async with self.conversation.sessions() as session:
            resident = await find_resident(session, CHANNEL, msg.user_id)
        lang = (
            (resident.language if resident else None)
            or msg.language
            or self.conversation.settings.default_language
        )
        return Reply(
            self.tr.t(lang, "viber.photo_failed", limit=max(1, round(self.photo_max_bytes / 2**20)))
        )

    # -- pictures

    @property
    def http(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        return self._http

    async def download_photo(self, url: str, token: str) -> str:
        """Keep a picture (Viber's media URLs expire); its reference ``viber:<path in the media
        folder>``, or "" when it cannot be had (gone, too large, not an image)."""
        if not _is_url(url):
            return ""
        try:
            async with self.http.get(url) as resp:
                if resp.status != 200:
                    log.warning("Viber picture %s: HTTP %s", token, resp.status)
                    return ""
                if (resp.content_length or 0) > self.photo_max_bytes:
                    log.warning("Viber picture %s: %s bytes", token, resp.content_length)
                    return ""
                ext = _IMAGE_EXT.get(resp.content_type, ".jpg")
                data = bytearray()
                async for chunk in resp.content.iter_chunked(64 * 1024):
                    data += chunk
                    if len(data) > self.photo_max_bytes:
                        log.warning("Viber picture %s: over %s bytes", token, self.photo_max_bytes)
                        return ""
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("Viber picture %s could not be downloaded: %s", token, exc)
            return ""
        # The message token names the file: a retried callback overwrites, never duplicates.
        relative = Path(CHANNEL) / f"{_SAFE_NAME.sub('', token) or 'photo'}{ext}"
        await asyncio.to_thread(_write, self.media_dir / relative, bytes(data))
        return f"{CHANNEL}:{relative.as_posix()}"

    # -- sending

    async def send(self, user_id: str, replies: list[Reply]) -> None:
        messages = render_replies(replies)
        if not messages:
            return
        try:
            await self.client.send(user_id, messages)
        except NotSubscribed:
            log.info("Viber user %s is not subscribed: marked", user_id)
            await self.set_subscribed(user_id, False)
        except ViberError as exc:
            log.error("Viber send to %s failed: %s", user_id, exc)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".part")
    tmp.write_bytes(data)
    tmp.replace(path)


class ViberSender:
    """The outbox's way into Viber: Viber's answers become delivery outcomes."""

    def __init__(self, client: ViberClient) -> None:
        self.client = client

    def is_group(self, recipient: str) -> bool:
        return False

    async def send(self, recipient: str, reply: Reply) -> str:
        messages = render_replies([reply])
        try:
            tokens = await self.client.send(recipient, messages)
        except NotSubscribed as exc:
            raise RecipientGone(str(exc)) from exc
        except ViberError as exc:
            if exc.retryable:
                raise TemporaryFailure(str(exc)) from exc
            raise PermanentFailure(str(exc)) from exc
        return tokens[-1] if tokens else ""

    async def send_card(self, recipient: str, reply: Reply) -> str:
        return await self.send(recipient, reply)

    async def edit(self, recipient: str, message_id: str, reply: Reply) -> None:
        raise MessageGone("Viber messages cannot be edited")
