"""Configuration: bot.toml (validated with pydantic) plus secrets and URLs from the environment.

Every key has a default so a city can start from an almost empty file; validation errors name
the key that is wrong (``categories.3.department: unknown department 'roadz'``).
"""

from __future__ import annotations

import os
import tomllib
from datetime import date, time
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from models.deadlines import LEGAL_MAXIMUM, Span, WorkingHours

LANGUAGES: tuple[str, ...] = ("uk", "ru", "en")
DEFAULT_CONFIG_PATH = "bot.toml"
PUBLIC_TELEGRAM_API = "https://api.telegram.org"
PUBLIC_VIBER_API = "https://chatapi.viber.com/pa"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LocalizedName(_Strict):
    """A name in every supported language; uk is required, others fall back to it."""

    uk: str
    ru: str = ""
    en: str = ""

    def get(self, lang: str) -> str:
        value: str = getattr(self, lang, "") or ""
        return value or self.uk


def _span(value: str | None) -> str | None:
    if value is not None:
        span = Span.parse(value)  # raises ValueError with a readable message
        if span.hours() > LEGAL_MAXIMUM.total_seconds() / 3600:
            raise ValueError(f"deadline {value!r} is over the legal maximum of 30 days")
    return value


Deadline = Annotated[str | None, AfterValidator(_span)]
Priority = Literal["emergency", "high", "normal", "low"]


class WorkingHoursConfig(_Strict):
    """When a department works; its deadlines then count working time only."""

    start: time = time(8, 0)
    end: time = time(17, 0)
    days: list[Annotated[int, Field(ge=1, le=7)]] = [1, 2, 3, 4, 5]  # 1 = Monday

    @model_validator(mode="after")
    def _ordered(self) -> WorkingHoursConfig:
        if self.start >= self.end:
            raise ValueError("working_hours: start must be before end")
        if not self.days:
            raise ValueError("working_hours.days: at least one working day")
        return self


class Department(_Strict):
    code: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
    name: LocalizedName
    telegram_chat_id: int | None = None
    head_telegram_ids: list[int] = []
    working_hours: WorkingHoursConfig | None = None  # None: the clock runs around the clock


class Subcategory(_Strict):
    code: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,23}$")]
    name: LocalizedName
    department: str | None = None  # overrides the category's department
    deadline: Deadline = None  # overrides the category's deadline, e.g. "4h"
    priority: Priority | None = None


class Category(_Strict):
    code: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,23}$")]
    name: LocalizedName
    department: str
    emoji: str = ""
    deadline: Deadline = None  # e.g. "24h" or "7d"; None: [deadlines] default
    priority: Priority = "normal"
    subcategories: list[Subcategory] = []

    @field_validator("subcategories")
    @classmethod
    def _unique_sub(cls, subs: list[Subcategory]) -> list[Subcategory]:
        codes = [s.code for s in subs]
        dup = {c for c in codes if codes.count(c) > 1}
        if dup:
            raise ValueError(f"duplicate subcategory code(s): {', '.join(sorted(dup))}")
        return subs


class BoundingBox(_Strict):
    """The city's rectangle; a location pin outside it is refused."""

    min_lat: Annotated[float, Field(ge=-90, le=90)]
    max_lat: Annotated[float, Field(ge=-90, le=90)]
    min_lon: Annotated[float, Field(ge=-180, le=180)]
    max_lon: Annotated[float, Field(ge=-180, le=180)]

    @model_validator(mode="after")
    def _ordered(self) -> BoundingBox:
        if self.min_lat >= self.max_lat:
            raise ValueError("min_lat must be less than max_lat")
        if self.min_lon >= self.max_lon:
            raise ValueError("min_lon must be less than max_lon")
        return self

    def contains(self, lat: float, lon: float) -> bool:
        return self.min_lat <= lat <= self.max_lat and self.min_lon <= lon <= self.max_lon


class ContactPhone(_Strict):
    number: str
    label: LocalizedName


class City(_Strict):
    name: LocalizedName  # required: the bot names its city in every language it speaks
    timezone: str = "Europe/Kyiv"
    bbox: BoundingBox = BoundingBox(min_lat=47.60, max_lat=48.20, min_lon=33.15, max_lon=33.65)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use a name like Europe/Kyiv)") from None
        return value


