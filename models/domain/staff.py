"""Staff: administrators, contact-center operators and department staff, by Telegram user id."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, String, delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from models.domain.base import Base, utcnow
from models.domain.tables import Request, _enum


class Role(enum.StrEnum):
    ADMIN = "admin"  # everything, manages staff
    OPERATOR = "operator"  # contact center: sees and routes all requests
    DEPARTMENT = "department"  # sees and acts on its department's requests only


class StaffMember(Base):
    __tablename__ = "staff"

    telegram_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    role: Mapped[Role] = mapped_column(_enum(Role, "staff_role"))
    department: Mapped[str | None] = mapped_column(String(32))
    name: Mapped[str | None] = mapped_column(String(128))
    added_by: Mapped[int | None] = mapped_column(BigInteger)
    added_at: Mapped[datetime] = mapped_column(default=utcnow)

    def can_see(self, req: Request) -> bool:
        return self.role is not Role.DEPARTMENT or req.department == self.department

    @property
    def sees_all(self) -> bool:
        return self.role is not Role.DEPARTMENT


async def find_staff(
    session: AsyncSession, telegram_id: int, bootstrap_admins: list[int]
) -> StaffMember | None:
    """The staff member behind a Telegram user, or None. Bootstrap admins from bot.toml are
    admins even before anyone was stored, so a fresh install can be administered."""
    member = await session.get(StaffMember, telegram_id)
    if member is None and telegram_id in bootstrap_admins:
        return StaffMember(telegram_id=telegram_id, role=Role.ADMIN, department=None)
    return member


async def put_staff(
    session: AsyncSession,
    telegram_id: int,
    role: Role,
    department: str | None,
    *,
    added_by: int,
    name: str | None = None,
) -> StaffMember:
    member = await session.get(StaffMember, telegram_id)
    if member is None:
        member = StaffMember(telegram_id=telegram_id, added_at=utcnow())
        session.add(member)
    member.role = role
    member.department = department if role is Role.DEPARTMENT else None
    member.added_by = added_by
    if name:
        member.name = name[:128]
    await session.flush()
    return member


async def remove_staff(session: AsyncSession, telegram_id: int) -> bool:
    result = await session.execute(
        delete(StaffMember).where(StaffMember.telegram_id == telegram_id)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def list_staff(session: AsyncSession) -> list[StaffMember]:
    return list(
        (
            await session.execute(
                select(StaffMember).order_by(StaffMember.role, StaffMember.telegram_id)
            )
        ).scalars()
    )


async def staff_ids(session: AsyncSession) -> set[int]:
    """The Telegram ids of everyone stored as staff (bootstrap admins are in the settings)."""
    return set((await session.execute(select(StaffMember.telegram_id))).scalars())
