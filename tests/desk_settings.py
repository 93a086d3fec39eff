"""Settings for staff-desk and delivery tests: the repo's bot.toml with department group chats,
an operators' chat and bootstrap administrators filled in (bot.toml ships without them), and
delivery limits fast enough for a test unless a test is about pacing itself."""

from __future__ import annotations

from typing import Any

from bot.config import Settings

ADMIN = 700_001  # a bootstrap administrator (bot.toml [staff] admins)
LIGHTING_CHAT = -100_111
ROADS_CHAT = -100_222
OPERATORS_CHAT = -100_999
DEPARTMENT_CHATS = {"lighting": LIGHTING_CHAT, "roads": ROADS_CHAT}

FAST_DELIVERY: dict[str, Any] = {
    "global_per_second": 1000,
    "private_per_second": 50,
    "group_per_minute": 6000,
    "backoff_base_seconds": 0.05,
    "backoff_max_seconds": 0.5,
}


def desk_settings(
    settings: Settings,
    *,
    staff_language: str = "en",
    admins: tuple[int, ...] = (ADMIN,),
    operators_chat: int | None = OPERATORS_CHAT,
    delivery: dict[str, Any] | None = None,
) -> Settings:
    """A copy of ``settings`` with the chats and admins set. ``delivery`` replaces the fast
    limits above; ``{}`` keeps bot.toml's (Telegram's) limits."""
    departments = [
        d.model_copy(update={"telegram_chat_id": DEPARTMENT_CHATS.get(d.code)})
        for d in settings.departments
    ]
    staff = settings.staff.model_copy(
        update={
            "admins": list(admins),
            "operators_chat_id": operators_chat,
            "language": staff_language,
        }
    )
    pace = settings.delivery.model_copy(update=FAST_DELIVERY if delivery is None else delivery)
    return settings.model_copy(
        update={"departments": departments, "staff": staff, "delivery": pace}
    )
