"""The outbox's delivery: the worker (``worker``), the messengers' limits (``pace``) and
what a send can come to (``errors``)."""

from bot.delivery.errors import (
    DeliveryError,
    MessageGone,
    PermanentFailure,
    Progress,
    RecipientGone,
    RetryLater,
    Sender,
    TemporaryFailure,
)
from bot.delivery.pace import Pace
from bot.delivery.worker import Delivery

__all__ = [
    "Delivery",
    "DeliveryError",
    "MessageGone",
    "Pace",
    "PermanentFailure",
    "Progress",
    "RecipientGone",
    "RetryLater",
    "Sender",
    "TemporaryFailure",
]
