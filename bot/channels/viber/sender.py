"""The outbox's way into Viber: Viber's answers become delivery outcomes."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from bot.channels.viber.client import NotSubscribed, ViberClient, ViberError
from bot.channels.viber.media import ViberMedia
from bot.channels.viber.render import render_replies
from bot.delivery import MessageGone, PermanentFailure, Progress, RecipientGone, TemporaryFailure
from handlers.types import Reply


class ViberSender:
    """The outbox's way into Viber: Viber's answers become delivery outcomes."""

    def __init__(self, client: ViberClient, pictures: ViberMedia | None = None) -> None:
        self.client = client
        self.pictures = pictures

    # Viber bills what the bot sends outside the 24 hours after the resident's own message.
    session_window = timedelta(hours=24)

    def is_group(self, recipient: str) -> bool:
        return False

    async def send(self, recipient: str, reply: Reply, progress: Progress | None = None) -> str:
        if reply.photos and self.pictures is not None:
            # Viber fetches a picture from a URL: the bot's own photos get one (bot/media.py).
            found = [await self.pictures.url(ref) for ref in reply.photos]
            reply = replace(reply, photos=[url for url in found if url])
        messages = render_replies([reply])
        try:
            answers = await self.client.send_all(recipient, messages)
        except NotSubscribed as exc:
            raise RecipientGone(str(exc)) from exc
        except ViberError as exc:
            if exc.retryable:
                raise TemporaryFailure(str(exc)) from exc
            raise PermanentFailure(str(exc)) from exc
        if progress is not None:
            billed = [int(a["billing_status"]) for a in answers if "billing_status" in a]
            progress.billing_status = max(billed, default=None)
        return str(answers[-1].get("message_token", "")) if answers else ""

    async def send_card(
        self, recipient: str, reply: Reply, progress: Progress | None = None
    ) -> str:
        return await self.send(recipient, reply)

    async def edit(self, recipient: str, message_id: str, reply: Reply) -> None:
        raise MessageGone("Viber messages cannot be edited")
