"""A topic per request in forum groups (issue 15). When a department's Telegram group has
topics on, the request's first card opens a topic named by its number and category; the card
and every message about the request (the resident's words, the staff's questions, answers and
status changes) go into it; the topic is closed while the request is not open (resolved,
rejected, closed) and reopened when it is again. Groups without topics keep one stream of
cards. The group's limit of 20 messages a minute is the chat's, whichever topic: the outbox
paces by chat, and opening a topic takes a slot of its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.delivery.errors import Progress, Sender
from handlers.formatting import category_name
from models.domain.outbox import OutboxKind, OutboxMessage, Topic
from models.domain.status import RULE
from models.domain.tables import Request

if TYPE_CHECKING:
    from models.domain.city import CityConfig

# Messages that belong in a request's topic only: without one they are not sent (a group
# without topics has the card, edited in place, and no running log).
TOPIC_ONLY_EVENTS = frozenset({"desk_log"})


@runtime_checkable
class Topics(Protocol):
    """What a sender that knows forum topics offers (bot/channels/telegram/sender.py)."""

    async def is_forum(self, chat: str) -> bool: ...

    async def open_topic(self, chat: str, name: str) -> str | None: ...

    async def close_topic(self, chat: str, thread: str, *, closed: bool) -> None: ...


def topic_name(settings: CityConfig, req: Request) -> str:
    lang = settings.staff.language
    return f"{req.number} · {category_name(settings, lang, req.category, req.subcategory)}"


class Rooms:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: CityConfig) -> None:
        self.sessions = sessions
        self.settings = settings

    async def thread(self, sender: Sender, item: OutboxMessage, progress: Progress) -> str | None:
        """The topic a desk chat's message about a request goes to; None: the chat itself.
        The request's first card in a forum opens its topic."""
        request_id = _request_id(item.body)
        if (
            request_id is None
            or not isinstance(sender, Topics)
            or not sender.is_group(item.recipient)
        ):
            return None
        async with self.sessions() as session:
            known = await session.get(Topic, (request_id, item.recipient))
        if known is not None:
            return known.thread_id
        # A message about a request filed before the group had topics stays in the group.
        if item.kind is not OutboxKind.CARD or not await sender.is_forum(item.recipient):
            return None
        async with self.sessions() as session:
            req = await session.get(Request, request_id)
        if req is None:
            return None
        await progress.slot()  # the topic is a message of the group's 20 a minute
        thread = await sender.open_topic(item.recipient, topic_name(self.settings, req))
        if thread is not None:
            async with self.sessions() as session, session.begin():
                session.add(Topic(request_id=request_id, chat_id=item.recipient, thread_id=thread))
        return thread

    async def follow(self, sender: Sender, item: OutboxMessage, req: Request) -> None:
        """After the card is posted or edited: the topic closed while the request is not
        open, reopened when it is again."""
        if not isinstance(sender, Topics):
            return
        async with self.sessions() as session:
            topic = await session.get(Topic, (req.id, item.recipient))
        closed = not RULE[req.status].open
        if topic is None or topic.closed == closed:
            return
        await sender.close_topic(item.recipient, topic.thread_id, closed=closed)
        async with self.sessions() as session, session.begin():
            row = await session.get(Topic, (req.id, item.recipient))
            if row is not None:
                row.closed = closed


def _request_id(body: dict[str, Any]) -> int | None:
    value = body.get("request_id")
    return int(value) if isinstance(value, int | str) and str(value).isdigit() else None
