"""Re-deliveries are recognised from the ids kept with each resident's dialog state
(handlers/conversation.py). The ``seen_updates`` table of earlier versions is only emptied."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from models.domain.tables import SeenUpdate


async def forget_seen_before(session: AsyncSession, cutoff: datetime) -> None:
    await session.execute(delete(SeenUpdate).where(SeenUpdate.at < cutoff))
