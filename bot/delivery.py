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
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handlers.i18n import Translator
from handlers.outbound.cards import load_card_request, render_card
from handlers.outbound.notifications import render_notification
from handlers.types import Reply
from models.domain.base import utcnow
from models.domain.outbox import Card, OutboxKind, OutboxMessage, OutboxStatus, claim_due, mark
from models.domain.tables import Resident

if TYPE_CHECKING:
    from bot.config import DeliverySettings, Settings

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
    rate instead of bursts, which is what keeps 429s at zero.

    The messenger counts when a request arrives, not when it left: spacing exactly at the
    limit lets the network's jitter push one window over it. So every gap is a few percent
    longer than the limit allows, and a stalled event loop never releases a burst: a send that
    comes late is not followed by the ones it held up all at once."""

    MARGIN = 1.04

    def __init__(self, cfg: DeliverySettings, clock: Callable[[], float] = time.monotonic):
        self.cfg = cfg
        self.clock = clock
        self._global_next = 0.0
        self._global_lock = asyncio.Lock()
        self._chat_next: OrderedDict[str, float] = OrderedDict()

    def chat_wait(self, recipient: str) -> float:
        return max(0.0, self._chat_next.get(recipient, 0.0) - self.clock())

    def take_chat(self, recipient: str, group: bool) -> None:
        gap = 60.0 / self.cfg.group_per_minute if group else 1.0 / self.cfg.private_per_second
        self._chat_next[recipient] = self.clock() + gap * self.MARGIN
        self._chat_next.move_to_end(recipient)
        while len(self._chat_next) > 100_000:
            self._chat_next.popitem(last=False)

    async def take_global(self) -> None:
        async with self._global_lock:  # one slot at a time, in the order asked
            wait = self._global_next - self.clock()
            while wait > 0:
                await asyncio.sleep(wait)
                # Looked at again: a 429 meanwhile (hold_all) moves the slot.
                wait = self._global_next - self.clock()
            # The next slot is timed from this one, not from when the sleep returned: the loop
            # wakes a little late every time, and timing from the wake-up lost that lag at
            # every gap (0.92 of the limit instead of 0.97). Slots stay one gap apart, and a
            # send catches up at most a tenth of a gap on its slot: the rest of the margin is
            # left for the network's jitter, so no one-second window holds more than the limit.
            gap = self.MARGIN / self.cfg.global_per_second
            slot = max(self._global_next, self.clock() - gap / 10)
            self._global_next = slot + gap

    def hold_all(self, seconds: float) -> None:
        """The messenger asked the whole bot to wait (429 retry_after)."""
        self._global_next = max(self._global_next, self.clock() + seconds)


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

    def _due_in(self, seconds: float) -> datetime:
        """``not_before`` for a message held back for ``seconds``; the worker looks again just
        then, so paced and retried messages go on time rather than at the next idle poll."""
        asyncio.get_running_loop().call_later(seconds + 0.02, self._wake.set)
        return self.clock() + timedelta(seconds=seconds)

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
                .where(
                    OutboxMessage.id.in_([m.id for m in items]),
                    OutboxMessage.status == OutboxStatus.PENDING,
                )
                .values(locked_until=None, not_before=self._due_in(delay))
            )

    async def _record(self, item: OutboxMessage, status: OutboxStatus, **kw: object) -> None:
        async with self.sessions() as session, session.begin():
            await mark(session, item.id, status=status, now=self.clock(), **kw)  # type: ignore[arg-type]

    def _backoff(self, attempts: int) -> float:
        cfg = self.cfg
        base = min(cfg.backoff_max_seconds, cfg.backoff_base_seconds * (1 << (attempts - 1)))
        return base * random.uniform(0.8, 1.2)

    async def _deliver(self, item: OutboxMessage) -> bool:
        """Send one message; False when the recipient's next messages must not go now (this one
        was held back, or the recipient is gone)."""
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
                not_before=self._due_in(exc.seconds),
                error=str(exc),
            )
            # Telegram's retry_after applies to the whole bot, not only to this chat.
            self.pace.hold_all(exc.seconds)
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
                not_before=self._due_in(self._backoff(attempts)),
                error=str(exc),
            )
            return False
        except RecipientGone as exc:
            await self._record(item, OutboxStatus.UNDELIVERABLE, attempts=attempts, error=str(exc))
            if sender.is_group(item.recipient):
                return True  # a group the bot was removed from: each message fails on its own
            await self._mark_blocked(item, str(exc))
            return False  # nothing more goes to them, this round's messages included
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

    async def _mark_blocked(self, item: OutboxMessage, error: str) -> None:
        """The resident blocked the bot: mark them, and give up on everything still waiting for
        them (new notifications are not queued until they write again)."""
        async with self.sessions() as session, session.begin():
            await session.execute(
                update(Resident)
                .where(Resident.channel == item.channel, Resident.external_id == item.recipient)
                .values(blocked_at=self.clock())
            )
            await session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.channel == item.channel,
                    OutboxMessage.recipient == item.recipient,
                    OutboxMessage.status == OutboxStatus.PENDING,
                )
                .values(
                    status=OutboxStatus.UNDELIVERABLE,
                    locked_until=None,
                    last_error=f"not sent: {error}"[:1000],
                )
            )
