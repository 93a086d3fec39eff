"""The city's own configuration: its name and contacts, departments and categories, deadlines,
input limits and staff. It is domain data every part of the bot may read; the messengers'
settings (tokens, webhooks, pacing) are not here but in bot/config.py, which adds them.

Every key has a default where one makes sense, so a city can start from an almost empty file;
validation errors name the key that is wrong (``categories.3.department: unknown department
'roadz'``).
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from datetime import date, time
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from models.domain.deadlines.spans import LEGAL_MAXIMUM, Span, WorkingHours

LANGUAGES: tuple[str, ...] = ("uk", "ru", "en")


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LocalizedName(StrictModel):
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


class WorkingHoursConfig(StrictModel):
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


TEMPLATE_PLACEHOLDERS = ("number", "address", "deadline", "department")


def _template_text(value: str) -> str:
    try:
        fields = [field for _, field, _, _ in string.Formatter().parse(value)]
    except ValueError as exc:  # a lone { or }
        raise ValueError(f"{exc}; write {{{{ and }}}} for braces") from exc
    for field in fields:
        if field is not None and field not in TEMPLATE_PLACEHOLDERS:
            raise ValueError(
                f"unknown placeholder {{{field}}}; use "
                + ", ".join(f"{{{name}}}" for name in TEMPLATE_PLACEHOLDERS)
            )
    return value


TemplateText = Annotated[str, Field(min_length=1, max_length=2000), AfterValidator(_template_text)]
TemplateName = Annotated[str, Field(pattern=r"^[a-z0-9_]{1,32}$")]


class AnswerTemplate(StrictModel):
    """A ready answer staff send as ``#name`` (/reply, /needinfo, /resolve, /reject, a card's
    prompt): each resident gets it in their language, the placeholders filled in."""

    uk: TemplateText
    ru: TemplateText
    en: TemplateText

    def get(self, lang: str) -> str:
        return str(getattr(self, lang, self.uk))


class Department(StrictModel):
    code: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
    name: LocalizedName
    telegram_chat_id: int | None = None
    head_telegram_ids: list[int] = []
    working_hours: WorkingHoursConfig | None = None  # None: the clock runs around the clock
    templates: dict[TemplateName, AnswerTemplate] = {}  # this department's own, over the global


class QuestionOption(StrictModel):
    key: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,23}$")]
    text: LocalizedName


class Question(StrictModel):
    """One extra question with buttons, asked after the category ("whole building or only
    your flat?"); the answer is stored with the request, shown on its card and exported."""

    key: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,23}$")]
    text: LocalizedName
    options: Annotated[list[QuestionOption], Field(min_length=2, max_length=6)]

    def option(self, key: str) -> QuestionOption | None:
        return next((o for o in self.options if o.key == key), None)


Questions = Annotated[list[Question], Field(max_length=3)]


class Subcategory(StrictModel):
    code: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,23}$")]
    name: LocalizedName
    department: str | None = None  # overrides the category's department
    deadline: Deadline = None  # overrides the category's deadline, e.g. "4h"
    priority: Priority | None = None
    notice: LocalizedName | None = None  # shown at once when chosen (e.g. "call 104 now")
    questions: Questions = []  # asked instead of the category's, when given


class Category(StrictModel):
    code: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,23}$")]
    name: LocalizedName
    department: str
    emoji: str = ""
    deadline: Deadline = None  # e.g. "24h" or "7d"; None: [deadlines] default
    priority: Priority = "normal"
    subcategories: list[Subcategory] = []
    notice: LocalizedName | None = None  # shown at once when chosen
    questions: Questions = []  # up to three, asked after the (sub)category

    def questions_for(self, sub: str | None) -> list[Question]:
        found = next((s for s in self.subcategories if s.code == sub), None)
        return list(found.questions if found is not None and found.questions else self.questions)

    @field_validator("subcategories")
    @classmethod
    def _unique_sub(cls, subs: list[Subcategory]) -> list[Subcategory]:
        codes = [s.code for s in subs]
        dup = {c for c in codes if codes.count(c) > 1}
        if dup:
            raise ValueError(f"duplicate subcategory code(s): {', '.join(sorted(dup))}")
        return subs


class BoundingBox(StrictModel):
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


class ContactPhone(StrictModel):
    number: str
    label: LocalizedName


class City(StrictModel):
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


class Contacts(StrictModel):
    # Required: what residents are told to call, and when, is the city's to say (bot.toml).
    phones: list[ContactPhone] = Field(min_length=1)
    hours: LocalizedName
    email: str = ""
    website: str = ""


class Limits(StrictModel):
    """Lengths are counted in characters after trimming."""

    description_min: int = Field(10, ge=1)
    description_max: int = Field(2000, le=3500)
    address_min: int = Field(3, ge=1)
    address_max: int = Field(200, le=500)
    comment_max: int = Field(2000, le=3500)
    photos_max: int = Field(5, ge=0, le=10)
    page_size: int = Field(5, ge=1, le=10)
    # Messages to a resident who blocked the bot or unsubscribed are kept this long and sent
    # if they come back; older ones are dropped (what changed is in "My requests" anyway).
    held_messages_days: int = Field(7, ge=0, le=90)
    # "This is my problem too": open requests within this distance of a pin are offered.
    nearby_radius_m: float = Field(150, ge=10, le=2000)

    @model_validator(mode="after")
    def _ranges(self) -> Limits:
        if self.description_min > self.description_max:
            raise ValueError("limits.description_min: must not exceed description_max")
        if self.address_min > self.address_max:
            raise ValueError("limits.address_min: must not exceed address_max")
        return self


