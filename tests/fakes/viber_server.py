"""A fake Viber REST API (chatapi.viber.com/pa) for tests, on 127.0.0.1 over real HTTP.

It refuses what Viber refuses, with Viber's ``{"status": N, "status_message": …}`` answers
(HTTP 200 even for errors, as the real API does): a wrong or missing ``X-Viber-Auth-Token``
(2 invalidAuthToken), a body over 30 KB, a message without receiver or sender name, an unknown
type, a text over 7000 characters, a keyboard without Type or Buttons, Columns outside 1..6,
an unknown ActionType, or location-picker/share-phone without ``min_api_version`` ≥ 3.

It records every call (``calls``, ``sent_to(receiver)``, ``wait_for``), serves pictures at
``/media/<name>`` (``add_media``) for download tests, and fails on demand: ``unsubscribe``
(status 6 for one receiver), ``fail_next`` (e.g. status 12 tooManyRequests) and ``fail_http``
(HTTP 500). It also builds callbacks shaped like Viber's and POSTs them, signed, to a bot's
webhook (``post_callback``).

Typical use::

    async with FakeViberServer() as srv:
        client = ViberClient(TOKEN, srv.base_url, name="City")
        await client.send("user==", [{"type": "text", "text": "hi"}])
        assert srv.sent_to("user==")[0]["text"] == "hi"
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

TOKEN = "4453b6ac12345678-e02c5f12174805f9-daec9cbb5448c51f"
MESSAGE_LIMIT = 30 * 1024
SESSION_SECONDS = 24 * 3600  # a user's message opens a session of 24 hours
TEXT_LIMIT = 7000
MESSAGE_TYPES = frozenset(
    {"text", "picture", "video", "file", "location", "contact", "sticker", "url", "rich_media"}
)
ACTION_TYPES = frozenset({"reply", "open-url", "location-picker", "share-phone", "none"})
API_LEVEL_3_ACTIONS = frozenset({"location-picker", "share-phone"})
STATUS_TEXT = {
    0: "ok",
    1: "invalidUrl",
    2: "invalidAuthToken",
    3: "badData",
    4: "missingData",
    5: "receiverNotRegistered",
    6: "receiverNotSubscribed",
    10: "webhookNotSet",
    12: "tooManyRequests",
    13: "apiVersionNotSupported",
}
# The Viber version of each resident's app, as their callbacks report it (``sender.api_version``,
# ``user.api_version``); a test sets an old app with monkeypatch.setitem. Unknown: a new app.
APP_VERSIONS: dict[str, int] = {}
NEW_APP = 10

__all__ = [
    "TOKEN",
    "Call",
    "FakeViberServer",
    "client_status",
    "contact_message",
    "conversation_started",
    "delivered",
    "failed",
    "file_message",
    "location_message",
    "picture_message",
    "seen",
    "sign",
    "subscribed",
    "text_message",
    "unsubscribed",
    "video_message",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sign(body: bytes, token: str = TOKEN) -> str:
    return hmac.new(token.encode(), body, hashlib.sha256).hexdigest()


class Refused(Exception):
    def __init__(self, status: int, message: str = "") -> None:
        super().__init__(message or STATUS_TEXT.get(status, "generalError"))
        self.status = status
        self.message = message or STATUS_TEXT.get(status, "generalError")


@dataclass
class Call:
    method: str
    body: dict[str, Any]
    answer: dict[str, Any]
    http_status: int = 200
    size: int = 0

    @property
    def ok(self) -> bool:
        return self.http_status == 200 and self.answer.get("status") == 0


@dataclass
class _Failure:
    method: str | None
    status: int  # a Viber status, or an HTTP status when ``http``
    http: bool = False
    receiver: str | None = None


@dataclass
class FakeViberServer:
    """The fake API. ``base_url`` is what VIBER_API_BASE would be (``…/pa``)."""

    auth_token: str = TOKEN
    name: str = "City contact center"
    allow_http_webhook: bool = False  # Viber accepts only https; tests of a local bot need http
    verify_webhook: bool = True  # call the webhook with a signed "webhook" event, as Viber does
    # Viber's commercial model (help.viber.com "chatbot commercial model"; send_message,
    # "Billing Statuses"): a billable bot, with this many free out-of-session messages a month.
    billable: bool = True
    free_out_of_session: int = 0
    # When each user last wrote (a "message" callback this server posted): it opens their
    # 24-hour session.
    last_heard: dict[str, float] = field(default_factory=dict)
    clock: Callable[[], float] = time.time
    _out_of_session_sent: int = 0
    calls: list[Call] = field(default_factory=list)
    webhook: dict[str, Any] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    _media: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    _failures: list[_Failure] = field(default_factory=list)
    _unsubscribed: set[str] = field(default_factory=set)
    _tokens: itertools.count[int] = field(default_factory=lambda: itertools.count(5_000_000_001))
    _changed: asyncio.Event | None = None
    _runner: web.AppRunner | None = None
    port: int = 0

    # -- life cycle

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        app = web.Application(client_max_size=1024 * 1024)
        for method in ("set_webhook", "send_message", "get_account_info", "get_user_details"):
            app.router.add_post(f"/pa/{method}", self._api(method))
        app.router.add_get("/media/{name}", self._serve_media)
        self._changed = asyncio.Event()
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        self.port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/pa"

    # -- what tests set up

    def add_media(self, name: str, data: bytes, content_type: str = "image/jpeg") -> str:
        """Serve ``data`` at /media/<name>, like Viber's temporary media URLs; return the URL."""
        self._media[name] = (data, content_type)
        return f"{self.url}/media/{name}"

    def forget_media(self, name: str) -> None:
        """The URL expired."""
        self._media.pop(name, None)

    def unsubscribe(self, receiver: str) -> None:
        """Messages to ``receiver`` get status 6 receiverNotSubscribed."""
        self._unsubscribed.add(receiver)

    def fail_next(self, status: int, method: str | None = "send_message", count: int = 1) -> None:
        """The next ``count`` calls (of ``method``) are answered with Viber status ``status``."""
        self._failures += [_Failure(method, status) for _ in range(count)]

    def fail_http(self, status: int = 500, method: str | None = None, count: int = 1) -> None:
        self._failures += [_Failure(method, status, http=True) for _ in range(count)]

    # -- what tests look at

    def calls_of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def sent_to(self, receiver: str) -> list[dict[str, Any]]:
        """Messages accepted for ``receiver``, in order."""
        return [
            c.body
            for c in self.calls
            if c.method == "send_message" and c.ok and c.body.get("receiver") == receiver
        ]

    def texts_to(self, receiver: str) -> list[str]:
        return [str(m.get("text", "")) for m in self.sent_to(receiver) if m.get("type") == "text"]

    async def wait_for(
        self,
        predicate: Callable[[Call], bool],
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 - a deadline for the condition, not for I/O
    ) -> list[Call]:
        assert self._changed is not None
        deadline = time.monotonic() + timeout
        while True:
            found = [c for c in self.calls if predicate(c)]
            if len(found) >= count:
                return found
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{len(found)} of {count} calls after {timeout}s")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    async def post_callback(
        self, url: str, body: dict[str, Any], token: str | None = None, signature: str | None = None
    ) -> tuple[int, Any]:
        """POST a callback to the bot's webhook, signed with this account's token."""
        if body.get("event") == "message":
            self.last_heard[str((body.get("sender") or {}).get("id", ""))] = self.clock()
        return await post_callback(url, body, token or self.auth_token, signature)

    # -- the API

    def _api(self, method: str) -> Callable[[web.Request], Any]:
        async def handle(request: web.Request) -> web.Response:
            raw = await request.read()
            try:
                body = json.loads(raw)
            except ValueError:
                body = {}
            failure = self._take_failure(method, body)
            if failure is not None and failure.http:
                self._record(Call(method, body, {}, failure.status, len(raw)))
                return web.Response(status=failure.status, text="Internal Server Error")
            try:
                if request.headers.get("X-Viber-Auth-Token") != self.auth_token:
                    raise Refused(2)
                if not isinstance(body, dict) or not raw:
                    raise Refused(3, "failed to parse the request body")
                if len(raw) > MESSAGE_LIMIT:
                    raise Refused(3, f"message is too long: {len(raw)} bytes")
                if failure is not None:
                    raise Refused(failure.status)
                answer = await getattr(self, f"_{method}")(body)
            except Refused as exc:
                answer = {"status": exc.status, "status_message": exc.message}
            answer.setdefault("status", 0)
            answer.setdefault("status_message", "ok")
            self._record(
                Call(method, body if isinstance(body, dict) else {}, answer, 200, len(raw))
            )
            return web.json_response(answer)

        return handle

    def _take_failure(self, method: str, body: Any) -> _Failure | None:
        for i, f in enumerate(self._failures):
            if f.method in (None, method):
                return self._failures.pop(i)
        return None

    def _record(self, call: Call) -> None:
        self.calls.append(call)
        if self._changed is not None:
            self._changed.set()

    async def _set_webhook(self, body: dict[str, Any]) -> dict[str, Any]:
        url = body.get("url")
        if not isinstance(url, str):
            raise Refused(4, "url is required")
        if url and not (
            url.startswith("https://") or (self.allow_http_webhook and url.startswith("http://"))
        ):
            raise Refused(1, "Invalid URL: only https is allowed")
        events = body.get("event_types") or [
            "delivered",
            "seen",
            "failed",
            "subscribed",
            "unsubscribed",
            "conversation_started",
        ]
        if url and self.verify_webhook:
            check = {
                "event": "webhook",
                "timestamp": _now(),
                "chat_hostname": "SN-CHAT-01_",
                "message_token": next(self._tokens),
            }
            status, _ = await post_callback(url, check, self.auth_token)
            if status != 200:
                raise Refused(1, f"webhook answered HTTP {status}")
        self.webhook = (
            {
                "url": url,
                "event_types": events,
                **{k: body[k] for k in ("send_name", "send_photo") if k in body},
            }
            if url
            else {}
        )
        return {"event_types": events if url else [], "chat_hostname": "SN-CHAT-01_"}

    async def _get_account_info(self, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": "pa:75346594275468546724",
            "name": self.name,
            "uri": "citybot",
            "icon": "",
            "background": "",
            "category": "Government",
            "subcategory": "City",
            "country": "UA",
            "webhook": self.webhook.get("url", ""),
            "event_types": self.webhook.get("event_types", []),
            "subscribers_count": 0,
            "members": [],
        }

    async def _get_user_details(self, body: dict[str, Any]) -> dict[str, Any]:
        user_id = body.get("id")
        if not isinstance(user_id, str) or not user_id:
            raise Refused(4, "id is required")
        user = self.users.get(user_id)
        if user is None:
            raise Refused(5)
        return {"user": user, "chat_hostname": "SN-CHAT-01_"}

    async def _send_message(self, body: dict[str, Any]) -> dict[str, Any]:
        receiver = body.get("receiver")
        if not isinstance(receiver, str) or not receiver:
            raise Refused(4, "receiver is required")
        sender = body.get("sender")
        if not isinstance(sender, dict) or not sender.get("name"):
            raise Refused(4, "sender.name is required")
        if len(str(sender["name"])) > 28:
            raise Refused(3, "sender.name is longer than 28 characters")
        # REST Bot API, "Send message", general send message parameters: optional fields are
        # omitted, never null (the official SDKs drop empty fields; production refuses nulls).
        nulls = [k for k, v in body.items() if v is None]
        if nulls:
            raise Refused(3, f"null value for {', '.join(nulls)}")
        api = body.get("min_api_version", 1)
        if not isinstance(api, int) or api < 1:
            raise Refused(3, "min_api_version must be a positive integer")
        # "min_api_version: minimal API version required by clients for this message
        # (default 1)"; a client below it cannot show the message: error 13
        # apiVersionNotSupported ("Error codes" table).
        if api > APP_VERSIONS.get(str(receiver), NEW_APP):
            raise Refused(13)
        kind = body.get("type")
        if kind is None:
            # Keyboards: "The keyboard can be attached to any message type or sent on its own."
            if "keyboard" not in body:
                raise Refused(4, "type is required")
        elif kind not in MESSAGE_TYPES:
            raise Refused(3, f"unknown message type {kind!r}")
        _check_content(kind, body)
        if "keyboard" in body:
            _check_keyboard(body["keyboard"], api)
        if receiver in self._unsubscribed:
            raise Refused(6)
        return {
            "message_token": next(self._tokens),
            "chat_hostname": "SN-CHAT-01_",
            "billing_status": self._billing_status(str(receiver)),
        }

    def _billing_status(self, receiver: str) -> int:
        """send_message, "Billing Statuses": 1/2 in a session (non-billable/billable bot), 3/4
        free out of session, 5 charged out of session."""
        heard = self.last_heard.get(receiver)
        if heard is not None and self.clock() - heard < SESSION_SECONDS:
            return 2 if self.billable else 1
        if not self.billable:
            return 3
        self._out_of_session_sent += 1
        return 4 if self._out_of_session_sent <= self.free_out_of_session else 5

    async def _serve_media(self, request: web.Request) -> web.Response:
        item = self._media.get(request.match_info["name"])
        if item is None:
            return web.Response(status=404)
        data, content_type = item
        return web.Response(body=data, content_type=content_type)


