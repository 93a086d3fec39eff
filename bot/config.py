"""Configuration: bot.toml (validated with pydantic) plus secrets and URLs from the environment.

The city's part of bot.toml (departments, categories, deadlines, limits, contacts, staff) is
``models.domain.city.CityConfig``; ``Settings`` adds what only the bot's outer layer needs:
the messengers, the outbox's pace and the database file.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from bot.channels.telegram.settings import PUBLIC_TELEGRAM_API, TelegramSettings
from bot.channels.viber.settings import PUBLIC_VIBER_API, ViberSettings
from bot.errors import ConfigError
from models.domain.city import LANGUAGES, CityConfig, StrictModel, reference_problems

__all__ = [
    "LANGUAGES",
    "ConfigError",
    "DeliverySettings",
    "Env",
    "Settings",
    "TelegramSettings",
    "ViberSettings",
    "load_settings",
    "parse_settings",
]

DEFAULT_CONFIG_PATH = "bot.toml"


class DeliverySettings(StrictModel):
    """The outbox sender's pace and patience (Telegram's limits by default)."""

    global_per_second: float = Field(30, gt=0)
    # Of that, kept free for the answers of residents' live dialogs (which are not queued):
    # the outbox sends at global_per_second - dialog_reserve_per_second, so a fan-out to
    # 100,000 residents never makes a resident's next step wait for a 429.
    dialog_reserve_per_second: float = Field(5, ge=0)
    private_per_second: float = Field(1, gt=0)
    group_per_minute: float = Field(20, gt=0)
    # A surge: when more new cards than this wait for one group, they go as one message
    # listing them (each with its /show link) instead of one by one, 3 a minute behind.
    batch_cards_over: int = Field(10, ge=1)
    max_attempts: int = Field(8, ge=1)
    backoff_base_seconds: float = Field(2, gt=0)
    backoff_max_seconds: float = Field(600, gt=0)
    lease_seconds: float = Field(60, gt=0)  # a crashed worker's messages are retried after it
    batch: int = Field(100, ge=1, le=1000)
    concurrency: int = Field(8, ge=1, le=64)
    # One messenger call that has not answered by then is given up and retried later: a hung
    # call holds back only its own recipient, and never until its lease runs out.
    send_timeout_seconds: float = Field(15, gt=0)
    # PostgreSQL, several workers: how often a worker that is not the sender tries to become it
    # (so how soon another takes over when the sender dies), and how often the sender checks
    # that it still is.
    leader_retry_seconds: float = Field(2, gt=0, le=60)

    @property
    def outbox_per_second(self) -> float:
        return self.global_per_second - self.dialog_reserve_per_second

    @model_validator(mode="after")
    def _reserve_below_limit(self) -> DeliverySettings:
        if self.dialog_reserve_per_second >= self.global_per_second:
            raise ValueError(
                "delivery.dialog_reserve_per_second: must be below global_per_second, or the "
                "outbox would never send"
            )
        return self

    @model_validator(mode="after")
    def _timeout_within_lease(self) -> DeliverySettings:
        if self.send_timeout_seconds >= self.lease_seconds:
            raise ValueError(
                "delivery.send_timeout_seconds: must be shorter than lease_seconds, or a slow "
                "send could be claimed again and go twice"
            )
        return self


class VoiceSettings(StrictModel):
    """[voice]: optional transcripts of residents' voice messages, for staff (bot/voice.py)."""

    model_path: str = ""  # a Vosk model directory; empty: no transcripts
    ffmpeg: str = "ffmpeg"  # decodes OGG/Opus, M4A, MP4 to what the recogniser reads
    timeout_seconds: float = Field(120.0, gt=0)  # one message at most; then no transcript