class Safety(StrictModel):
    """Words that mean danger in a description, in each language, and the notice they bring
    before the resident goes on (the chat is not an emergency line)."""

    notice: LocalizedName | None = None
    words: dict[Literal["uk", "ru", "en"], list[Annotated[str, Field(min_length=2)]]] = {}

    @model_validator(mode="after")
    def _notice_for_words(self) -> Safety:
        if any(self.words.values()) and self.notice is None:
            raise ValueError("safety.words need safety.notice: the words show it")
        return self

    def all_words(self) -> list[str]:
        return [w for words in self.words.values() for w in words]


class Costs(StrictModel):
    """What the city pays for messages (Viber bills those the bot starts outside the 24 hours
    after a resident's own message; replies inside them are free)."""

    viber_message_price: float = Field(0.0, ge=0)
    # Billed Viber messages a month, at most (0: no cap). Over it, only status changes that
    # close a request or need the resident go; the rest wait for the resident's next message.
    viber_monthly_cap: int = Field(0, ge=0)
    # Messages the bot starts to one Viber resident within this many seconds go as one
    # (0: each on its own).
    viber_bundle_seconds: int = Field(0, ge=0, le=3600)
    currency: Annotated[str, Field(min_length=1, max_length=8)] = "EUR"


class StaffSettings(StrictModel):
    """Who may use the staff commands before anyone was added with /staff add."""

    admins: list[int] = []  # Telegram user ids of the bootstrap administrators
    operators_chat_id: int | None = None  # contact-center group: all new requests, escalations
    language: Literal["uk", "ru", "en"] = "uk"  # language of cards and staff messages


class DeadlineSettings(StrictModel):
    """How long departments have, and when the bot reminds, escalates and follows up."""

    default: Annotated[str, AfterValidator(_span)] = "7d"
    reminder_share: float = Field(0.75, gt=0, lt=1)
    escalation_repeat_hours: float = Field(24, gt=0)
    digest_time: time = time(9, 0)
    fix_followup_days: float = Field(3, gt=0)
    needinfo_followup_days: float = Field(7, gt=0)
    holidays: list[date] = []
    scan_seconds: float = Field(60, ge=1)


class CityConfig(StrictModel):
    default_language: Literal["uk", "ru", "en"] = "uk"
    city: City
    contacts: Contacts
    limits: Limits = Limits()
    staff: StaffSettings = StaffSettings()
    deadlines: DeadlineSettings = DeadlineSettings()
    costs: Costs = Costs()
    safety: Safety = Safety()
    departments: list[Department]
    categories: Annotated[list[Category], Field(min_length=1)]
    templates: dict[TemplateName, AnswerTemplate] = {}  # every department's staff may use these

    @model_validator(mode="after")
    def _references(self) -> CityConfig:
        problems = reference_problems(
            {
                "departments": [{"code": d.code} for d in self.departments],
                "categories": [
                    {
                        "code": c.code,
                        "department": c.department,
                        "subcategories": [
                            {"department": sub.department} for sub in c.subcategories
                        ],
                    }
                    for c in self.categories
                ],
            }
        )
        if problems:
            raise ValueError("\n  ".join(problems))
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

    def desk_chats(self, department: str) -> list[str]:
        """The Telegram chats that keep a card of a department's requests."""
        chats: list[str] = []
        dept = self.department(department)
        if dept is not None and dept.telegram_chat_id is not None:
            chats.append(str(dept.telegram_chat_id))
        if self.staff.operators_chat_id is not None:
            chats.append(str(self.staff.operators_chat_id))
        return list(dict.fromkeys(chats))

    def escalation_chats(self, department: str) -> list[str]:
        """Who hears of an overdue request: the department's chat, its heads, the operators."""
        chats: list[str] = []
        dept = self.department(department)
        if dept is not None:
            if dept.telegram_chat_id is not None:
                chats.append(str(dept.telegram_chat_id))
            chats += [str(head) for head in dept.head_telegram_ids]
        if self.staff.operators_chat_id is not None:
            chats.append(str(self.staff.operators_chat_id))
        return list(dict.fromkeys(chats))


def reference_problems(data: Mapping[str, Any]) -> list[str]:
    """What refers to nothing, or twice to one code, in the departments and categories of
    bot.toml as read (a dict): every problem, so that a file with three mistakes is told of
    three even when other fields failed first and the model never got this far."""

    def items(key: str, source: Mapping[str, Any] = data) -> list[Mapping[str, Any]]:
        value = source.get(key)
        return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []

    problems: list[str] = []
    codes = [str(d.get("code")) for d in items("departments")]
    dup = sorted({c for c in codes if codes.count(c) > 1})
    if dup:
        problems.append(f"duplicate department code(s): {', '.join(dup)}")
    cat_codes = [str(c.get("code")) for c in items("categories")]
    dupc = sorted({c for c in cat_codes if cat_codes.count(c) > 1})
    if dupc:
        problems.append(f"duplicate category code(s): {', '.join(dupc)}")
    known = set(codes)
    for i, cat in enumerate(items("categories")):
        if "department" in cat and cat["department"] not in known:
            problems.append(f"categories.{i}.department: unknown department {cat['department']!r}")
        for j, sub in enumerate(items("subcategories", cat)):
            if sub.get("department") is not None and sub["department"] not in known:
                problems.append(
                    f"categories.{i}.subcategories.{j}.department: "
                    f"unknown department {sub['department']!r}"
                )
    return problems
