"""Requests filed by another system (the city's CRM, a mobile app) through Open311: routed,
prioritised and deadlined exactly as one filed in the chat, and its card sent to the same
department chats.

Such a request has no chat resident. A phone given with it is kept on the request, where staff
see it on the card, and is not matched to a chat resident: a phone number a third party sends
proves nothing about who uses the bot, so the city answers these requests by phone (the
contact center), never in a chat. Names and e-mail addresses sent with it are not stored.

Callers own the transaction; nothing here commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from models.domain.city import CityConfig
from models.domain.filing import file_request
from models.domain.requests import NewRequest
from models.domain.tables import Request

CHANNEL = "open311"


class UnknownService(Exception):
    """The service code names no category (or no subcategory of it)."""


@dataclass(frozen=True, slots=True)
class ExternalRequest:
    category: str
    subcategory: str | None
    address: str
    description: str
    latitude: float | None = None
    longitude: float | None = None
    phone: str | None = None
    language: str | None = None


def check_service(config: CityConfig, category: str, subcategory: str | None) -> None:
    cat = config.category(category)
    if cat is None:
        raise UnknownService(category)
    if subcategory is not None and subcategory not in {s.code for s in cat.subcategories}:
        raise UnknownService(f"{category}.{subcategory}")


async def file_external(
    session: AsyncSession,
    config: CityConfig,
    new: ExternalRequest,
    *,
    client: str,
    now: datetime,
) -> Request:
    """File ``new`` for the client named ``client`` (its API key's name, kept in the history)."""
    check_service(config, new.category, new.subcategory)
    return await file_request(
        session,
        config,
        None,
        NewRequest(
            category=new.category,
            subcategory=new.subcategory,
            department="",  # routed by file_request
            address=new.address,
            description=new.description,
            latitude=new.latitude,
            longitude=new.longitude,
            phone=new.phone,
        ),
        now=now,
        channel=CHANNEL,
        language=new.language or config.default_language,
        filed_by=f"{CHANNEL}:{client}",
    )