class Contacts(_Strict):
    # Required: what residents are told to call, and when, is the city's to say (bot.toml).
    phones: list[ContactPhone] = Field(min_length=1)
    hours: LocalizedName
    email: str = ""
    website: str = ""


class Limits(_Strict):
    """Lengths are counted in characters after trimming."""

    description_min: int = Field(10, ge=1)
    description_max: int = Field(2000, le=3500)
    address_min: int = Field(3, ge=1)
    address_max: int = Field(200, le=500)
    comment_max: int = Field(2000, le=3500)
    photos_max: int = Field(5, ge=0, le=10)
    page_size: int = Field(5, ge=1, le=10)

    @model_validator(mode="after")
    def _ranges(self) -> Limits:
        if self.description_min > self.description_max:
            raise ValueError("limits.description_min: must not exceed description_max")
        if self.address_min > self.address_max:
            raise ValueError("limits.address_min: must not exceed address_max")
        return self


class TelegramSettings(_Strict):
    mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str = ""  # public https URL Telegram calls, e.g. https://bot.city.gov.ua
    webhook_path: str = "/telegram/webhook"
    listen_host: str = "127.0.0.1"
    listen_port: int = Field(8080, ge=1, le=65535)

    @model_validator(mode="after")
    def _webhook_needs_url(self) -> TelegramSettings:
        if self.mode == "webhook" and not self.webhook_url.startswith("https://"):
            raise ValueError("telegram.webhook_url: webhook mode needs the public https:// URL")
        if not self.webhook_path.startswith("/"):
            raise ValueError("telegram.webhook_path: must start with /")
        return self


class ViberSettings(_Strict):
    """The Viber bot (only webhooks exist in Viber): it is on when VIBER_AUTH_TOKEN is set.

    It listens on telegram.listen_host/listen_port, in the same web server as Telegram's
    webhook when both run.
    """

    name: Annotated[str, Field(min_length=1, max_length=28)] = "Contact center"  # sender name
    avatar: str = ""  # URL of the sender's picture (≤100 KB), optional
    webhook_url: str = ""  # public https URL Viber calls, e.g. https://bot.city.gov.ua
    webhook_path: str = "/viber/webhook"
    # Sent with every message. location-picker / share-phone buttons need API level 3 at
    # least; clients older than this level are asked by Viber to update.
    min_api_version: int = Field(7, ge=3)
    media_dir: str = "data/media"  # where residents' photos are kept (Viber's URLs expire)

    @model_validator(mode="after")
    def _https(self) -> ViberSettings:
        if self.webhook_url and not self.webhook_url.startswith("https://"):
            raise ValueError("viber.webhook_url: Viber calls only a public https:// URL")
        if not self.webhook_path.startswith("/"):
            raise ValueError("viber.webhook_path: must start with /")
        return self

    def full_webhook_url(self) -> str:
        return self.webhook_url.rstrip("/") + self.webhook_path if self.webhook_url else ""


class StaffSettings(_Strict):
    """Who may use the staff commands before anyone was added with /staff add."""

    admins: list[int] = []  # Telegram user ids of the bootstrap administrators
    operators_chat_id: int | None = None  # contact-center group: all new requests, escalations
    language: Literal["uk", "ru", "en"] = "uk"  # language of cards and staff messages


class DeliverySettings(_Strict):
    """The outbox sender's pace and patience (Telegram's limits by default)."""

    global_per_second: float = Field(30, gt=0)
    private_per_second: float = Field(1, gt=0)
    group_per_minute: float = Field(20, gt=0)
    max_attempts: int = Field(8, ge=1)
    backoff_base_seconds: float = Field(2, gt=0)
    backoff_max_seconds: float = Field(600, gt=0)
    lease_seconds: float = Field(60, gt=0)  # a crashed worker's messages are retried after it
    batch: int = Field(100, ge=1, le=1000)
    concurrency: int = Field(8, ge=1, le=64)


