"""What a step handler works with: the resident, their draft, the catalog and a place to answer."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.i18n import Translator
from handlers.types import Button, ButtonKind, Keyboard, Reply
from models.domain.city import CityConfig
from models.domain.tables import Resident


class Step(enum.StrEnum):
    LANGUAGE = "language"
    MENU = "menu"
    HELP = "help"
    FORGET = "forget"
    CATEGORY = "category"
    SUBCATEGORY = "subcategory"
    QUESTIONS = "questions"
    ADDRESS = "address"
    DESCRIPTION = "description"
    PHOTOS = "photos"
    PHONE = "phone"
    CONFIRM = "confirm"
    MY_LIST = "my_list"
    MY_DETAIL = "my_detail"
    ADD_INFO = "add_info"
    CANCEL_REQUEST = "cancel_request"


@dataclass
class Context:
    session: AsyncSession
    settings: CityConfig
    tr: Translator
    resident: Resident
    step: Step
    data: dict[str, Any]
    now: datetime
    channel: str
    replies: list[Reply] = field(default_factory=list)
    keep_offered: bool = False  # the event came from a notification, not from the dialog
    # A step's own answer is being handled (not a command): its moves must be in the table.
    handling: bool = False

    @property
    def lang(self) -> str:
        return self.resident.language or self.settings.default_language

    @property
    def draft(self) -> dict[str, Any]:
        d: dict[str, Any] = self.data.setdefault("draft", {})
        return d

    @property
    def view(self) -> dict[str, Any]:
        """Where the resident is looking in My requests (page, request id)."""
        v: dict[str, Any] = self.data.setdefault("view", {})
        return v

    def t(self, key: str, /, **kwargs: object) -> str:
        return self.tr.t(self.lang, key, **kwargs)

    def label(self, key: str, /, **kwargs: object) -> str:
        return self.tr.plain(self.lang, key, **kwargs)

    def n(self, key: str, count: int, /, **kwargs: object) -> str:
        return self.tr.n(self.lang, key, count, **kwargs)

    def button(self, key: str, payload: str, kind: ButtonKind = ButtonKind.CALLBACK) -> Button:
        return Button(self.t(key), payload, kind)

    def say(
        self,
        text: str,
        buttons: list[list[Button]] | None = None,
        keyboard: Keyboard = Keyboard.INLINE,
        **extra: Any,
    ) -> Reply:
        reply = Reply(text=text, buttons=buttons or [], keyboard=keyboard, **extra)
        self.replies.append(reply)
        return reply

    def hint(self, key: str, /, **kwargs: object) -> None:
        """A short explanation of what went wrong; the step is asked again after it."""
        self.say(self.t(key, **kwargs))

    def in_editing(self) -> bool:
        return bool(self.draft.get("editing"))