def _check_content(kind: str | None, body: dict[str, Any]) -> None:
    if kind == "text":
        text = body.get("text")
        if not isinstance(text, str) or not text:
            raise Refused(4, "text is required")
        if len(text) > TEXT_LIMIT:
            raise Refused(3, f"text is longer than {TEXT_LIMIT} characters")
    elif kind == "picture":
        if not isinstance(body.get("media"), str) or not body["media"]:
            raise Refused(4, "media is required")
        # REST Bot API, Send message → Picture message: "The URL must have a resource with a
        # .jpeg, .png or .gif file extension as the last path segment."
        last = urlsplit(body["media"]).path.rsplit("/", 1)[-1].lower()
        if not last.endswith((".jpeg", ".png", ".gif")):
            raise Refused(3, "media must end in .jpeg, .png or .gif")
        if len(str(body.get("text") or "")) > 768:
            raise Refused(3, "picture description is too long")
    elif kind == "location":
        loc = body.get("location")
        if not isinstance(loc, dict):
            raise Refused(4, "location is required")
        lat, lon = loc.get("lat"), loc.get("lon")
        if not isinstance(lat, int | float) or not isinstance(lon, int | float):
            raise Refused(3, "location.lat and location.lon must be numbers")
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise Refused(3, "location out of range")


