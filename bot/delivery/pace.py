"""The messengers' rate limits, kept by spacing sends rather than by bursts and waits."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.config import DeliverySettings


class Pace:
    """Spaces sends so that no window of the messenger's limits is ever exceeded: a steady
    rate instead of bursts, which is what keeps 429s at zero.

    The messenger counts when a request arrives, not when it left: spacing exactly at the
    limit lets the network's jitter push one window over it. So every gap is a few percent
    longer than the limit allows, and a stalled event loop never releases a burst: a send that
    comes late is not followed by the ones it held up all at once."""

    MARGIN = 1.04
    # Telegram counts the answers to residents' steps too (sent at once, not through here):
    # ``crowd`` is the bot's load (bot/channels/telegram/traffic.py: the last second's
    # messages, answers included), and the outbox waits while that is within CROWD_ROOM of the
    # limit: room for the answers that come in the next instant. Answers first.
    CROWD_ROOM = 3
    CROWD_POLL = 0.01

    def __init__(
        self,
        cfg: DeliverySettings,
        clock: Callable[[], float] = time.monotonic,
        crowd: Callable[[], int] | None = None,
    ):
        self.cfg = cfg
        self.clock = clock
        self.crowd = crowd
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
            while True:
                wait = self._global_next - self.clock()
                if wait > 0:
                    await asyncio.sleep(wait)
                    continue  # looked at again: a 429 meanwhile (hold_all) moves the slot
                if self.crowd is not None and self._crowded():
                    # A count over a sliding second: no event to wait on, it falls with time.
                    await asyncio.sleep(self.CROWD_POLL)
                    continue
                break
            # The next slot is timed from this one, not from when the sleep returned: the loop
            # wakes a little late every time, and timing from the wake-up lost that lag at
            # every gap (0.92 of the limit instead of 0.97). Slots stay one gap apart, and a
            # send catches up at most a tenth of a gap on its slot: the rest of the margin is
            # left for the network's jitter, so no one-second window holds more than the limit.
            gap = self.MARGIN / self.cfg.outbox_per_second
            slot = max(self._global_next, self.clock() - gap / 10)
            self._global_next = slot + gap

    def _crowded(self) -> bool:
        assert self.crowd is not None
        return self.crowd() >= self.cfg.global_per_second - self.CROWD_ROOM

    def hold_all(self, seconds: float) -> None:
        """The messenger asked the whole bot to wait (429 retry_after)."""
        self._global_next = max(self._global_next, self.clock() + seconds)
