"""The delivery worker: sends what the outbox holds, within the messengers' limits.

One worker runs per deployment (the rate limits are counted in its memory). It claims due
messages with a lease, sends them in order per recipient, and records the outcome of each send
at once, so a crash re-sends at most the message that was in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import DeliverySettings, Settings
from handlers.i18n import Translator
from handlers.notifications import load_card_request, render_card, render_notification
from handlers.types import Reply
from models.base import utcnow
from models.entities import Resident
from models.outbox import Card, OutboxKind, OutboxMessage, OutboxStatus, claim_due, mark

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    pass


class RetryLater(DeliveryError):
    """The messenger asked us to wait (HTTP 429 retry_after)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds}s")
        self.seconds = seconds


class TemporaryFailure(DeliveryError):
    """5xx, a timeout, a network error: worth trying again later."""


class RecipientGone(DeliveryError):
    """Blocked the bot, deleted the account, unsubscribed: stop sending to them."""


class PermanentFailure(DeliveryError):
    """The messenger refused this message for good (400): retrying cannot help."""


class MessageGone(DeliveryError):
    """The message to edit no longer exists."""


class Sender(Protocol):
    def is_group(self, recipient: str) -> bool: ...

    async def send(self, recipient: str, reply: Reply) -> str:
        """Send; return the id of the message that carries the reply's buttons/text."""
        ...

    async def send_card(self, recipient: str, reply: Reply) -> str:
        """Post a request card (photos and location first); return the card message id."""
        ...

    async def edit(self, recipient: str, message_id: str, reply: Reply) -> None: ...


class Pace:
    """Spaces sends so that no window of the messenger's limits is ever exceeded: a steady
    rate instead of bursts, which is what keeps 429s at zero."""

    def __init__(self, cfg: DeliverySettings, clock: Callable[[], float] = time.monotonic):
        self.cfg = cfg
        self.clock = clock
        self._global_next = 0.0
        self._chat_next: OrderedDict[str, float] = OrderedDict()

    def chat_wait(self, recipient: str) -> float:
        return max(0.0, self._chat_next.get(recipient, 0.0) - self.clock())

    def take_chat(self, recipient: str, group: bool) -> None:
        gap = 60.0 / self.cfg.group_per_minute if group else 1.0 / self.cfg.private_per_second
        self._chat_next[recipient] = self.clock() + gap
        self._chat_next.move_to_end(recipient)
        while len(self._chat_next) > 100_000:
            self._chat_next.popitem(last=False)

    async def take_global(self) -> None:
        now = self.clock()
        slot = max(now, self._global_next)
        self._global_next = slot + 1.0 / self.cfg.global_per_second
        if slot > now:
            await asyncio.sleep(slot - now)


