"""Viber's callbacks in the core's vocabulary.

viberbot's parser is used but not trusted blindly: it raises ``KeyError('desc')`` on the
``failed`` callbacks Viber really sends (they have no ``desc``) and raises on event types it
does not know (``client_status``, anything Viber adds later). Every callback is therefore read
from the JSON as well, and an event viberbot cannot parse is still answered with 200.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass, replace
from typing import Any

from viberbot.api.messages import (
    ContactMessage,
    FileMessage,
    LocationMessage,
    PictureMessage,
    TextMessage,
    URLMessage,
    VideoMessage,
)
from viberbot.api.viber_requests import ViberMessageRequest, create_request

from bot.channels.viber.render import decode_payload
from handlers.i18n import LANGUAGES
from handlers.types import Incoming, Kind

log = logging.getLogger(__name__)

CHANNEL = "viber"
SIGNATURE_HEADER = "X-Viber-Content-Signature"


@dataclass(frozen=True, slots=True)
class ViberMessage:
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
    api_version: int = 0  # of the resident's app, as the callback says (0: not said)
    duration: int = 0  # of a voice message (a video's; a file says none), in seconds
    file_name: str = ""


AUDIO_EXTENSIONS = (".m4a", ".mp3", ".ogg", ".oga", ".opus", ".aac", ".amr", ".wav", ".3gp")


def is_audio(file_name: str) -> bool:
    return file_name.lower().endswith(AUDIO_EXTENSIONS)


def lang_of(value: object) -> str:
    code = str(value or "")[:2].lower()
    return code if code in LANGUAGES else ""


def api_level(value: object) -> int:
    try:
        level = int(str(value))
    except ValueError:
        return 0
    return level if 0 < level < 1000 else 0


def _from_viberbot(req: ViberMessageRequest) -> ViberMessage:
    sender, message = req.sender, req.message
    base = ViberMessage(
        token=str(req.message_token),
        user_id=str(sender.id or ""),
        name=str(sender.name or ""),
        language=lang_of(sender.language),
        type="other",
        api_version=api_level(getattr(sender, "api_version", None)),
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
    if isinstance(message, FileMessage) and is_audio(message.file_name or ""):
        return replace(base, type="voice", media=message.media or "", file_name=message.file_name)
    if isinstance(message, VideoMessage):  # a video note: its sound is what the person said
        seconds = int(message.duration or 0)
        return replace(base, type="voice", media=message.media or "", duration=seconds)
    return base


def _from_json(data: dict[str, Any]) -> ViberMessage:
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
    file_name = str(message.get("file_name") or "")
    if kind == "video" or (kind == "file" and is_audio(file_name)):
        kind = "voice"
    return ViberMessage(
        token=str(data.get("message_token", "")),
        user_id=str(sender.get("id", "")),
        name=str(sender.get("name", "")),
        language=lang_of(sender.get("language")),
        type=kind if kind in ("text", "picture", "location", "contact", "voice") else "other",
        text=str(text),
        media=str(message.get("media") or ""),
        latitude=float(lat) if lat is not None else None,
        longitude=float(lon) if lon is not None else None,
        phone=str(contact.get("phone_number") or ""),
        api_version=api_level(sender.get("api_version")),
        duration=int(message.get("duration") or 0),
        file_name=file_name,
    )


def parse_message(data: dict[str, Any]) -> ViberMessage:
    try:
        req = create_request(data)
    except Exception as exc:  # viberbot raises bare Exception / KeyError on what it lacks
        log.debug("viberbot could not parse a message callback (%r): reading the JSON", exc)
        return _from_json(data)
    if not isinstance(req, ViberMessageRequest):
        return _from_json(data)
    return _from_viberbot(req)


def to_incoming(msg: ViberMessage, photo: str = "", page_size: int = 0) -> Incoming:
    base = Incoming(
        channel=CHANNEL,
        user_id=msg.user_id,
        kind=Kind.OTHER,
        name=msg.name,
        language_hint=msg.language,
        page_size=page_size,
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
        case "voice" if photo:  # the downloaded audio, kept like a picture
            return replace(base, kind=Kind.VOICE, voice=photo, duration=msg.duration)
        case "location":
            return replace(base, kind=Kind.LOCATION, latitude=msg.latitude, longitude=msg.longitude)
        case "contact":
            # Viber cannot say whose number a contact is; share-phone sends one's own. (Viber
            # desktop sends it empty: the core then asks for the number to be typed.)
            return replace(base, kind=Kind.CONTACT, phone=msg.phone, contact_is_own=True)
    return base


def signature(body: bytes, auth_token: str) -> str:
    return hmac.new(auth_token.encode(), body, hashlib.sha256).hexdigest()
