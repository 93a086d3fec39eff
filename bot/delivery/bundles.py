"""Messages the bot starts to one Viber resident within a short window, sent as one.

Viber bills each message the bot starts outside a resident's session: a status change, a
reply and a deadline moved within a minute are three bills for one piece of news. With
``[costs] viber_bundle_seconds`` set, such a message waits that long after the oldest one
queued for the resident, and what is queued for them by then goes in one message: the texts
one after another, every button of them on the one keyboard Viber shows. Messages with
photos, and those inside a session (free), go as they are."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handlers.types import Reply
from models.domain.base import as_utc
from models.domain.outbox import OutboxKind, OutboxMessage, OutboxStatus


def bundleable(item: OutboxMessage) -> bool:
    body = item.body
    return item.kind is OutboxKind.MESSAGE and not body.get("photos") and not body.get("chart_day")


class Bundles:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        seconds: float,
        clock: Callable[[], datetime],
    ) -> None:
        self.sessions = sessions
        self.seconds = seconds
        self.clock = clock

    async def wait(self, item: OutboxMessage) -> float:
        """How much longer ``item`` waits for others to go with it (0: it goes now)."""
        if self.seconds <= 0 or not bundleable(item):
            return 0.0
        async with self.sessions() as session:
            oldest = (
                await session.execute(
                    select(func.min(OutboxMessage.created_at)).where(
                        OutboxMessage.channel == item.channel,
                        OutboxMessage.recipient == item.recipient,
                        OutboxMessage.status == OutboxStatus.PENDING,
                        OutboxMessage.kind == OutboxKind.MESSAGE,
                    )
                )
            ).scalar_one_or_none()
        start = as_utc(oldest) if oldest is not None else as_utc(item.created_at)
        return max(0.0, start.timestamp() + self.seconds - self.clock().timestamp())

    def take(self, item: OutboxMessage, queue: list[OutboxMessage]) -> list[OutboxMessage]:
        """What goes with ``item``: the bundleable messages right behind it in the recipient's
        queue (not past one that is not, so the order holds), taken out of the queue."""
        if self.seconds <= 0 or not bundleable(item):
            return []
        taken: list[OutboxMessage] = []
        while queue and bundleable(queue[0]):
            taken.append(queue.pop(0))
        return taken


def merged(replies: list[Reply]) -> Reply:
    """One message of several: the texts in order, the buttons of all (each once)."""
    first = replies[0]
    if len(replies) == 1:
        return first
    seen: set[str] = set()
    rows = []
    for reply in replies:
        for row in reply.buttons:
            kept = [b for b in row if b.payload not in seen]
            seen.update(b.payload for b in kept)
            if kept:
                rows.append(kept)
    return Reply("\n\n".join(r.text for r in replies), rows, lang=first.lang)
