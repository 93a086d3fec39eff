"""An action a staff member started and must finish with a text (a question, a resolution,
a reason). In their private chat their next message completes it; in a group only a reply to
the prompt does, because a group is where colleagues talk ("who took the van keys?" must not
resolve a request and reach the resident). Kept in the database so a restart never leaves it
half done."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Integer, String, delete, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.domain.base import Base, as_utc


class StaffPrompt(Base):
    __tablename__ = "staff_prompts"

    chat_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    action: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    # The prompt's message in a group, once the channel has posted it: the answer replies to it.
    message_id: Mapped[str | None] = mapped_column(String(32), default=None)
    # Photos sent before the text (a resolution's proof), and the album the last one was in.
    photos: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    album: Mapped[str | None] = mapped_column(String(64), default=None)


async def open_prompt(
    session: AsyncSession, chat_id: str, staff_id: int, action: str, request_id: int, now: datetime
) -> StaffPrompt:
    prompt = await session.get(StaffPrompt, (chat_id, staff_id))
    if prompt is None:
        prompt = StaffPrompt(chat_id=chat_id, staff_id=staff_id)
        session.add(prompt)
    prompt.action, prompt.request_id, prompt.created_at = action, request_id, now
    prompt.message_id = None
    prompt.photos, prompt.album = None, None
    return prompt


async def prompt_posted(
    session: AsyncSession, chat_id: str, staff_id: int, message_id: str
) -> None:
    """Remember which message asked, so that in a group only a reply to it answers."""
    await session.execute(
        update(StaffPrompt)
        .where(StaffPrompt.chat_id == chat_id, StaffPrompt.staff_id == staff_id)
        .values(message_id=message_id)
    )


async def find_prompt(
    session: AsyncSession,
    chat_id: str,
    staff_id: int,
    now: datetime,
    max_age_s: float = 900,
    *,
    reply_to: str | None = None,
) -> StaffPrompt | None:
    """The open prompt, locked (the photos of an album arrive as messages handled at once),
    unless it went stale (then it is removed). With ``reply_to`` (a message in a group) only a
    reply to the prompt's own message finds it; anything else in the group leaves it open."""
    prompt = await session.get(StaffPrompt, (chat_id, staff_id), with_for_update=True)
    if prompt is None:
        return None
    if reply_to is not None and (
        not reply_to or (prompt.message_id is not None and prompt.message_id != reply_to)
    ):
        return None
    if (now - as_utc(prompt.created_at)).total_seconds() > max_age_s:
        await session.delete(prompt)
        return None
    return prompt


async def drop_prompt(session: AsyncSession, chat_id: str, staff_id: int) -> bool:
    result = await session.execute(
        delete(StaffPrompt).where(StaffPrompt.chat_id == chat_id, StaffPrompt.staff_id == staff_id)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
