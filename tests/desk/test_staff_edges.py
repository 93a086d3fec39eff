"""Small staff-desk edges: pointless reassignments, bootstrap admins, spreadsheet formulas."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from handlers.desk.engine import StaffDesk
from handlers.desk.export import spreadsheet_safe
from handlers.dialog.conversation import Conversation
from handlers.i18n import translator
from tests.desk_data import Desk, add_request, snapshot
from tests.desk_settings import ADMIN, desk_settings


def desk_for(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> Desk:
    cfg = desk_settings(settings)
    return Desk(StaffDesk(sessions, cfg, translator()), Conversation(sessions, cfg))


async def test_reassigning_to_the_same_department_changes_nothing(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    desk = desk_for(sessions, settings)
    req = await add_request(sessions, desk_settings(settings), resident="5", category="lighting")
    before = await snapshot(sessions)
    answer = (await desk.command(ADMIN, f"/assign {req.number} lighting"))[0]
    assert "nothing to reassign" in answer
    assert await snapshot(sessions) == before


async def test_a_bootstrap_admin_cannot_be_removed_by_command(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    desk = desk_for(sessions, settings)
    answer = (await desk.command(ADMIN, f"/staff remove {ADMIN}"))[0]
    assert "bot.toml" in answer
    assert "Staff" in (await desk.command(ADMIN, "/staff list"))[0]  # still an admin


def test_formulas_from_residents_are_defused_in_the_export() -> None:
    assert spreadsheet_safe('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    assert spreadsheet_safe("+380671234567") == "'+380671234567"
    assert spreadsheet_safe("вул. Соборності, 10") == "вул. Соборності, 10"