def _check_keyboard(keyboard: Any, api: int) -> None:
    if not isinstance(keyboard, dict):
        raise Refused(3, "keyboard is not valid: not an object")
    # Keyboards, "General keyboard parameters": Type ("keyboard") and Buttons are required.
    # The documentation sets no number of buttons: its limits are per button (below) and the
    # message's 30 KB (send_message, "Pay attention").
    if keyboard.get("Type") != "keyboard":
        raise Refused(3, "keyboard is not valid: Type must be 'keyboard'")
    buttons = keyboard.get("Buttons")
    if not isinstance(buttons, list) or not buttons:
        raise Refused(3, "keyboard is not valid: Buttons is required")
    # Keyboards, "Buttons parameters": Columns 1-6, Rows 1-2, ActionType one of the listed
    # (location-picker and share-phone from API level 3), Text at most 250 characters.
    for i, b in enumerate(buttons):
        if not isinstance(b, dict):
            raise Refused(3, f"keyboard is not valid: Buttons[{i}] is not an object")
        columns, rows = b.get("Columns", 6), b.get("Rows", 1)
        if not isinstance(columns, int) or not 1 <= columns <= 6:
            raise Refused(3, f"keyboard is not valid: Buttons[{i}].Columns {columns!r}")
        if not isinstance(rows, int) or not 1 <= rows <= 2:
            raise Refused(3, f"keyboard is not valid: Buttons[{i}].Rows {rows!r}")
        action = b.get("ActionType", "reply")
        allowed = ACTION_TYPES if api >= 3 else ACTION_TYPES - API_LEVEL_3_ACTIONS
        if action not in allowed:
            raise Refused(
                3,
                f'keyboard is not valid. [instance value ("{action}") not found in enum '
                f"(possible values: {sorted(allowed)})]",
            )
        body = b.get("ActionBody")
        if not isinstance(body, str) or not body:
            raise Refused(3, f"keyboard is not valid: Buttons[{i}].ActionBody is required")
        if len(str(b.get("Text", ""))) > 250:
            raise Refused(3, f"keyboard is not valid: Buttons[{i}].Text over 250 characters")
        if "Silent" in b and not isinstance(b["Silent"], bool):
            raise Refused(3, f"keyboard is not valid: Buttons[{i}].Silent must be boolean")


