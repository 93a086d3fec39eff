"""Who may do what at the staff desk: department staff see their own department's requests
only (anything else is "not found" and changes nothing), residents cannot tell staff commands
exist, removed staff lose access at once, only administrators manage staff, a wrong argument
gets the command's usage line, and an illegal status change is refused with the status."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import Settings
from handlers.i18n import to_plain, translator
from handlers.types import Kind
from models.domain.outbox import OutboxMessage
from models.domain.prompts import StaffPrompt
from models.domain.staff import Role, StaffMember
from models.domain.status import Status
from models.domain.tables import Request
from tests.desk_data import Desk, add_request, add_staff, snapshot
from tests.desk_settings import ADMIN, LIGHTING_CHAT, ROADS_CHAT
from tests.fakes.telegram_server import FakeTelegramServer
from tests.telegram_harness import running_bot

LIGHTING = 710_001  # department staff, lighting
ROADS = 710_002  # department staff, roads
OPERATOR = 710_003
RESIDENT = 555_301
OTHER_RESIDENT = 555_302


def t(key: str, **kw: object) -> str:
    """The staff desk speaks English in these tests (staff.language = "en")."""
    return translator().t("en", key, **kw)


@pytest.fixture
async def world(
    sessions: async_sessionmaker[AsyncSession], cfg: Settings
) -> tuple[Request, Request]:
    """A lighting request and a roads request, each with its department's staff member."""
    lamp = await add_request(
        sessions,
        cfg,
        resident=str(RESIDENT),
        category="lighting",
        subcategory="light_off",
        address="вул. Світла, 5",
        phone="+380671112233",
    )
    pothole = await add_request(
        sessions,
        cfg,
        resident=str(OTHER_RESIDENT),
        category="roads",
        subcategory="pothole",
        address="просп. Дорожній, 9",
        phone="+380674445566",
    )
    await add_staff(sessions, LIGHTING, Role.DEPARTMENT, "lighting")
    await add_staff(sessions, ROADS, Role.DEPARTMENT, "roads")
    await add_staff(sessions, OPERATOR, Role.OPERATOR)
    return lamp, pothole


def read_and_remove(path: str) -> str:
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8-sig")
    finally:
        p.unlink()


async def outbox_to(sessions: async_sessionmaker[AsyncSession], recipient: int) -> int:
    async with sessions() as session:
        rows = await session.execute(
            select(OutboxMessage).where(OutboxMessage.recipient == str(recipient))
        )
        return len(list(rows.scalars()))


# --- department scope -----------------------------------------------------------------------


async def test_department_staff_cannot_reach_another_departments_request(
    desk: Desk,
    world: tuple[Request, Request],
    sessions: async_sessionmaker[AsyncSession],
    caplog: pytest.LogCaptureFixture,
) -> None:
    lamp, pothole = world
    before = await snapshot(sessions)
    n, rid = pothole.number, pothole.id
    # The answer for a request of another department is the answer for one that does not exist.
    nobody = t("staff.not_found", number="2026-999999")
    assert await desk.command(LIGHTING, "/show 2026-999999") == [nobody]
    missing = [t("staff.not_found", number=n)]
    caplog.set_level(logging.WARNING)
    for line in (
        f"/show {n}",
        f"/status {n} in_progress",
        f"/status {n} resolved Fixed it",
        f"/assign {n} lighting",
        f"/reply {n} Hello there, we are on it",
        f"/needinfo {n} Which house exactly?",
        f"/resolve {n} Patched the pothole",
        f"/reject {n} Not ours at all",
    ):
        assert await desk.command(LIGHTING, line) == missing, line
        assert await desk.command(LIGHTING, line, chat=LIGHTING_CHAT) == missing, line
    for line in (f"/find {n}", "/find просп. Дорожній", "/find +380674445566", "/find 0674445566"):
        assert await desk.command(LIGHTING, line) == [t("staff.find_none")], line
    # Forged card buttons: ids are guessable, so each one is checked.
    forged = [t("staff.not_found", number=str(rid))]
    for action in ("accept", "progress", "needinfo", "resolve", "reject", "reassign"):
        assert await desk.press(LIGHTING, f"s:{action}:{rid}", LIGHTING_CHAT) == forged, action
    assert await desk.press(LIGHTING, f"s:to:{rid}:lighting", LIGHTING_CHAT) == forged
    # No question was opened by the forged Need info, so the next message is nobody's answer.
    assert await desk.text(LIGHTING, "Is this the pothole?", LIGHTING_CHAT) == []
    # The queue, statistics and export show the own department only.
    queue = to_plain("\n".join(await desk.command(LIGHTING, "/queue")))
    assert lamp.number in queue and n not in queue
    assert await desk.command(LIGHTING, "/queue roads") == [t("staff.queue_empty")]
    stats = to_plain("\n".join(await desk.command(LIGHTING, "/stats")))
    assert "Street lighting" in stats and "Roads" not in stats
    exported = await desk.event(LIGHTING, kind=Kind.COMMAND, command="export", text="")
    assert exported[0].document is not None
    csv_text = await asyncio.to_thread(read_and_remove, exported[0].document.path)
    assert lamp.number in csv_text and n not in csv_text and "Дорожній" not in csv_text
    # Nothing changed, nothing was sent to anybody, and every refusal was logged.
    assert await snapshot(sessions) == before
    async with sessions() as session:
        assert (await session.execute(select(StaffPrompt))).first() is None
    denied = [r for r in caplog.records if "denied" in r.getMessage()]
    assert len(denied) >= 8 * 2 + 7
    # The roads department itself, and the operators, do see it.
    assert n in to_plain((await desk.command(ROADS, f"/show {n}"))[0])
    assert n in to_plain((await desk.command(OPERATOR, f"/show {n}"))[0])


