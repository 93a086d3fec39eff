"""Small staff-desk edges: pointless reassignments, bootstrap admins, spreadsheet formulas."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from handlers.desk.engine import StaffDesk
from handlers.desk.export import spreadsheet_safe
from handlers.dialog.conversation import Conversation
from handlers.i18n import translator
from handlers.types import Incoming, Kind
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


def test_a_formula_after_a_semicolon_is_defused_too() -> None:
    """A spreadsheet with Ukrainian or Russian regional settings splits cells on ";" and
    evaluated "=1+1" in "Broken lamp;=1+1;end" (issue 17, break 5)."""
    assert spreadsheet_safe("Broken lamp;=1+1;end") == "Broken lamp;'=1+1;end"
    assert spreadsheet_safe("a,\n @cmd") == "a,\n '@cmd"


@given(st.text(alphabet="ab=+-@;,\t\r\n '", max_size=40))
def test_no_cell_a_spreadsheet_could_cut_from_the_text_starts_a_formula(text: str) -> None:
    safe = spreadsheet_safe(text)
    assert safe.replace("'", "") == text.replace("'", "")  # nothing but apostrophes added
    for cell in re.split(r"[,;\t\r\n]", safe):
        assert cell.lstrip()[:1] not in ("=", "+", "-", "@")


def _read(path: str) -> str:
    return Path(path).read_text(encoding="utf-8-sig")


async def test_the_exported_file_splits_into_no_formula_on_semicolons(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    cfg = desk_settings(settings)
    desk = Desk(StaffDesk(sessions, cfg, translator()), Conversation(sessions, cfg))
    await add_request(
        sessions, cfg, resident="7", category="lighting", description="Broken lamp;=1+1;end"
    )
    replies = await desk.desk.handle(
        Incoming(channel="telegram", user_id=str(ADMIN), kind=Kind.COMMAND, command="export")
    )
    assert replies and replies[0].document is not None
    data = _read(replies[0].document.path)
    assert "Broken lamp" in data
    for line in data.splitlines():
        for cell in line.split(";"):
            assert cell.strip().strip('"').lstrip()[:1] != "=", line
