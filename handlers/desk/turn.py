"""One staff event being handled (the desk's unit of work)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.types import Incoming, Reply
from models.domain.staff import StaffMember
from models.domain.tables import Request


@dataclass
class Turn:
    """One staff event being handled: who, where, in which transaction, and the answers."""

    session: AsyncSession
    staff: StaffMember
    ev: Incoming
    now: datetime
    # A read-only turn runs on the read sessions (no row locks, no writes, no outbox kick).
    read_only: bool = False
    # In a department's group: that department. Whatever is asked there is answered for it
    # only, so nothing of another department is posted where its staff do not work.
    room: str | None = None
    replies: list[Reply] = field(default_factory=list)
    # Telegram ids whose staff rights changed, announced once the transaction is committed.
    staff_changed: dict[int, bool] = field(default_factory=dict)

    @property
    def scope(self) -> str | None:
        if self.room is not None:
            return self.room
        return None if self.staff.sees_all else self.staff.department

    def can_see(self, req: Request) -> bool:
        return self.staff.can_see(req) and self.room in (None, req.department)

    @property
    def chat(self) -> str:
        return self.ev.chat_id or self.ev.user_id

    @property
    def origin(self) -> str:
        """The forum topic this was said in, as "<chat>:<thread>" ("" elsewhere)."""
        ev = self.ev
        return f"{ev.chat_id}:{ev.thread}" if ev.group and ev.thread else ""

    @property
    def actor_id(self) -> str:
        return str(self.staff.telegram_id)

    async def end_read(self) -> None:
        """End a read-only turn's transaction (its connection goes back to the pool), for a
        command that goes on reading in short transactions of its own (/export)."""
        assert self.read_only
        await self.session.commit()
