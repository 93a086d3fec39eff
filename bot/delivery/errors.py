"""What a send can come to, and what the worker asks of a channel's sender."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from handlers.types import Reply


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


async def _no_wait() -> None:
    return None


def _no_stamp() -> None:
    return None


@dataclass
class Progress:
    """One outbox message that takes several messenger calls (an album, a pin, then the text;
    a long text in pieces), as far as it got. Each call takes its own slot of the messenger's
    limits (``slot``: the worker took the first before the send began); a retry after a 429
    starts after the parts already delivered instead of posting the photos again; and no call
    waits longer than ``timeout``."""

    done: int = 0
    last_id: str = ""
    timeout: float | None = None
    billing_status: int | None = None  # what the messenger said it billed (Viber)
    thread: str | None = None  # the topic of a forum group the message goes to (Telegram)
    pace: Callable[[], Awaitable[None]] = field(default=_no_wait, repr=False)
    # The chat's next slot timed again from when the first call really goes: what a sender
    # does before it (a topic looked up, a chart drawn) must not eat into the gap after it.
    stamp: Callable[[], None] = field(default=_no_stamp, repr=False)
    _first: bool = field(default=True, repr=False)

    def begin(self) -> None:
        """A new attempt: its first call has the slot the worker just took."""
        self._first = True

    async def slot(self) -> None:
        if self._first:
            self._first = False
            self.stamp()
            return
        await self.pace()


class Sender(Protocol):
    def is_group(self, recipient: str) -> bool: ...

    async def send(self, recipient: str, reply: Reply, progress: Progress | None = None) -> str:
        """Send; return the id of the message that carries the reply's buttons/text."""
        ...

    async def send_card(
        self, recipient: str, reply: Reply, progress: Progress | None = None
    ) -> str:
        """Post a request card (photos and location first); return the card message id."""
        ...

    async def edit(self, recipient: str, message_id: str, reply: Reply) -> None: ...
