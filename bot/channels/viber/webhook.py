"""The Viber channel: its webhook on the bot's web server, the resident's dialog in Viber.

What viberbot (1.0.12) is used for, and what it is not: parsing callbacks and building messages
(``callbacks``, ``render``) — its message classes with their ``to_dict()``/``validate()``
describe the wire format well; not for sending (``client``).

The webhook checks ``X-Viber-Content-Signature`` (HMAC-SHA256 of the raw body, keyed with the
auth token) before reading anything. ``conversation_started`` is answered in the response body
(the one welcome message Viber allows; the person is not subscribed yet). Messages are
answered 200 at once and handled in the background, one at a time per person, in the order
they came; ``message_token`` is the event id the core records with what the event did
(models/storage/dedupe.py), so Viber's retries of a callback neither file a second request nor
answer twice, and a callback stamped outside ``replay_window_seconds`` is not acted on at all.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import weakref
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bot.channels.viber.callbacks import (
    CHANNEL,
    SIGNATURE_HEADER,
    ViberMessage,
    lang_of,
    parse_message,
    to_incoming,
)
from bot.channels.viber.client import NotSubscribed, ViberClient, ViberError, dumps
from bot.channels.viber.media import ViberMedia
from bot.channels.viber.render import is_url, render_replies, render_welcome
from bot.channels.viber.sender import ViberSender
from bot.channels.viber.settings import ViberSettings
from bot.media import MediaStore
from handlers.dialog.conversation import Conversation
from handlers.i18n import Translator
from handlers.types import Incoming, Kind, Reply
from models.domain.base import utcnow
from models.domain.outbox import release_held
from models.domain.residents import find_resident, get_or_create_resident

log = logging.getLogger(__name__)

PHOTO_MAX_BYTES = 10 * 1024 * 1024
CLOCK_SKEW_SECONDS = 300
_IMAGE_EXT = {"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp"}
_SAFE_NAME = re.compile(r"[^0-9A-Za-z_-]")


class ViberChannel:
    """The webhook endpoint and the resident's dialog in Viber."""

    name = CHANNEL

    def __init__(
        self,
        client: ViberClient,
        conversation: Conversation,
        tr: Translator,
        settings: ViberSettings,
        *,
        media: MediaStore | None = None,
        http: aiohttp.ClientSession | None = None,
        photo_max_bytes: int = PHOTO_MAX_BYTES,
    ) -> None:
        self.client = client
        self.conversation = conversation
        self.tr = tr
        self.settings = settings
        self.media = media or MediaStore({CHANNEL: settings.media_dir})
        self.photo_max_bytes = photo_max_bytes
        self._http = http
        self._key = client.auth_token.encode()
        self.pictures = ViberMedia(self.media, settings, self._key)
        self._tasks: set[asyncio.Task[None]] = set()
        self._order: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._stopped = asyncio.Event()

    # -- the Channel contract

    def sender(self) -> ViberSender:
        return ViberSender(self.client, self.pictures)

    def mount(self, web_app: web.Application) -> bool:
        web_app.router.add_post(self.settings.webhook_path, self.handle_webhook)
        self.pictures.mount(web_app)
        web_app.on_shutdown.append(self._shutdown)
        return True

    async def start(self) -> None:
        # Viber checks the URL at once when it is set, so registering stays a deliberate
        # `python -m bot viber set-webhook` against the running bot.
        if not self.settings.webhook_url:
            log.warning("viber.webhook_url is not set: `python -m bot viber set-webhook` needs it")
        log.info("Viber: webhook at %s", self.settings.webhook_path)

    async def run(self) -> None:
        await self._stopped.wait()  # Viber only calls the webhook: nothing to do meanwhile

    async def stop(self) -> None:
        self._stopped.set()
        try:
            async with asyncio.timeout(10):
                await self.idle()
        except TimeoutError:
            log.warning("Viber: %s messages still unanswered at shutdown", len(self._tasks))
        await self.close()

    async def _shutdown(self, _: web.Application) -> None:
        await self.stop()

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

    def fresh(self, data: dict[str, Any]) -> bool:
        """Stamped (epoch ms) within the replay window, and not from the future beyond a clock
        skew. A signature proves who sent a callback, not when: without this a captured
        callback could be replayed once its token is forgotten."""
        stamp = data.get("timestamp")
        if isinstance(stamp, bool) or not isinstance(stamp, int | float):
            return False
        age = utcnow().timestamp() - stamp / 1000
        return -CLOCK_SKEW_SECONDS <= age <= self.settings.replay_window_seconds

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
        if not self.fresh(data):
            log.warning(
                "Viber %s callback %s stamped %s refused: outside the replay window",
                event,
                data.get("message_token"),
                data.get("timestamp"),
            )
            # 200: a stale callback is not worth Viber's retries; nothing of it is acted on.
            return web.Response(status=200)
        match event:
            case "message":
                self._spawn(data)
            case "conversation_started":
                welcome = await self.on_conversation_started(data)
                if welcome:
                    return web.json_response(welcome, dumps=lambda d: dumps(d).decode())
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
            language_hint=lang_of(user.get("language")),
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
                if resident.blocked_at is not None:
                    days = self.conversation.settings.limits.held_messages_days
                    await release_held(
                        session,
                        CHANNEL,
                        user_id,
                        since=utcnow() - timedelta(days=days),
                        now=utcnow(),
                    )
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

    async def _answer(self, msg: ViberMessage) -> None:
        photo = ""
        if msg.type == "picture":
            photo = await self.download_photo(msg.media, msg.token)
            if not photo:
                await self.send(msg.user_id, [await self._photo_failed(msg)], msg.api_version)
                return
        if msg.type == "voice":
            photo = await self.download_voice(msg)
            if not photo:
                failed = await self._photo_failed(msg, "viber.voice_failed")
                await self.send(msg.user_id, [failed], msg.api_version)
                return
        ev = to_incoming(msg, photo, self.settings.keyboard_page_buttons)
        replies = await self.conversation.handle(ev, event_id=msg.token)
        await self.send(msg.user_id, replies, msg.api_version)

    async def _photo_failed(self, msg: ViberMessage, key: str = "viber.photo_failed") -> Reply:
        async with self.conversation.sessions() as session:
            resident = await find_resident(session, CHANNEL, msg.user_id)
        lang = (
            (resident.language if resident else None)
            or msg.language
            or self.conversation.settings.default_language
        )
        return Reply(self.tr.t(lang, key, limit=max(1, round(self.photo_max_bytes / 2**20))))

    # -- pictures

    @property
    def http(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        return self._http

    async def download_photo(self, url: str, token: str) -> str:
        """Keep a picture in the media store (Viber's media URLs expire); its reference
        ``viber:viber/<name>``, or "" when it cannot be had (gone, too large, not an image)."""
        got = await self._fetch(url, token)
        if got is None:
            return ""
        data, content_type = got
        return await self._keep(token, _IMAGE_EXT.get(content_type, ".jpg"), data)

    async def download_voice(self, msg: ViberMessage) -> str:
        """A voice message (an audio file, or a video note's sound) kept like a picture."""
        got = await self._fetch(msg.media, msg.token)
        if got is None:
            return ""
        suffix = Path(msg.file_name).suffix.lower() if msg.file_name else ".mp4"
        return await self._keep(msg.token, suffix if _SAFE_NAME.sub("", suffix) else ".mp4", got[0])

    async def _keep(self, token: str, ext: str, data: bytes) -> str:
        # The message token names the file: a retried callback overwrites, never duplicates.
        name = f"{_SAFE_NAME.sub('', token) or 'media'}{ext}"
        return await self.media.save(CHANNEL, name, data)

    async def _fetch(self, url: str, token: str) -> tuple[bytes, str] | None:
        """The media at ``url`` and its content type; None when it cannot be had (gone, too
        large)."""
        if not is_url(url):
            return None
        try:
            async with self.http.get(url) as resp:
                if resp.status != 200:
                    log.warning("Viber media %s: HTTP %s", token, resp.status)
                    return None
                if (resp.content_length or 0) > self.photo_max_bytes:
                    log.warning("Viber media %s: %s bytes", token, resp.content_length)
                    return None
                data = bytearray()
                async for chunk in resp.content.iter_chunked(64 * 1024):
                    data += chunk
                    if len(data) > self.photo_max_bytes:
                        log.warning("Viber media %s: over %s bytes", token, self.photo_max_bytes)
                        return None
                return bytes(data), resp.content_type
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("Viber media %s could not be downloaded: %s", token, exc)
            return None

    # -- sending

    async def send(self, user_id: str, replies: list[Reply], api_version: int = 0) -> None:
        messages = render_replies(replies, api_version)
        if not messages:
            return
        try:
            await self.client.send(user_id, messages)
        except NotSubscribed:
            log.info("Viber user %s is not subscribed: marked", user_id)
            await self.set_subscribed(user_id, False)
        except ViberError as exc:
            log.error("Viber send to %s failed: %s", user_id, exc)
