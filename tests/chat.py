"""A collecting test channel: talk to the conversation core as a resident would, and look at
what came back, without any messenger in between."""

from __future__ import annotations

from handlers.dialog.conversation import Conversation
from handlers.i18n import to_plain, translator
from handlers.types import Button, Incoming, Kind, Reply


def say(key: str, lang: str = "en", /, **kwargs: object) -> str:
    """What the bot says for a catalog key, as plain text (what a resident reads)."""
    return to_plain(translator().t(lang, key, **kwargs))


def say_n(key: str, count: int, lang: str = "en", /, **kwargs: object) -> str:
    return to_plain(translator().n(lang, key, count, **kwargs))


class Chat:
    def __init__(
        self,
        conversation: Conversation,
        user_id: str,
        channel: str = "test",
        *,
        name: str = "",
        language_hint: str = "",
    ) -> None:
        self.conversation = conversation
        self.user_id = user_id
        self.channel = channel
        self.name = name  # the messenger's display name, sent with every event
        self.language_hint = language_hint
        self.history: list[Reply] = []
        self.last_batch: list[Reply] = []
        self._event = 0

    async def _send(self, *, event_id: str = "", **kw: object) -> list[Reply]:
        self._event += 1
        ev = Incoming(
            channel=self.channel,
            user_id=self.user_id,
            name=self.name,
            language_hint=self.language_hint,
            **kw,  # type: ignore[arg-type]
        )
        replies = await self.conversation.handle(ev, event_id=event_id)
        self.history += replies
        self.last_batch = replies
        return replies

    async def text(self, text: str) -> list[Reply]:
        return await self._send(kind=Kind.TEXT, text=text)

    async def command(self, command: str, args: str = "") -> list[Reply]:
        return await self._send(kind=Kind.COMMAND, command=command, text=args)

    async def payload(self, payload: str) -> list[Reply]:
        return await self._send(kind=Kind.BUTTON, payload=payload)

    async def press(self, label_part: str) -> list[Reply]:
        """Press the button (of the last answer) whose label contains ``label_part``."""
        matches = [b for b in self.buttons() if label_part in b.label]
        assert len(matches) == 1, f"{label_part!r} matches {matches} in {self.buttons()}"
        return await self.payload(matches[0].payload)

    async def location(self, lat: float, lon: float) -> list[Reply]:
        return await self._send(kind=Kind.LOCATION, latitude=lat, longitude=lon)

    async def photo(self, ref: str, caption: str = "") -> list[Reply]:
        return await self._send(kind=Kind.PHOTO, photo=ref, text=caption)

    async def voice(self, ref: str, seconds: int, caption: str = "") -> list[Reply]:
        return await self._send(kind=Kind.VOICE, voice=ref, duration=seconds, text=caption)

    async def contact(self, phone: str, own: bool = True) -> list[Reply]:
        return await self._send(kind=Kind.CONTACT, phone=phone, contact_is_own=own)

    async def sticker(self) -> list[Reply]:
        return await self._send(kind=Kind.OTHER)

    def buttons(self) -> list[Button]:
        for reply in reversed(self.last_batch):
            if reply.buttons:
                return [b for row in reply.buttons for b in row]
        return []

    def payloads(self) -> list[str]:
        return [b.payload for b in self.buttons()]

    @property
    def said(self) -> str:
        """Everything the last answer said, as plain text."""
        return "\n".join(to_plain(r.text) for r in self.last_batch)

    @property
    def last(self) -> str:
        """The last message of the last answer (usually the question now asked), plain text."""
        return to_plain(self.last_batch[-1].text) if self.last_batch else ""

    def labels(self) -> list[str]:
        return [b.label for b in self.buttons()]

    async def file_request(
        self,
        *,
        category: str = "cat:lighting",
        sub: str | None = "sub:light_off",
        address: str = "вул. Соборності, 10",
        description: str = "Не світить ліхтар біля під'їзду вже тиждень",
        photos: tuple[str, ...] = (),
        phone: str | None = None,
    ) -> str:
        """The whole happy path; returns the confirmation text."""
        if not self.history:
            await self.command("start")
            await self.payload("lang:en")
        await self.payload("menu:new")
        await self.payload(category)
        if sub:
            await self.payload(sub)
        await self.text(address)
        await self.text(description)
        for ref in photos:
            await self.photo(ref)
        if len(photos) < 5:
            await self.payload("photos:done")
        if phone:
            await self.contact(phone)
        else:
            await self.payload("phone:skip")
        await self.payload("confirm")
        return self.said
