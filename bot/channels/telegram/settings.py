"""The ``[telegram]`` section of bot.toml and what Telegram needs from the environment."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator

from models.domain.city import StrictModel

PUBLIC_TELEGRAM_API = "https://api.telegram.org"


class TelegramSettings(StrictModel):
    mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str = ""  # public https URL Telegram calls, e.g. https://bot.city.gov.ua
    webhook_path: str = "/telegram/webhook"
    # Where the bot's one web server listens (every channel's webhook, not only Telegram's).
    listen_host: str = "127.0.0.1"
    listen_port: int = Field(8080, ge=1, le=65535)

    @model_validator(mode="after")
    def _webhook_needs_url(self) -> TelegramSettings:
        if self.mode == "webhook" and not self.webhook_url.startswith("https://"):
            raise ValueError("telegram.webhook_url: webhook mode needs the public https:// URL")
        if not self.webhook_path.startswith("/"):
            raise ValueError("telegram.webhook_path: must start with /")
        return self


def token(value: SecretStr | None) -> str:
    """The bot token, or the error that names the variable."""
    if value is None:
        raise RuntimeError("TELEGRAM_BOT_TOKEN is not set")
    return value.get_secret_value()
