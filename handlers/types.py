"""The neutral vocabulary every channel speaks: what a person did, and what the bot answers."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Kind(enum.StrEnum):
    TEXT = "text"
    BUTTON = "button"
    LOCATION = "location"
    PHOTO = "photo"
    CONTACT = "contact"
    VOICE = "voice"  # a voice message or other audio: ``voice`` and ``duration``
    COMMAND = "command"
    OTHER = "other"  # a sticker, voice note, video…: something no step can use


@dataclass(frozen=True, slots=True)
class Incoming:
    channel: str
    user_id: str
    kind: Kind
    text: str = ""  # message text, photo caption, or command arguments
    payload: str = ""  # button payload
    command: str = ""  # without the slash, lower case
    latitude: float | None = None
    longitude: float | None = None
    photo: str = ""  # a reference the channel can send back (Telegram file_id, media path…)
    phone: str = ""
    contact_is_own: bool = True
    name: str = ""
    language_hint: str = ""  # the messenger's UI language, used before the resident chooses
    chat_id: str = ""  # where it was said, when that is not the person's own chat (groups)
    group: bool = False
    reply_to: str = ""  # the message this one answers, when it is a reply (a prompt's id)
    album: str = ""  # the album a photo came in (each of its photos is a message of its own)
    thread: str = ""  # the topic of a forum group it was written in
    voice: str = ""  # a reference to the audio the channel can send back, like ``photo``
    duration: int = 0  # of the audio, in seconds
    # How many buttons the channel shows in one keyboard (0: all); more go in pages.
    page_size: int = 0

    def __post_init__(self) -> None:
        # Every text that enters, cleaned once here: NUL and other control characters are
        # refused by PostgreSQL (a NUL in a Telegram first name failed every message of that
        # person) and by SQLite's full-text search, and mean nothing to a person.
        for name in _TEXT_FIELDS:
            value = getattr(self, name)
            if value and not value.isprintable():
                object.__setattr__(self, name, clean_text(value))


# Control characters but the line break and the tab, which people do type.
_CONTROL = dict.fromkeys(
    [c for c in range(0x20) if c not in (0x09, 0x0A)] + [0x7F, *range(0x80, 0xA0)]
)
_TEXT_FIELDS = ("text", "payload", "command", "name", "phone", "photo")


def clean_text(value: str) -> str:
    """``value`` without control characters (but line breaks and tabs)."""
    return value.translate(_CONTROL)


class ButtonKind(enum.StrEnum):
    CALLBACK = "callback"
    REQUEST_LOCATION = "request_location"
    REQUEST_CONTACT = "request_contact"


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    payload: str
    kind: ButtonKind = ButtonKind.CALLBACK


class Keyboard(enum.StrEnum):
    """How buttons are shown where the messenger makes a difference (Telegram).

    INLINE buttons sit under the message; INPUT buttons replace the phone's keyboard and are
    needed for "send my location" / "share my phone".
    """

    INLINE = "inline"
    INPUT = "input"


@dataclass(frozen=True, slots=True)
class Document:
    """A file to send, e.g. a CSV export."""

    filename: str
    path: str  # on disk, so a large export never has to fit in memory


@dataclass(slots=True)
class Reply:
    text: str  # a small HTML subset (<b>, <i>, <code>); resident text in it is escaped
    buttons: list[list[Button]] = field(default_factory=list)
    keyboard: Keyboard = Keyboard.INLINE
    photos: list[str] = field(default_factory=list)  # references to show as an album
    latitude: float | None = None
    longitude: float | None = None
    # Set by the conversation core when an INPUT keyboard from an earlier message must go.
    remove_input_keyboard: bool = False
    lang: str = ""  # the recipient's language, for what a channel adds on its own
    force_reply: bool = False  # ask the messenger to open a reply to this message
    voice: str = ""  # a reference to audio to play before the text (a card's voice message)
    document: Document | None = None

    def payloads(self) -> list[str]:
        return [b.payload for row in self.buttons for b in row if b.kind is ButtonKind.CALLBACK]

    def labels(self) -> dict[str, str]:
        return {
            b.label: b.payload for row in self.buttons for b in row if b.kind is ButtonKind.CALLBACK
        }
