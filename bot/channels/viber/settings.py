"""The ``[viber]`` section of bot.toml."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from models.domain.city import StrictModel

PUBLIC_VIBER_API = "https://chatapi.viber.com/pa"


class ViberSettings(StrictModel):
    """The Viber bot (only webhooks exist in Viber): it is on when VIBER_AUTH_TOKEN is set.

    It listens on telegram.listen_host/listen_port, in the same web server as Telegram's
    webhook when both run.
    """

    name: Annotated[str, Field(min_length=1, max_length=28)] = "Contact center"  # sender name
    avatar: str = ""  # URL of the sender's picture (≤100 KB), optional
    webhook_url: str = ""  # public https URL Viber calls, e.g. https://bot.city.gov.ua
    webhook_path: str = "/viber/webhook"
    # The lowest Viber API level every message asks of the resident's app. Each message asks
    # for what it needs anyway (3 with a location or phone button, else 1, Viber's default);
    # a higher floor cuts off older apps: Viber refuses them the message (error 13).
    min_api_version: int = Field(1, ge=1)
    # A longer keyboard goes out in pages with "More ▶️": Viber shows one keyboard at a time,
    # scrolled within the height of the phone's own keyboard, and a split one loses all but
    # its last part.
    keyboard_page_buttons: int = Field(24, ge=4, le=120)
    media_dir: str = "data/media"  # where residents' photos are kept (Viber's URLs expire)
    # Where the bot serves pictures to Viber (under webhook_url): a department's photos of a fix.
    media_path: str = "/viber/media"
    # A validly signed callback is acted on only this long after Viber stamped it: a captured
    # one replayed later is refused even once its message_token has left the seen-updates
    # table (kept 48 h). Viber's own retries of a callback come within minutes.
    replay_window_seconds: int = Field(3600, ge=60, le=86_400)

    @model_validator(mode="after")
    def _https(self) -> ViberSettings:
        if self.webhook_url and not self.webhook_url.startswith("https://"):
            raise ValueError("viber.webhook_url: Viber calls only a public https:// URL")
        if not self.media_path.startswith("/"):
            raise ValueError("viber.media_path must start with /")
        if not self.webhook_path.startswith("/"):
            raise ValueError("viber.webhook_path: must start with /")
        return self

    def full_webhook_url(self) -> str:
        return self.webhook_url.rstrip("/") + self.webhook_path if self.webhook_url else ""
