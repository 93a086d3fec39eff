"""The Viber REST API over aiohttp, and Viber's answers as typed errors.

viberbot's ``Api.send_messages`` posts with the blocking ``requests`` library: one slow answer
from Viber would stop the whole event loop — every Telegram update, every other Viber callback,
the outbox worker — for as long as it takes. ``ViberClient`` posts the same JSON (``to_dict()``
of viberbot's messages) to ``{VIBER_API_BASE}/send_message`` with aiohttp, authenticated with
the ``X-Viber-Auth-Token`` header, and turns ``status != 0`` into typed errors
(``ViberError.retryable``, ``NotSubscribed``) that the outbox can act on.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import aiohttp

from bot.channels.viber.settings import PUBLIC_VIBER_API

AUTH_HEADER = "X-Viber-Auth-Token"
MESSAGE_LIMIT = 30 * 1024  # bytes of one send_message request
SENDER_NAME_LIMIT = 28

# Events asked for in set_webhook (``message`` comes always). delivered/seen are not needed.
WEBHOOK_EVENTS = ["conversation_started", "subscribed", "unsubscribed", "failed"]

# https://creators.viber.com/docs/bots-api/errors
log = logging.getLogger(__name__)

STATUS_NOT_REGISTERED = 5
STATUS_NOT_SUBSCRIBED = 6
STATUS_TOO_MANY_REQUESTS = 12
STATUS_API_VERSION = 13  # apiVersionNotSupported: the app is older than min_api_version
RETRYABLE_STATUSES = frozenset({STATUS_TOO_MANY_REQUESTS})
TRANSPORT_ERROR = -1  # no Viber status: HTTP error, timeout, connection refused…


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


REQUEST_ACTIONS = frozenset({"location-picker", "share-phone"})  # need API level 3


def for_older_app(message: dict[str, Any]) -> dict[str, Any] | None:
    """The message without the buttons an app below API level 3 cannot show (None when it has
    none of them, or would be left empty)."""
    keyboard = message.get("keyboard")
    if not isinstance(keyboard, dict):
        return None
    buttons = keyboard.get("Buttons") or []
    kept = [b for b in buttons if b.get("ActionType") not in REQUEST_ACTIONS]
    if len(kept) == len(buttons):
        return None
    fallback = {**message, "min_api_version": 1}
    if kept:
        fallback["keyboard"] = {**keyboard, "Buttons": kept}
    else:
        del fallback["keyboard"]
        if "type" not in fallback:
            return None
    return fallback


def dumps(data: object) -> bytes:
    # UTF-8, not \\u escapes: a Cyrillic text is a third of the size against the 30 KB limit.
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def message_size(message: dict[str, Any]) -> int:
    return len(dumps(message))


class ViberClient:
    """The Viber REST API over aiohttp; independent of the webhook, reusable by the outbox."""

    def __init__(
        self,
        auth_token: str,
        api_base: str = PUBLIC_VIBER_API,
        *,
        name: str,
        avatar: str = "",
        min_api_version: int = 1,
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
                data=dumps(payload),
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
        return [str(a.get("message_token", "")) for a in await self.send_all(receiver, messages)]

    async def send_all(self, receiver: str, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send the messages in order; Viber's answers (token, ``billing_status``)."""
        answers: list[dict[str, Any]] = []
        for message in messages:
            payload = {
                **message,
                "receiver": receiver,
                "sender": self.sender,
                "min_api_version": max(
                    int(message.get("min_api_version", 1)), self.min_api_version
                ),
            }
            try:
                answer = await self.call("send_message", payload)
            except ViberError as exc:
                fallback = for_older_app(payload)
                if exc.status != STATUS_API_VERSION or fallback is None:
                    raise
                # The resident's app is older than a location or phone button needs: the
                # message goes without them (the address and phone can be typed).
                log.info(
                    "Viber app of %s below API level 3: sent without request buttons", receiver
                )
                answer = await self.call("send_message", fallback)
            answers.append(answer)
        return answers

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
