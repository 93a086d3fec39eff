"""Requests and staff put straight into the database, for desk tests that are not about the
resident's dialog; and a way to talk to the staff desk the way the Telegram channel does."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from bot.config import Settings
from handlers.desk.engine import StaffDesk
from handlers.dialog.conversation import Conversation
from handlers.types import Incoming, Kind, Reply
from models.domain.outbox import OutboxMessage
from models.domain.requests import NewRequest, submit_request
from models.domain.residents import get_or_create_resident
from models.domain.staff import Role, put_staff
from models.domain.tables import Request


async def add_request(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    resident: str,
    category: str,
    subcategory: str | None = None,
    address: str = "вул. Тестова, 1",
    description: str = "Опис проблеми для перевірки",
    phone: str | None = None,
    lang: str = "en",
    channel: str = "telegram",
    now: datetime | None = None,
) -> Request:
    """A request filed by ``resident`` (a chat id), routed as the dialog would route it."""
    async with sessions() as session, session.begin():
        person = await get_or_create_resident(session, channel, resident, "Resident")
        person.language = lang
        req = await submit_request(
            session,
            person,
            NewRequest(
                category=category,
                subcategory=subcategory,
                department=settings.route(category, subcategory),
                address=address,
                description=description,
                phone=phone,
            ),
            now=now,
        )
    return req


async def add_staff(
    sessions: async_sessionmaker[AsyncSession],
    telegram_id: int,
    role: Role,
    department: str | None = None,
) -> None:
    async with sessions() as session, session.begin():
        await put_staff(session, telegram_id, role, department, added_by=0)


async def snapshot(sessions: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
    """What a refused action must leave as it was: every request with its history, and the
    outbox."""
    async with sessions() as session:
        requests = (
            await session.execute(
                select(Request).options(selectinload(Request.events)).order_by(Request.id)
            )
        ).scalars()
        outbox = (
            await session.execute(select(func.count()).select_from(OutboxMessage))
        ).scalar_one()
        return {
            "requests": [
                (
                    r.number,
                    r.status,
                    r.department,
                    r.rating,
                    [(e.kind, e.old_status, e.new_status, e.text) for e in r.events],
                )
                for r in requests
            ],
            "outbox": outbox,
        }


class Desk:
    """Events to the staff desk, routed as TelegramChannel routes them: the desk first, and
    what it does not take goes to the residents' conversation (in a private chat)."""

    def __init__(self, desk: StaffDesk, conversation: Conversation) -> None:
        self.desk = desk
        self.conversation = conversation

    async def event(
        self, user: int, chat: int | None = None, *, event_id: str = "", **kw: Any
    ) -> list[Reply]:
        """As the Telegram channel routes an update (``event_id``: its update_id)."""
        chat = user if chat is None else chat
        ev = Incoming(channel="telegram", user_id=str(user), **kw)
        staff_ev = Incoming(
            channel="telegram",
            user_id=str(user),
            chat_id=str(chat),
            group=chat < 0,
            **kw,
        )
        answer = await self.desk.handle(staff_ev, event_id=event_id)
        if answer is not None:
            return answer
        if chat < 0 or (ev.kind is Kind.BUTTON and ev.payload.startswith("s:")):
            return []
        return await self.conversation.handle(ev, event_id=event_id)

    async def command(self, user: int, line: str, chat: int | None = None) -> list[str]:
        head, _, rest = line.partition(" ")
        replies = await self.event(
            user, chat, kind=Kind.COMMAND, command=head.lstrip("/"), text=rest.strip()
        )
        return [r.text for r in replies]

    async def text(
        self, user: int, text: str, chat: int | None = None, reply_to: str = ""
    ) -> list[str]:
        """A text; ``reply_to`` makes it a reply (in a group only a reply answers a prompt)."""
        replies = await self.event(user, chat, kind=Kind.TEXT, text=text, reply_to=reply_to)
        return [r.text for r in replies]

    async def press(self, user: int, payload: str, chat: int | None = None) -> list[str]:
        return [r.text for r in await self.event(user, chat, kind=Kind.BUTTON, payload=payload)]
