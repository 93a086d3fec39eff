"""New cards in a surge (issue 11): a group may get 20 messages a minute, so 300 reports in
ten minutes would keep it a quarter of an hour behind. When more new cards than ``[delivery]
batch_cards_over`` wait for one group, the next message lists them all (up to
``BATCH_MAX``), each with its /show link, instead of sending them one by one; a request so
listed gets its full card at its next change. Forum groups (a topic per request) are left to
their topics."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.delivery.errors import Progress, Sender
from bot.delivery.topics import Topics
from handlers.i18n import Translator
from handlers.outbound.cards import BATCH_MAX, render_batch
from models.domain.outbox import Card, OutboxKind, OutboxMessage, OutboxStatus
from models.domain.tables import Request

if TYPE_CHECKING:
    from bot.config import Settings


class Batches:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], settings: Settings, tr: Translator
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.tr = tr

    async def send(self, sender: Sender, item: OutboxMessage, progress: Progress) -> bool:
        """Send ``item`` (a new card) with the other new cards waiting for its group as one
        message, when they are too many; False when it goes as a card of its own."""
        chat = item.recipient
        if not sender.is_group(chat) or item.request_id is None:
            return False
        if isinstance(sender, Topics) and await sender.is_forum(chat):
            return False
        waiting = await self._new_cards(chat)
        if (
            item.request_id not in waiting
            or len(waiting) <= self.settings.delivery.batch_cards_over
        ):
            return False
        # This card first, then the oldest waiting.
        listed = [item.request_id, *(r for r in waiting if r != item.request_id)][:BATCH_MAX]
        async with self.sessions() as session:
            reqs = {
                r.id: r
                for r in (await session.scalars(select(Request).where(Request.id.in_(listed))))
            }
        await sender.send(
            chat,
            render_batch(self.settings, self.tr, [reqs[i] for i in listed if i in reqs]),
            progress,
        )
        async with self.sessions() as session, session.begin():
            await session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.kind == OutboxKind.CARD,
                    OutboxMessage.recipient == chat,
                    OutboxMessage.request_id.in_(listed),
                    OutboxMessage.status == OutboxStatus.PENDING,
                    OutboxMessage.id != item.id,
                )
                .values(status=OutboxStatus.SENT, locked_until=None, last_error="batched")
            )
        return True

    async def _new_cards(self, chat: str) -> list[int]:
        """The requests whose first card waits for ``chat``, oldest first."""
        async with self.sessions() as session:
            rows = await session.execute(
                select(OutboxMessage.request_id)
                .outerjoin(
                    Card,
                    and_(Card.request_id == OutboxMessage.request_id, Card.chat_id == chat),
                )
                .where(
                    OutboxMessage.kind == OutboxKind.CARD,
                    OutboxMessage.recipient == chat,
                    OutboxMessage.status == OutboxStatus.PENDING,
                    OutboxMessage.request_id.is_not(None),
                    Card.request_id.is_(None),
                )
                .order_by(OutboxMessage.id)
                .limit(500)
            )
            return [int(r) for r in dict.fromkeys(rows.scalars()) if r is not None]
