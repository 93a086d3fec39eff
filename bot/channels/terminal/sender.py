"""Notifications (a department's answer, a status change) appear in the terminal chat."""

from __future__ import annotations

from bot.channels.terminal.chat import TerminalChat
from bot.delivery import Progress
from handlers.types import Reply


class TerminalSender:
    """The outbox writes to the one resident at this terminal; others are not here."""

    def __init__(self, chat: TerminalChat) -> None:
        self.chat = chat

    def is_group(self, recipient: str) -> bool:
        return False

    async def send(self, recipient: str, reply: Reply, progress: Progress | None = None) -> str:
        if recipient == self.chat.user_id:
            self.chat.write("\n🔔")
            self.chat.render([reply])
        return "0"

    async def send_card(
        self, recipient: str, reply: Reply, progress: Progress | None = None
    ) -> str:
        return await self.send(recipient, reply)

    async def edit(self, recipient: str, message_id: str, reply: Reply) -> None:
        await self.send(recipient, reply)