class Settings(CityConfig):
    """The whole of bot.toml: the city's configuration plus the messengers and delivery."""

    telegram: TelegramSettings = TelegramSettings()
    viber: ViberSettings = ViberSettings()
    delivery: DeliverySettings = DeliverySettings()
    database_path: str = "data/citybot.sqlite3"
    web: WebSettings = Field(default_factory=lambda: WebSettings())
    voice: VoiceSettings = VoiceSettings()

    def web_server(self) -> tuple[str, int]:
        """Where the bot's one web server (every channel's webhook) listens: bot.toml has
        always named it in [telegram]."""
        return self.telegram.listen_host, self.telegram.listen_port


class Env(BaseModel):
    """Secrets and URLs: only from the environment, never from the repo. Each channel reads
    its own variables here (``ChannelSpec.enabled``, its factory); nothing else does."""

    model_config = ConfigDict(frozen=True)

    telegram_bot_token: SecretStr | None = None
    telegram_api_base: str = PUBLIC_TELEGRAM_API
    telegram_webhook_secret: SecretStr | None = None
    viber_auth_token: SecretStr | None = None
    viber_api_base: str = PUBLIC_VIBER_API
    database_url: str | None = None
    config_path: str = DEFAULT_CONFIG_PATH
    # CITYBOT_LISTEN_PORT: the port of the bot's web server, over [telegram] listen_port, so
    # that several workers on one machine share one bot.toml (deploy/citybot@.service).
    listen_port: int | None = Field(None, ge=1, le=65535)

    @classmethod
    def from_environ(cls, environ: dict[str, str] | None = None) -> Env:
        e = os.environ if environ is None else environ

        def opt(name: str) -> str | None:
            value = e.get(name, "").strip()
            return value or None

        return cls(
            telegram_bot_token=opt("TELEGRAM_BOT_TOKEN"),
            telegram_api_base=opt("TELEGRAM_API_BASE") or PUBLIC_TELEGRAM_API,
            telegram_webhook_secret=opt("TELEGRAM_WEBHOOK_SECRET"),
            viber_auth_token=opt("VIBER_AUTH_TOKEN"),
            viber_api_base=opt("VIBER_API_BASE") or PUBLIC_VIBER_API,
            database_url=opt("DATABASE_URL"),
            config_path=opt("BOT_CONFIG") or DEFAULT_CONFIG_PATH,
            listen_port=int(port) if (port := opt("CITYBOT_LISTEN_PORT")) else None,
        )


def _format_errors(path: str, exc: ValidationError) -> str:
    lines = [f"{path} is invalid:"]
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        # Cross-field checks raise at the top level with the key already in their message.
        lines.append(f"  {loc}: {msg}" if loc else f"  {msg}")
    return "\n".join(lines)


def parse_settings(data: dict[str, object], source: str = "bot.toml") -> Settings:
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        message = _format_errors(source, exc)
        # The cross-references are checked only once every field is valid: look at them in
        # the raw file too, so every mistake is reported in one run, not one per run.
        missed = [p for p in reference_problems(data) if p not in message]
        raise ConfigError("\n".join([message, *(f"  {p}" for p in missed)])) from None


def load_settings(path: str | Path) -> Settings:
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {p} (set BOT_CONFIG)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    return parse_settings(data, str(p))


class WebSettings(StrictModel):
    """The public page and the Open311 API (bot/web): in the bot's web server, and started on
    its own listen_host:listen_port in polling mode when enabled."""

    enabled: bool = False
    listen_host: str = "127.0.0.1"
    listen_port: int = Field(8081, ge=1, le=65535)
    cache_seconds: float = Field(30, ge=0)  # how long a page or a GET answer is reused
    rate_per_minute: int = Field(120, ge=1)  # requests per client IP, page and API together
    rate_burst: int = Field(40, ge=1)
    trust_forwarded_for: bool = False  # behind a reverse proxy: the client is X-Forwarded-For
    # The map: both set, or the open requests are shown as a list only. {z}/{x}/{y} tiles.
    tile_url: str = ""
    tile_attribution: str = ""
    leaflet_js_url: str = ""
    leaflet_css_url: str = ""
    jurisdiction_id: str = ""  # e.g. "kr.gov.ua"; empty: the API serves one city
    public_url: str = ""  # the API's public base URL, named in discovery


Settings.model_rebuild()