class Delivery:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        tr: Translator,
        senders: dict[str, Sender],
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.cfg = settings.delivery
        self.tr = tr
        self.senders = senders
        self.clock = clock
        self.pace = Pace(self.cfg)
        self._wake = asyncio.Event()
        self._sem = asyncio.Semaphore(self.cfg.concurrency)

    def kick(self) -> None:
        """Something was enqueued: look now rather than at the next poll."""
        self._wake.set()

    async def run(self, stop: asyncio.Event | None = None, idle_poll: float = 1.0) -> None:
        stop = stop or asyncio.Event()
        while not stop.is_set():
            try:
                handled = await self.run_once()
            except Exception:
                log.exception("delivery round failed")
                handled = 0
            if handled == 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), idle_poll)

    async def run_once(self) -> int:
        now = self.clock()
        async with self.sessions() as session, session.begin():
            items = await claim_due(
                session,
                now=now,
                lease=timedelta(seconds=self.cfg.lease_seconds),
                limit=self.cfg.batch,
            )
        if not items:
            return 0
        groups: dict[tuple[str, str], list[OutboxMessage]] = {}
        for item in items:
            groups.setdefault((item.channel, item.recipient), []).append(item)
        await asyncio.gather(*(self._deliver_group(g) for g in groups.values()))
        return len(items)

    async def _deliver_group(self, items: list[OutboxMessage]) -> None:
        async with self._sem:
            for i, item in enumerate(items):
                if not await self._deliver(item):
                    # Keep the recipient's order: what follows waits for the one held back.
                    await self._release(items[i + 1 :], delay=0.0)
                    return

    async def _release(self, items: list[OutboxMessage], delay: float) -> None:
        if not items:
            return
        async with self.sessions() as session, session.begin():
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_([m.id for m in items]))
                .values(locked_until=None, not_before=self.clock() + timedelta(seconds=delay))
            )

    async def _record(self, item: OutboxMessage, status: OutboxStatus, **kw: object) -> None:
        async with self.sessions() as session, session.begin():
            await mark(session, item.id, status=status, now=self.clock(), **kw)  # type: ignore[arg-type]

    def _backoff(self, attempts: int) -> float:
        cfg = self.cfg
        base = min(cfg.backoff_max_seconds, cfg.backoff_base_seconds * (1 << (attempts - 1)))
        return base * random.uniform(0.8, 1.2)

    async def _deliver(self, item: OutboxMessage) -> bool:
        """Send one message; False when it was held back (and the rest must wait too)."""
        sender = self.senders.get(item.channel)
        if sender is None:
            await self._record(
                item, OutboxStatus.FAILED, attempts=item.attempts, error="no sender for channel"
            )
            return True
        wait = self.pace.chat_wait(item.recipient)
        if wait > 0:
            await self._release([item], delay=wait)
            return False
        attempts = item.attempts + 1
        try:
            await self.pace.take_global()
            self.pace.take_chat(item.recipient, sender.is_group(item.recipient))
            await self._send(sender, item)
        except RetryLater as exc:
            await self._record(
                item,
                OutboxStatus.PENDING,
                attempts=attempts,
                not_before=self.clock() + timedelta(seconds=exc.seconds),
                error=str(exc),
            )
            # Telegram's retry_after applies to the whole bot, not only to this chat.
            self.pace._global_next = max(self.pace._global_next, self.pace.clock() + exc.seconds)
            return False
        except TemporaryFailure as exc:
            if attempts >= self.cfg.max_attempts:
                log.error("giving up on outbox %s after %s attempts: %s", item.id, attempts, exc)
                await self._record(item, OutboxStatus.FAILED, attempts=attempts, error=str(exc))
                return True
            await self._record(
                item,
                OutboxStatus.PENDING,
                attempts=attempts,
                not_before=self.clock() + timedelta(seconds=self._backoff(attempts)),
                error=str(exc),
            )
            return False
        except RecipientGone as exc:
            await self._record(item, OutboxStatus.UNDELIVERABLE, attempts=attempts, error=str(exc))
            await self._mark_blocked(item)
            return True
        except (PermanentFailure, ValueError) as exc:
            log.error("outbox %s refused for good: %s", item.id, exc)
            await self._record(item, OutboxStatus.FAILED, attempts=attempts, error=str(exc))
            return True
        await self._record(item, OutboxStatus.SENT, attempts=attempts)
        return True

    async def _send(self, sender: Sender, item: OutboxMessage) -> None:
        if item.kind is OutboxKind.MESSAGE:
            await sender.send(
                item.recipient, render_notification(self.settings, self.tr, item.body)
            )
            return
        request_id = int(item.body["request_id"])
        async with self.sessions() as session:
            req = await load_card_request(session, request_id)
            card = await session.get(Card, (request_id, item.recipient))
        if req is None:
            return
        reply = render_card(self.settings, self.tr, req)
        if card is not None:
            try:
                await sender.edit(item.recipient, card.message_id, reply)
                return
            except MessageGone:
                pass  # deleted in the chat: post it again
        message_id = await sender.send_card(item.recipient, reply)
        async with self.sessions() as session, session.begin():
            existing = await session.get(Card, (request_id, item.recipient))
            if existing is None:
                session.add(
                    Card(request_id=request_id, chat_id=item.recipient, message_id=message_id)
                )
            else:
                existing.message_id = message_id

    async def _mark_blocked(self, item: OutboxMessage) -> None:
        async with self.sessions() as session, session.begin():
            await session.execute(
                update(Resident)
                .where(Resident.channel == item.channel, Resident.external_id == item.recipient)
                .values(blocked_at=self.clock())
            )