async def test_operators_and_admins_see_every_department(
    desk: Desk, world: tuple[Request, Request]
) -> None:
    lamp, pothole = world
    for who in (OPERATOR, ADMIN):
        queue = to_plain("\n".join(await desk.command(who, "/queue")))
        assert lamp.number in queue and pothole.number in queue


# --- residents ------------------------------------------------------------------------------


async def test_a_resident_cannot_tell_that_staff_commands_exist(
    desk: Desk, world: tuple[Request, Request], sessions: async_sessionmaker[AsyncSession]
) -> None:
    lamp, _ = world
    await desk.command(RESIDENT, "/start")
    await desk.press(RESIDENT, "lang:en")
    before = await snapshot(sessions)
    unknown = await desk.command(RESIDENT, "/frobnicate")
    assert unknown and to_plain(unknown[0]) == to_plain(
        translator().t("en", "hint.unknown_command")
    )
    for line in (
        "/queue",
        f"/status {lamp.number} resolved",
        f"/show {lamp.number}",
        f"/resolve {lamp.number} Done it myself",
        "/export",
        "/stats week",
        f"/staff add {RESIDENT} admin",
        "/find вул. Світла",
        "/assign",
    ):
        assert await desk.command(RESIDENT, line) == unknown, line
    # A forged card button does nothing at all.
    assert await desk.press(RESIDENT, f"s:resolve:{lamp.id}") == []
    assert await desk.text(RESIDENT, "I'd like to close it") != []
    after = await snapshot(sessions)
    assert after["requests"] == before["requests"]
    async with sessions() as session:
        assert await session.get(StaffMember, RESIDENT) is None


# --- managing staff -------------------------------------------------------------------------


async def test_removed_staff_lose_access_at_once(
    desk: Desk, world: tuple[Request, Request], sessions: async_sessionmaker[AsyncSession]
) -> None:
    lamp, _ = world
    assert lamp.number in to_plain((await desk.command(LIGHTING, f"/show {lamp.number}"))[0])
    # A question half asked when they are removed is not completed by their next message.
    assert await desk.press(LIGHTING, f"s:needinfo:{lamp.id}", LIGHTING_CHAT) == [
        t("staff.prompt.needinfo", number=lamp.number)
    ]
    assert await desk.command(ADMIN, f"/staff remove {LIGHTING}") == [
        t("staff.removed", id=LIGHTING)
    ]
    before = await snapshot(sessions)
    assert await desk.text(LIGHTING, "Which pole exactly?", LIGHTING_CHAT) == []
    assert await desk.press(LIGHTING, f"s:accept:{lamp.id}", LIGHTING_CHAT) == []
    assert await desk.command(LIGHTING, f"/status {lamp.number} resolved", LIGHTING_CHAT) == []
    # In a private chat they are a resident like any other now.
    await desk.command(LIGHTING, "/start")
    await desk.press(LIGHTING, "lang:en")
    unknown = await desk.command(LIGHTING, "/frobnicate")
    assert await desk.command(LIGHTING, f"/show {lamp.number}") == unknown
    assert await desk.command(LIGHTING, "/queue") == unknown
    assert await snapshot(sessions) == before
    assert await desk.command(ADMIN, f"/staff remove {LIGHTING}") == [
        t("staff.not_staff", id=LIGHTING)
    ]