# --- callbacks shaped like Viber's ---------------------------------------------------------

_callback_tokens = itertools.count(5_100_000_000_000_000_001)


def _now() -> int:
    return int(time.time() * 1000)


def _token() -> int:
    return next(_callback_tokens)


def user(user_id: str, name: str = "Olena", language: str = "uk") -> dict[str, Any]:
    return {
        "id": user_id,
        "name": name,
        "avatar": "https://media-direct.cdn.viber.com/download_photo?dlid=abc",
        "language": language,
        "country": "UA",
        "api_version": APP_VERSIONS.get(user_id, NEW_APP),
    }


def conversation_started(
    user_id: str, *, name: str = "Olena", language: str = "uk", subscribed: bool = False
) -> dict[str, Any]:
    return {
        "event": "conversation_started",
        "timestamp": _now(),
        "chat_hostname": "SN-CHAT-05_",
        "message_token": _token(),
        "type": "open",
        "context": "",
        "user": user(user_id, name, language),
        "subscribed": subscribed,
    }


def subscribed(user_id: str, *, name: str = "Olena") -> dict[str, Any]:
    return {
        "event": "subscribed",
        "timestamp": _now(),
        "chat_hostname": "SN-CHAT-05_",
        "user": user(user_id, name),
        "message_token": _token(),
    }


