"""The delivery worker: sends what the outbox holds, within the messengers' limits.

One worker runs per deployment (the rate limits are counted in its memory). It claims due
messages with a lease, sends them in order per recipient, and records the outcome of each send
at once, so a crash re-sends at most the message that was in flight.

Recipients are served side by side and independently: one recipient's slow or hung send holds
back that recipient only (and never past ``send_timeout_seconds``, shorter than the lease),
while the worker goes on claiming and sending the rest. A message claimed while an earlier one
to the same recipient is still being sent joins that recipient's queue, so order is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.delivery.batches import Batches
from bot.delivery.bundles import Bundles, merged
from bot.delivery.charts import chart_file
from bot.delivery.costs import WAITING_NOTE as WAITING
from bot.delivery.costs import BilledCap
from bot.delivery.errors import (
    MessageGone,
    PermanentFailure,
    Progress,
    RecipientGone,
    RetryLater,
    Sender,
    TemporaryFailure,
)
from bot.delivery.pace import Pace
from bot.delivery.topics import TOPIC_ONLY_EVENTS, Rooms
from bot.metrics import OUTBOX_FAILED, OUTBOX_RETRIED, OUTBOX_SENT
from handlers.i18n import Translator
from handlers.outbound.cards import load_card_request, render_card
from handlers.outbound.notifications import render_notification
from models.domain.base import utcnow
from models.domain.lifecycle import notify_desk
from models.domain.outbox import (
    Card,
    OutboxKind,
    OutboxMessage,
    OutboxStatus,
    claim_due,
    mark,
    mark_gone,
)
from models.domain.tables import Request

if TYPE_CHECKING:
    from bot.config import Settings

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (channel, recipient)
STOP_WAIT_SECONDS = 30.0
# A recipient's next slot this close is waited for in place: a round trip to the database
# and a claim again would cost more than the wait.
SHORT_WAIT_SECONDS = 0.25


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
        # What each messenger's client sent in the last second, its answers to residents
        # included: the outbox leaves room for those (Pace.crowd).
        counts = [c for s in senders.values() if (c := getattr(s, "load", None))]
        self.pace = Pace(self.cfg, crowd=(lambda: max(c() for c in counts)) if counts else None)
        self._wake = asyncio.Event()
        self._sem = asyncio.Semaphore(self.cfg.concurrency)
        self._queues: dict[Key, list[OutboxMessage]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._claimed = 0  # messages claimed and not yet sent, recorded or released
        self._stopping = False
        # Parts of a message already delivered, kept between its attempts (a retry after a 429
        # does not post the photos again). In memory: after a crash they may be sent again.
        self._progress: dict[int, Progress] = {}
        self.rooms = Rooms(sessions, settings)
        self.batches = Batches(sessions, settings, tr)
        self.billed = BilledCap(sessions, settings.costs.viber_monthly_cap, clock)
        self.bundles = Bundles(sessions, settings.costs.viber_bundle_seconds, clock)
        self._bundled: dict[int, list[OutboxMessage]] = {}  # sent with a message, by its id

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
                claimed = await self.run_once(wait=False)
            except Exception:
                log.exception("delivery round failed")
                claimed = 0
            if claimed == 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), idle_poll)
        await self._finish()

    async def run_once(self, *, wait: bool = True) -> int:
        """Claim what is due (as much as there is room for) and start sending it; with ``wait``
        until all that is under way is done. Returns how many messages were claimed."""
        room = self.cfg.batch - self._claimed
        if room <= 0:
            return 0
        now = self.clock()
        async with self.sessions() as session, session.begin():
            items = await claim_due(
                session,
                now=now,
                lease=timedelta(seconds=self.cfg.lease_seconds),
                limit=room,
            )
        self._claimed += len(items)
        for item in items:
            key = (item.channel, item.recipient)
            queue = self._queues.get(key)
            if queue is not None:
                queue.append(item)  # after what is being sent to them now
                continue
            self._queues[key] = [item]
            task = asyncio.create_task(self._serve(key), name=f"delivery-{item.channel}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if wait:
            while self._tasks:
                await asyncio.wait(set(self._tasks))
        return len(items)

    async def _finish(self) -> None:
        """On the way out: what is being sent is let finish (each send is bounded); what was
        claimed but not begun is handed back at once rather than left to its lease, so the
        next process (a rolling restart) sends it without waiting."""
        self._stopping = True
        if not self._tasks:
            return
        _, late = await asyncio.wait(set(self._tasks), timeout=STOP_WAIT_SECONDS)
        for task in late:
            task.cancel()  # its messages stay leased and are sent after the restart

    async def _serve(self, key: Key) -> None:
        """Send one recipient's messages in order; when one is held back, the rest wait too."""
        queue = self._queues[key]
        held: float | None = None
        try:
            async with self._sem:
                while queue and held is None and not self._stopping:
                    item = queue.pop(0)
                    try:
                        held = await self._deliver(item)
                    finally:
                        self._claimed -= 1
                        # Not sent: what was to go with it goes back, in order, on its own.
                        back = self._bundled.pop(item.id, [])
                        queue[0:0] = back
                        self._claimed += len(back)
            while queue:  # held back (or stopping): what came after waits, still in order
                rest = queue[:]
                queue.clear()
                try:
                    await self._release(rest, delay=held or 0.0)
                finally:
                    self._claimed -= len(rest)
        finally:
            self._claimed -= len(queue)  # left leased by a failure: due again after the lease
            del self._queues[key]
            self._wake.set()  # room for more

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

    async def _deliver(self, item: OutboxMessage) -> float | None:
        """Send one message. None when the recipient's next message may follow; otherwise the
        seconds they must wait (this one was held back, or the recipient is gone)."""
        sender = self.senders.get(item.channel)
        if sender is None:
            await self._record(
                item, OutboxStatus.FAILED, attempts=item.attempts, error="no sender for channel"
            )
            return None
        group = sender.is_group(item.recipient)
        if item.kind is OutboxKind.CARD:
            skip = await self._superseded(item)
            if skip == "done":
                return None  # listed in a batch meanwhile (bot/delivery/batches.py)
            if skip:
                # A later refresh of the same card is queued: it shows the request as it is
                # then, so this one is left out rather than spend one of the group's 20 a
                # minute.
                await self._record(
                    item, OutboxStatus.SENT, attempts=item.attempts, error="superseded"
                )
                return None
        wait = self.pace.chat_wait(item.recipient)
        if 0 < wait <= SHORT_WAIT_SECONDS:
            await asyncio.sleep(wait)  # cheaper than handing it back and claiming it again
        elif wait > 0:
            await self._release([item], delay=wait)
            return wait
        attempts = item.attempts + 1
        bot_initiated = await self.billed.bot_initiated(sender, item)
        if bot_initiated:
            if await self.billed.holds(item.body):
                await self._record(
                    item, OutboxStatus.WAITING, attempts=item.attempts, error=WAITING
                )
                return None
            wait = await self.bundles.wait(item)
            if wait > 0:
                await self._release([item], delay=wait)
                return wait
            queue = self._queues.get((item.channel, item.recipient), [])
            if taken := self.bundles.take(item, queue):
                self._bundled[item.id] = taken
                self._claimed -= len(taken)
        progress = self._progress.setdefault(item.id, self._new_progress(item.recipient, group))
        progress.begin()
        try:
            await self.pace.take_global()
            self.pace.take_chat(item.recipient, group)
            # The last guard: whatever a sender does, no send outlives its lease (after which
            # the message would be claimed again and could go twice).
            async with asyncio.timeout(self.cfg.lease_seconds * 0.9):
                await self._send(sender, item, progress)
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
            OUTBOX_RETRIED.labels(item.channel, "throttled").inc()
            return exc.seconds
        except (TemporaryFailure, TimeoutError) as exc:
            error = str(exc) or f"no answer within {self.cfg.send_timeout_seconds}s"
            if attempts >= self.cfg.max_attempts:
                log.error("giving up on outbox %s after %s attempts: %s", item.id, attempts, error)
                await self._finished(item, OutboxStatus.FAILED, attempts, error)
                return None
            backoff = self._backoff(attempts)
            OUTBOX_RETRIED.labels(item.channel, "error").inc()
            await self._record(
                item,
                OutboxStatus.PENDING,
                attempts=attempts,
                not_before=self._due_in(backoff),
                error=error,
            )
            return backoff
        except RecipientGone as exc:
            await self._finished(item, OutboxStatus.UNDELIVERABLE, attempts, str(exc))
            if group:
                return None  # a group the bot was removed from: each message fails on its own
            async with self.sessions() as session, session.begin():
                await mark_gone(session, item.channel, item.recipient, self.clock(), str(exc))
            return 0.0  # nothing more goes to them, this round's messages included
        except (PermanentFailure, ValueError) as exc:
            log.error("outbox %s refused for good: %s", item.id, exc)
            await self._finished(item, OutboxStatus.FAILED, attempts, str(exc))
            return None
        self._progress.pop(item.id, None)
        await self._record(
            item,
            OutboxStatus.SENT,
            attempts=attempts,
            bot_initiated=bot_initiated,
            billing_status=progress.billing_status,
        )
        OUTBOX_SENT.labels(item.channel).inc()
        if bot_initiated:
            self.billed.sent()
        for other in self._bundled.pop(item.id, []):
            await self._record(other, OutboxStatus.SENT, attempts=other.attempts + 1, error=None)
        return None

    async def _superseded(self, item: OutboxMessage) -> str:
        """ "done" when the card went in a batch meanwhile; "later" when a later refresh of it
        is queued; "" when it is to be sent."""
        async with self.sessions() as session:
            # The newest pending refresh of this card, this one included while it waits.
            newest = await session.scalar(
                select(func.max(OutboxMessage.id)).where(
                    OutboxMessage.request_id == item.request_id,
                    OutboxMessage.kind == OutboxKind.CARD,
                    OutboxMessage.recipient == item.recipient,
                    OutboxMessage.status == OutboxStatus.PENDING,
                    OutboxMessage.id >= item.id,
                )
            )
        if newest is None:
            return "done"
        return "later" if newest > item.id else ""

    def _new_progress(self, recipient: str, group: bool) -> Progress:
        async def pace() -> None:
            # A further part of one message: it waits its turn in the chat, then takes a slot.
            wait = self.pace.chat_wait(recipient)
            if wait > 0:
                await asyncio.sleep(wait)
            await self.pace.take_global()
            self.pace.take_chat(recipient, group)

        def stamp() -> None:
            self.pace.take_chat(recipient, group)

        return Progress(timeout=self.cfg.send_timeout_seconds, pace=pace, stamp=stamp)

    async def _finished(
        self, item: OutboxMessage, status: OutboxStatus, attempts: int, error: str | None = None
    ) -> None:
        self._progress.pop(item.id, None)
        await self._record(item, status, attempts=attempts, error=error)
        if status is not OutboxStatus.SENT:
            OUTBOX_FAILED.labels(item.channel, status.value).inc()
            await self._tell_desk(item, error or status.value)

    async def _tell_desk(self, item: OutboxMessage, error: str) -> None:
        """A resident's notification that will never arrive is said to the department: a
        question the resident never saw would otherwise keep the request waiting for an answer
        nobody will give, and staff believe the resident was told."""
        event = str(item.body.get("event", ""))
        request_id = item.body.get("request_id")
        if item.kind is not OutboxKind.MESSAGE or request_id is None or event.startswith("desk_"):
            return
        async with self.sessions() as session, session.begin():
            req = await session.get(Request, int(request_id))
            if req is None:
                return
            chats = self.settings.desk_chats(req.department)
            notify_desk(
                session, req, chats, "desk_undelivered", now=self.clock(), error=error[:200]
            )
        self.kick()

    async def _send(self, sender: Sender, item: OutboxMessage, progress: Progress) -> None:
        progress.thread = await self.rooms.thread(sender, item, progress)
        if item.kind is OutboxKind.MESSAGE:
            body = item.body
            if body.get("event") in TOPIC_ONLY_EVENTS and (
                progress.thread is None
                or body.get("origin") == f"{item.recipient}:{progress.thread}"
            ):
                return  # a group without topics keeps to its cards; in the topic staff acted
                # in, what they did is there already
            if body.get("chart_day"):
                body = {**body, "chart": await chart_file(self.sessions, str(body["chart_day"]))}
            replies = [body, *(m.body for m in self._bundled.get(item.id, []))]
            reply = merged([render_notification(self.settings, self.tr, b) for b in replies])
            await sender.send(item.recipient, reply, progress)
            return
        request_id = int(item.body["request_id"])
        async with self.sessions() as session:
            card = await session.get(Card, (request_id, item.recipient))
        # A card not posted yet may go in a list with the others waiting (a surge).
        if card is None and await self.batches.send(sender, item, progress):
            return
        async with self.sessions() as session:
            req = await load_card_request(session, request_id)
        if req is None:
            return
        reply = render_card(self.settings, self.tr, req)
        if card is not None and progress.done == 0:
            try:
                await sender.edit(item.recipient, card.message_id, reply)
                await self.rooms.follow(sender, item, req)
                return
            except MessageGone:
                pass  # deleted in the chat: post it again
        message_id = await sender.send_card(item.recipient, reply, progress)
        async with self.sessions() as session, session.begin():
            existing = await session.get(Card, (request_id, item.recipient))
            if existing is None:
                session.add(
                    Card(request_id=request_id, chat_id=item.recipient, message_id=message_id)
                )
            else:
                existing.message_id = message_id
        await self.rooms.follow(sender, item, req)
