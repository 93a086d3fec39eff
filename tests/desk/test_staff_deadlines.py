"""/overdue, /deadline and the speed figures of /stats, as staff use them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from handlers.desk.engine import StaffDesk
from handlers.dialog.conversation import Conversation
from handlers.i18n import translator
from handlers.outbound.notifications import render_notification
from models.domain.base import as_utc
from models.domain.deadlines.policy import policy_for
from models.domain.lifecycle import change_status
from models.domain.outbox import OutboxMessage
from models.domain.staff import Role
from models.domain.status import Status
from models.domain.tables import Actor, EventKind, Request, RequestEvent
from tests.desk_data import Desk, add_request, add_staff
from tests.desk_settings import ADMIN, desk_settings

FILED = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)  # 10:00 in Kyiv
LIGHTING_STAFF = 800_001
RESIDENT = "900001"


async def setup(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, now: list[datetime]
) -> tuple[Desk, Settings]:
    cfg = desk_settings(settings)
    tr = translator()
    desk = Desk(
        StaffDesk(sessions, cfg, tr, clock=lambda: now[0]),
        Conversation(sessions, cfg, clock=lambda: now[0]),
    )
    await add_staff(sessions, LIGHTING_STAFF, Role.DEPARTMENT, "lighting")
    for resident, category, sub in ((RESIDENT, "lighting", "light_off"), ("900002", "roads", None)):
        req = await add_request(
            sessions, cfg, resident=resident, category=category, subcategory=sub, now=FILED
        )
        async with sessions() as session, session.begin():
            row = await session.get(Request, req.id)
            assert row is not None
            policy_for(cfg).start(row, FILED)
    return desk, cfg


async def test_overdue_lists_what_is_late_in_scope(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    now = [FILED + timedelta(days=1)]
    desk, _ = await setup(sessions, settings, now)
    assert "No overdue requests" in (await desk.command(ADMIN, "/overdue"))[0]
    now[0] = FILED + timedelta(days=20)  # lighting: 7 days, roads: 14 days
    everything = (await desk.command(ADMIN, "/overdue"))[0]
    assert "2026-000001" in everything and "2026-000002" in everything
    assert "Overdue</b>: 2" in everything
    own = (await desk.command(LIGHTING_STAFF, "/overdue"))[0]
    assert "2026-000001" in own and "2026-000002" not in own
    refused = (await desk.command(LIGHTING_STAFF, "/overdue roads"))[0]
    assert "2026-000002" not in refused


async def test_a_new_deadline_is_recorded_and_the_resident_told(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    now = [FILED + timedelta(hours=1)]
    desk, cfg = await setup(sessions, settings, now)
    denied = (await desk.command(LIGHTING_STAFF, "/deadline 2026-000001 +3d parts on order"))[0]
    assert "Only administrators and operators" in denied
    assert "/deadline" in (await desk.command(ADMIN, "/deadline 2026-000001 +3d"))[0]  # no reason
    done = (await desk.command(ADMIN, "/deadline 2026-000001 2026-12-20 12:00 parts on order"))[0]
    assert "due 20 December, 12:00" in done
    async with sessions() as session:
        req = (await session.execute(select(Request).where(Request.id == 1))).scalar_one()
        assert as_utc(req.deadline_at) == datetime(2026, 12, 20, 10, 0, tzinfo=UTC)  # type: ignore[arg-type]
        told = (
            await session.execute(select(OutboxMessage).where(OutboxMessage.recipient == RESIDENT))
        ).scalars()
        texts = [render_notification(cfg, translator(), m.body).text for m in told]
    assert any(
        "new expected date is 20 December, 12:00" in t and "parts on order" in t for t in texts
    )
    late = (await desk.command(ADMIN, "/deadline 2026-000001 2027-02-01 too late anyway"))[0]
    assert "within 30 days" in late


async def test_stats_tell_how_fast_and_how_often_on_time(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    now = [FILED + timedelta(hours=10)]
    desk, cfg = await setup(sessions, settings, now)
    async with sessions() as session, session.begin():
        req = await session.get(Request, 1)
        assert req is not None
        await change_status(
            session,
            req,
            Status.RESOLVED,
            actor=Actor.STAFF,
            actor_id="1",
            note="fixed",
            now=now[0],
            desk_chats=[],
            policy=policy_for(cfg),
        )
    stats = (await desk.command(ADMIN, "/stats week"))[0]
    assert "Street lighting: 1 resolved, median 10.0 h, 100% within the deadline" in stats


@pytest.mark.parametrize("resumed_by", ["staff", "resident"])
async def test_a_deadline_set_while_waiting_for_the_resident_stays(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, resumed_by: str
) -> None:
    """The date staff promise while the clock is stopped is the date that holds once the work
    goes on: the stopped clock must not bring back the old deadline and its reminder."""
    now = [FILED + timedelta(hours=1)]
    desk, cfg = await setup(sessions, settings, now)
    asked = await desk.command(ADMIN, "/needinfo 2026-000001 Which pole is it?")
    assert "2026-000001" in asked[0]
    now[0] = FILED + timedelta(hours=2)
    done = (await desk.command(ADMIN, "/deadline 2026-000001 2026-12-20 12:00 parts on order"))[0]
    assert "due 20 December, 12:00" in done
    promised = datetime(2026, 12, 20, 10, 0, tzinfo=UTC)  # 12:00 in Kyiv

    now[0] = FILED + timedelta(days=1)
    if resumed_by == "staff":
        await desk.command(ADMIN, "/status 2026-000001 in_progress")
    else:
        await desk.command(int(RESIDENT), "/start")  # the resident opens the chat first
        answered = await desk.text(int(RESIDENT), "The third pole from the corner")
        assert "2026-000001" in answered[0]
    async with sessions() as session:
        req = await session.get(Request, 1)
        assert req is not None
        assert req.status is Status.IN_PROGRESS
        assert as_utc(req.deadline_at) == promised  # type: ignore[arg-type]
        assert req.remind_at is None, "no reminder of the old deadline comes back"
        told = (
            await session.execute(select(OutboxMessage).where(OutboxMessage.recipient == RESIDENT))
        ).scalars()
        texts = [render_notification(cfg, translator(), m.body).text for m in told]
        history = (
            await session.execute(
                select(RequestEvent.text).where(RequestEvent.kind == EventKind.DEADLINE)
            )
        ).scalars()
        assert list(history) == ["08.12.2026 10:00 → 20.12.2026 12:00: parts on order"]
    assert any("new expected date is 20 December, 12:00" in t for t in texts)
    shown = (await desk.command(ADMIN, "/show 2026-000001"))[0]
    assert "20.12.2026 12:00" in shown