async def test_only_admins_manage_staff(
    desk: Desk, world: tuple[Request, Request], sessions: async_sessionmaker[AsyncSession]
) -> None:
    only = [t("staff.admins_only")]
    for who in (OPERATOR, LIGHTING):
        assert await desk.command(who, "/staff add 720001 admin") == only
        assert await desk.command(who, f"/staff add {who} admin") == only
        assert await desk.command(who, f"/staff remove {ROADS}") == only
        assert await desk.command(who, "/staff list") == only
    async with sessions() as session:
        rows = (await session.execute(select(StaffMember))).scalars()
        assert {(m.telegram_id, m.role, m.department) for m in rows} == {
            (LIGHTING, Role.DEPARTMENT, "lighting"),
            (ROADS, Role.DEPARTMENT, "roads"),
            (OPERATOR, Role.OPERATOR, None),
        }
    # The administrator can; the new operator sees everything at once.
    assert await desk.command(ADMIN, "/staff add 720001 operator") == [
        t("staff.added", id=720001, role="operator", department="—")
    ]
    assert "720001 · operator" in to_plain("\n".join(await desk.command(ADMIN, "/staff list")))
    assert await desk.command(ADMIN, "/staff add 720002 department nowhere") == [
        t("staff.unknown_department", department="nowhere")
    ]
    assert await desk.command(ADMIN, "/staff add 720002 department") == [
        t("staff.unknown_department", department="—")
    ]