def unsubscribed(user_id: str) -> dict[str, Any]:
    return {
        "event": "unsubscribed",
        "timestamp": _now(),
        "chat_hostname": "SN-CHAT-05_",
        "user_id": user_id,
        "message_token": _token(),
    }


def _message(user_id: str, message: dict[str, Any], name: str = "Olena") -> dict[str, Any]:
    return {
        "event": "message",
        "timestamp": _now(),
        "chat_hostname": "SN-CHAT-05_",
        "message_token": _token(),
        "sender": user(user_id, name),
        "message": message,
        "silent": False,
    }


def text_message(user_id: str, text: str, *, silent: bool = False) -> dict[str, Any]:
    body = _message(user_id, {"type": "text", "text": text})
    body["silent"] = silent
    return body


def picture_message(user_id: str, media_url: str, caption: str = "") -> dict[str, Any]:
    return _message(
        user_id,
        {
            "type": "picture",
            "text": caption,
            "media": media_url,
            "thumbnail": media_url,
            "file_name": "IMG_0042.jpg",
            "size": 34567,
        },
    )


def location_message(user_id: str, lat: float, lon: float) -> dict[str, Any]:
    return _message(
        user_id,
        {"type": "location", "location": {"lat": lat, "lon": lon, "address": ""}},
    )


def contact_message(user_id: str, phone: str, name: str = "Olena") -> dict[str, Any]:
    return _message(user_id, {"type": "contact", "contact": {"name": name, "phone_number": phone}})


def delivered(user_id: str, message_token: int | None = None) -> dict[str, Any]:
    return {
        "event": "delivered",
        "timestamp": _now(),
        "chat_hostname": "SN-CHAT-05_",
        "message_token": message_token or _token(),
        "user_id": user_id,
    }


def seen(user_id: str, message_token: int | None = None) -> dict[str, Any]:
    return {**delivered(user_id, message_token), "event": "seen"}


def failed(user_id: str, message_token: int | None = None) -> dict[str, Any]:
    """As Viber really sends it: no ``desc`` (viberbot 1.0.12 expects one)."""
    return {**delivered(user_id, message_token), "event": "failed"}


def client_status(user_id: str) -> dict[str, Any]:
    """An event type viberbot does not know."""
    return {
        "event": "client_status",
        "timestamp": _now(),
        "chat_hostname": "SN-CHAT-05_",
        "message_token": _token(),
        "user_id": user_id,
        "client_status": {"status": "online"},
    }


async def post_callback(
    url: str, body: dict[str, Any], token: str = TOKEN, signature: str | None = None
) -> tuple[int, Any]:
    """POST ``body`` to a bot's webhook as Viber does; (HTTP status, JSON answer or None).

    ``signature``: None signs correctly, "bad" signs with another key, "" sends no signature,
    anything else is sent as is.
    """
    raw = json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if signature is None:
        headers["X-Viber-Content-Signature"] = sign(raw, token)
    elif signature == "bad":
        headers["X-Viber-Content-Signature"] = sign(raw, token + "-not-it")
    elif signature:
        headers["X-Viber-Content-Signature"] = signature
    async with aiohttp.ClientSession() as http, http.post(url, data=raw, headers=headers) as r:
        text = await r.text()
        try:
            answer = json.loads(text) if text else None
        except ValueError:
            answer = text
        return r.status, answer


def file_message(user_id: str, media_url: str, file_name: str, size: int = 23456) -> dict[str, Any]:
    """REST Bot API, callbacks, "File message": media, size, file_name (no duration)."""
    return _message(
        user_id, {"type": "file", "media": media_url, "size": size, "file_name": file_name}
    )


def video_message(user_id: str, media_url: str, duration: int, size: int = 45678) -> dict[str, Any]:
    """REST Bot API, callbacks, "Video message": media, thumbnail, size, duration."""
    return _message(
        user_id,
        {
            "type": "video",
            "media": media_url,
            "thumbnail": media_url,
            "size": size,
            "duration": duration,
        },
    )