class DeadlineSettings(_Strict):
    """How long departments have, and when the bot reminds, escalates and follows up."""

    default: Annotated[str, AfterValidator(_span)] = "7d"
    reminder_share: float = Field(0.75, gt=0, lt=1)
    escalation_repeat_hours: float = Field(24, gt=0)
    digest_time: time = time(9, 0)
    fix_followup_days: float = Field(3, gt=0)
    needinfo_followup_days: float = Field(7, gt=0)
    holidays: list[date] = []
    scan_seconds: float = Field(60, ge=1)


class Settings(_Strict):
    default_language: Literal["uk", "ru", "en"] = "uk"
    city: City
    contacts: Contacts
    limits: Limits = Limits()
    telegram: TelegramSettings = TelegramSettings()
    viber: ViberSettings = ViberSettings()
    staff: StaffSettings = StaffSettings()
    delivery: DeliverySettings = DeliverySettings()
    deadlines: DeadlineSettings = DeadlineSettings()
    database_path: str = "data/citybot.sqlite3"
    departments: list[Department]
    categories: Annotated[list[Category], Field(min_length=1)]

    @model_validator(mode="after")
    def _references(self) -> Settings:
        codes = [d.code for d in self.departments]
        dup = {c for c in codes if codes.count(c) > 1}
        if dup:
            raise ValueError(f"duplicate department code(s): {', '.join(sorted(dup))}")
        cat_codes = [c.code for c in self.categories]
        dupc = {c for c in cat_codes if cat_codes.count(c) > 1}
        if dupc:
            raise ValueError(f"duplicate category code(s): {', '.join(sorted(dupc))}")
        known = set(codes)
        for i, cat in enumerate(self.categories):
            if cat.department not in known:
                raise ValueError(
                    f"categories.{i}.department: unknown department {cat.department!r}"
                )
            for j, sub in enumerate(cat.subcategories):
                if sub.department is not None and sub.department not in known:
                    raise ValueError(
                        f"categories.{i}.subcategories.{j}.department: "
                        f"unknown department {sub.department!r}"
                    )
        return self

    def category(self, code: str) -> Category | None:
        return next((c for c in self.categories if c.code == code), None)

    def deadline_for(self, category: str, subcategory: str | None) -> Span:
        cat = self.category(category)
        spec = cat.deadline if cat else None
        for sub in cat.subcategories if cat else []:
            if sub.code == subcategory and sub.deadline:
                spec = sub.deadline
        return Span.parse(spec or self.deadlines.default)

    def priority_for(self, category: str, subcategory: str | None) -> str:
        cat = self.category(category)
        if cat is None:
            return "normal"
        sub = next((s for s in cat.subcategories if s.code == subcategory), None)
        return (sub.priority if sub and sub.priority else None) or cat.priority

    def working_hours(self, department: str) -> WorkingHours | None:
        dept = self.department(department)
        if dept is None or dept.working_hours is None:
            return None
        wh = dept.working_hours
        return WorkingHours(
            wh.start, wh.end, frozenset(wh.days), frozenset(self.deadlines.holidays)
        )

    def department(self, code: str) -> Department | None:
        return next((d for d in self.departments if d.code == code), None)

    def route(self, category: str, subcategory: str | None) -> str:
        """The department responsible for a category (and subcategory)."""
        cat = self.category(category)
        if cat is None:
            raise KeyError(category)
        for sub in cat.subcategories:
            if sub.code == subcategory and sub.department:
                return sub.department
        return cat.department


class Env(BaseModel):
    """Secrets and URLs: only from the environment, never from the repo."""

    model_config = ConfigDict(frozen=True)

    telegram_bot_token: SecretStr | None = None
    telegram_api_base: str = PUBLIC_TELEGRAM_API
    telegram_webhook_secret: SecretStr | None = None
    viber_auth_token: SecretStr | None = None
    viber_api_base: str = PUBLIC_VIBER_API
    database_url: str | None = None
    config_path: str = DEFAULT_CONFIG_PATH

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
        )


class ConfigError(Exception):
    """bot.toml is missing or invalid; the message names the key."""


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
        raise ConfigError(_format_errors(source, exc)) from None


def load_settings(path: str | Path) -> Settings:
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {p} (set BOT_CONFIG)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    return parse_settings(data, str(p))