# --- arguments and transitions --------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "usage"),
    [
        ("/show", "show"),
        ("/show {n} extra", "show"),
        ("/show 12345", "show"),
        ("/status", "status"),
        ("/status {n}", "status"),
        ("/status {n} flying", "status"),
        ("/status nonsense resolved", "status"),
        ("/assign", "assign"),
        ("/assign {n}", "assign"),
        ("/reply", "reply"),
        ("/reject 2026 because", "reject"),
        ("/find", "find"),
        ("/find ab", "find"),
        ("/stats forever", "stats"),
        ("/stats week month", "stats"),
        ("/export 2026-13-01", "export"),
        ("/export 2026-02-01 2026-01-01", "export"),
        ("/export 2026-01-01 2026-01-31 2026-02-28", "export"),
        ("/queue nonsense", "queue"),
        ("/staff", "staff"),
        ("/staff add", "staff"),
        ("/staff add abc operator", "staff"),
        ("/staff add 720001 wizard", "staff"),
        ("/staff remove", "staff"),
        ("/staff remove abc", "staff"),
        ("/staff fire 720001", "staff"),
    ],
)
async def test_a_wrong_or_missing_argument_gets_the_usage_line(
    line: str,
    usage: str,
    desk: Desk,
    world: tuple[Request, Request],
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    lamp, _ = world
    before = await snapshot(sessions)
    assert await desk.command(ADMIN, line.format(n=lamp.number)) == [t("staff.usage." + usage)]
    assert await snapshot(sessions) == before


async def test_an_illegal_status_change_is_refused_with_the_current_status(
    desk: Desk, world: tuple[Request, Request], sessions: async_sessionmaker[AsyncSession]
) -> None:
    lamp, _ = world
    n = lamp.number

    def done(status: Status) -> list[str]:
        return [t("staff.done_status", number=n, status=t(f"status.{status.value}"))]

    def refused(old: Status, new: Status) -> list[str]:
        return [t("staff.illegal", number=n, old=t(f"status.{old}"), new=t(f"status.{new}"))]

    assert await desk.command(LIGHTING, f"/status {n} closed") == refused(Status.NEW, Status.CLOSED)
    assert await desk.command(LIGHTING, f"/resolve {n} Lamp replaced") == done(Status.RESOLVED)
    assert await desk.command(LIGHTING, f"/status {n} closed") == done(Status.CLOSED)
    sent = await outbox_to(sessions, RESIDENT)
    before = await snapshot(sessions)
    assert await desk.command(LIGHTING, f"/status {n} in_progress") == refused(
        Status.CLOSED, Status.IN_PROGRESS
    )
    assert await desk.press(LIGHTING, f"s:progress:{lamp.id}", LIGHTING_CHAT) == refused(
        Status.CLOSED, Status.IN_PROGRESS
    )
    assert await desk.command(LIGHTING, f"/reject {n} Too late now") == refused(
        Status.CLOSED, Status.REJECTED
    )
    assert await desk.command(LIGHTING, f"/status {n} reopened") == refused(
        Status.CLOSED, Status.REOPENED
    )
    assert await snapshot(sessions) == before
    assert await outbox_to(sessions, RESIDENT) == sent


# --- over Telegram --------------------------------------------------------------------------


@pytest.fixture
async def srv() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer() as server:
        yield server


async def test_access_control_over_telegram(
    srv: FakeTelegramServer,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    cfg: Settings,
    world: tuple[Request, Request],
    caplog: pytest.LogCaptureFixture,
) -> None:
    lamp, pothole = world
    s = srv
    caplog.set_level(logging.WARNING, logger="handlers.desk.engine")

    def denied_to(user: int) -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.getMessage().startswith(f"denied: {user} ")]

    async with running_bot(srv, engine, sessions, cfg) as h:
        before = await snapshot(sessions)
        # A forged button in the lighting group on the roads request.
        texts = await h.step(
            LIGHTING_CHAT,
            s.callback_update(LIGHTING, f"s:resolve:{pothole.id}", chat_id=LIGHTING_CHAT),
        )
        assert [to_plain(x) for x in texts] == [
            to_plain(t("staff.not_found", number=str(pothole.id)))
        ]
        texts = await h.step(
            LIGHTING_CHAT,
            s.message_update(LIGHTING, f"/status {pothole.number} rejected", chat_id=LIGHTING_CHAT),
        )
        assert [to_plain(x) for x in texts] == [
            to_plain(t("staff.not_found", number=pothole.number))
        ]
        # A resident typing a staff command gets what any unknown command gets.
        unknown = await h.step(RESIDENT, s.message_update(RESIDENT, "/frobnicate"))
        for line in ("/queue", f"/status {lamp.number} closed", "/export"):
            assert await h.step(RESIDENT, s.message_update(RESIDENT, line)) == unknown
        # Removed by the administrator: the staff menu goes, and so does the access.
        await h.step(ADMIN, s.message_update(ADMIN, f"/staff remove {ROADS}"))
        await s.wait_for(
            lambda c: (
                c.method == "deleteMyCommands"
                and (c.params.get("scope") or {}).get("chat_id") == ROADS
            )
        )
        nothing_before = len(s.sent_messages(ROADS_CHAT))
        s.push_update(s.callback_update(ROADS, f"s:accept:{pothole.id}", chat_id=ROADS_CHAT))
        s.push_update(
            s.message_update(ROADS, f"/status {pothole.number} rejected", chat_id=ROADS_CHAT)
        )
        # The bot answers the button press (its spinner stops), says nothing in the group, and
        # logs both refusals.
        await s.wait_for("answerCallbackQuery", count=2)
        for _ in range(100):
            if len(denied_to(ROADS)) >= 2:
                break
            await asyncio.sleep(0.05)
        assert sorted(r.getMessage() for r in denied_to(ROADS)) == [
            f"denied: {ROADS} is not staff (s:accept:{pothole.id})",
            f"denied: {ROADS} is not staff (status)",
        ]
        await h.step(ADMIN, s.message_update(ADMIN, "/staff list"))
        assert len(s.sent_messages(ROADS_CHAT)) == nothing_before
        assert await snapshot(sessions) == before
    assert s.sent_messages(OTHER_RESIDENT) == []
