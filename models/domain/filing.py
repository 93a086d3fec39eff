"""Filing a request the way the city files every request, whoever sends it (a resident in a
chat, another system through Open311): routed to its department, prioritised and deadlined
from bot.toml, stored with its number and first history event, and its card queued for the
department's chats. Callers own the transaction; nothing here commits."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from models.domain.city import CityConfig
from models.domain.deadlines.policy import policy_for
from models.domain.lifecycle import card_refresh
from models.domain.requests import NewRequest, submit_request
from models.domain.tables import Request, Resident


async def file_request(
    session: AsyncSession,
    config: CityConfig,
    resident: Resident | None,
    new: NewRequest,
    *,
    now: datetime,
    channel: str | None = None,
    language: str | None = None,
    filed_by: str | None = None,
) -> Request:
    """File ``new``; its ``department`` is the one bot.toml routes its category to."""
    department = config.route(new.category, new.subcategory)
    policy = policy_for(config)

    def prepare(req: Request) -> None:
        req.priority = config.priority_for(req.category, req.subcategory)
        policy.start(req, now)

    req = await submit_request(
        session,
        resident,
        replace(new, department=department),
        now=now,
        prepare=prepare,
        channel=channel,
        language=language,
        filed_by=filed_by,
    )
    card_refresh(session, req, config.desk_chats(department), now=now)
    return req
