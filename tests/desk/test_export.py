"""/export: a CSV file that spreadsheet programs open with Cyrillic intact (UTF-8 with a BOM),
that any CSV reader parses back to exactly the requests of the period (text with commas,
quotes and line breaks intact), with dates in the city's time zone, and with department staff
getting their own department's requests only."""

from __future__ import annotations

import asyncio
import codecs
import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import Settings
from handlers.desk.engine import StaffDesk
from handlers.desk.export import EXPORT_COLUMNS
from handlers.i18n import to_plain, translator
from handlers.types import Incoming, Kind
from models.domain.lifecycle import change_status
from models.domain.staff import Role
from models.domain.status import Status
from models.domain.tables import Actor, Request
from tests.desk_data import add_request, add_staff
from tests.desk_settings import ADMIN, desk_settings
from tests.fakes.telegram_server import FakeTelegramServer
from tests.telegram_harness import running_bot

LIGHTING = 730_001
TRICKY_ADDRESS = 'вул. Соборності, 10, під\'їзд "2"'
TRICKY_TEXT = 'Ліхтар не світить, "дуже" темно;\nдруга лінія, а ще — кома'


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def cfg(settings: Settings) -> Settings:
    assert settings.city.timezone == "Europe/Kyiv"
    return desk_settings(settings, staff_language="en")


@pytest.fixture
async def dataset(sessions: async_sessionmaker[AsyncSession], cfg: Settings) -> dict[str, Request]:
    """Requests on both sides of the city's midnight, in summer and winter time."""
    made: dict[str, Request] = {}
    # 22:30 UTC on March 31 is already April 1 in Kyiv (UTC+3 since March 29, 2026).
    made["lamp"] = await add_request(
        sessions,
        cfg,
        resident="555401",
        category="lighting",
        subcategory="light_off",
        address=TRICKY_ADDRESS,
        description=TRICKY_TEXT,
        phone="+380671112233",
        lang="uk",
        now=utc(2026, 3, 31, 22, 30),
    )
    # 20:59 UTC on March 31 is 23:59 in Kyiv: still March.
    made["march"] = await add_request(
        sessions,
        cfg,
        resident="555402",
        category="lighting",
        subcategory="pole_damaged",
        address="вул. Березнева, 1",
        description="Опора похилилась після вітру",
        lang="ru",
        now=utc(2026, 3, 31, 20, 59),
    )
    made["pothole"] = await add_request(
        sessions,
        cfg,
        resident="555403",
        category="roads",
        subcategory="pothole",
        address='просп. Металургів, 7; двір "Дорожній"',
        description='Яма,  глибока\r\nі "небезпечна"',
        lang="en",
        now=utc(2026, 4, 15, 9, 0),
    )
    # Winter time: UTC+2.
    made["winter"] = await add_request(
        sessions,
        cfg,
        resident="555404",
        category="water",
        subcategory="no_water",
        address="вул. Зимова, 3",
        description="Немає води з ранку",
        now=utc(2026, 1, 15, 12, 0),
    )
    async with sessions() as session, session.begin():
        lamp = await session.get(Request, made["lamp"].id)
        assert lamp is not None
        for status, at in (
            (Status.RESOLVED, utc(2026, 4, 2, 10)),
            (Status.CLOSED, utc(2026, 4, 2, 12)),
        ):
            await change_status(
                session,
                lamp,
                status,
                actor=Actor.STAFF,
                actor_id="1",
                note=None,
                now=at,
                desk_chats=[],
                # The department's two photos of the fix: counted apart from the resident's.
                photos=["AgADproof1", "AgADproof2"] if status is Status.RESOLVED else (),
            )
        lamp.rating = 4
        lamp.latitude, lamp.longitude = 47.9105, 33.3918
        made["lamp"] = lamp
    await add_staff(sessions, LIGHTING, Role.DEPARTMENT, "lighting")
    return made


def expected_row(req: Request, created: str, **over: str) -> list[str]:
    row = {
        "number": req.number,
        "created": created,
        "status": req.status.value,
        "category": req.category,
        "subcategory": req.subcategory or "",
        "department": req.department,
        "address": req.address or "",
        "latitude": "",
        "longitude": "",
        "description": req.description or "",
        "phone": req.phone or "",
        "resolved": "",
        "closed": "",
        "rating": "",
        "channel": "telegram",
        "language": req.language,
        "photos": "0",
        "proof_photos": "0",
        "subscribers": "0",
        "duplicate_of": "",
        "answers": "",
        "voice_seconds": "",
        "voice_transcript": "",
    } | over
    return [row[c] for c in EXPORT_COLUMNS]


def read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith(codecs.BOM_UTF8), data[:10]
    return list(csv.reader(io.StringIO(data[len(codecs.BOM_UTF8) :].decode("utf-8"), newline="")))


async def export(desk: StaffDesk, user: int, args: str) -> tuple[str, bytes, str]:
    """(caption, file bytes, file name) of the document /export answers with."""
    ev = Incoming(
        channel="telegram",
        user_id=str(user),
        chat_id=str(user),
        kind=Kind.COMMAND,
        command="export",
        text=args,
    )
    replies = await desk.handle(ev)
    assert replies is not None and len(replies) == 2, replies  # the requests, then the quality
    doc, summary = replies[0].document, replies[1].document
    assert doc is not None, replies[0].text
    assert summary is not None and summary.filename.startswith("quality_")
    await asyncio.to_thread(take_file, summary.path)
    data = await asyncio.to_thread(take_file, doc.path)
    return replies[0].text, data, doc.filename


def take_file(path: str) -> bytes:
    """The export's bytes; the file is removed, as the channel removes it once sent."""
    p = Path(path)
    try:
        return p.read_bytes()
    finally:
        p.unlink()


def header() -> list[str]:
    return list(EXPORT_COLUMNS)


async def test_export_is_a_csv_of_exactly_the_period_in_the_citys_time(
    sessions: async_sessionmaker[AsyncSession], cfg: Settings, dataset: dict[str, Request]
) -> None:
    desk = StaffDesk(sessions, cfg, translator())
    lamp, pothole = dataset["lamp"], dataset["pothole"]
    caption, data, name = await export(desk, ADMIN, "2026-04-01 2026-04-30")
    assert name == "requests_2026-04-01_2026-04-30.csv"
    assert caption == translator().t(
        "en", "staff.export_done", count=2, start="2026-04-01", end="2026-04-30"
    )
    rows = read_csv(data)
    assert rows == [
        header(),
        expected_row(
            lamp,
            "01.04.2026 01:30",
            resolved="02.04.2026 13:00",
            closed="02.04.2026 15:00",
            rating="4",
            latitude="47.9105",
            longitude="33.3918",
            phone="+380671112233",
            proof_photos="2",
        ),
        expected_row(pothole, "15.04.2026 12:00"),
    ]
    assert rows[1][EXPORT_COLUMNS.index("description")] == TRICKY_TEXT
    assert rows[1][EXPORT_COLUMNS.index("address")] == TRICKY_ADDRESS
    assert rows[2][EXPORT_COLUMNS.index("description")] == 'Яма,  глибока\r\nі "небезпечна"'

    # One day on each side of Kyiv's midnight.
    _, data, _ = await export(desk, ADMIN, "2026-03-31 2026-03-31")
    assert [r[0] for r in read_csv(data)[1:]] == [dataset["march"].number]
    _, data, _ = await export(desk, ADMIN, "2026-04-01")
    assert [r[0] for r in read_csv(data)[1:]] == [lamp.number, pothole.number]
    # Winter time is UTC+2.
    _, data, _ = await export(desk, ADMIN, "2026-01-01 2026-01-31")
    assert read_csv(data)[1:] == [expected_row(dataset["winter"], "15.01.2026 14:00")]
    # A period with nothing in it is a file with the header only.
    _, data, _ = await export(desk, ADMIN, "2025-01-01 2025-12-31")
    assert read_csv(data) == [header()]


async def test_department_staff_export_their_own_department_only(
    sessions: async_sessionmaker[AsyncSession], cfg: Settings, dataset: dict[str, Request]
) -> None:
    desk = StaffDesk(sessions, cfg, translator())
    caption, data, _ = await export(desk, LIGHTING, "2026-01-01 2026-12-31")
    rows = read_csv(data)
    assert [r[0] for r in rows[1:]] == [dataset["march"].number, dataset["lamp"].number]
    assert {r[EXPORT_COLUMNS.index("department")] for r in rows[1:]} == {"lighting"}
    assert caption.endswith(": 2.")
    _, data, _ = await export(desk, ADMIN, "2026-01-01 2026-12-31")
    assert len(read_csv(data)) == 1 + 4


@pytest.fixture
async def srv() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer() as server:
        yield server


async def test_export_arrives_as_a_document_in_telegram(
    srv: FakeTelegramServer,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    cfg: Settings,
    dataset: dict[str, Request],
) -> None:
    async with running_bot(srv, engine, sessions, cfg) as h:
        await h.step(LIGHTING, srv.message_update(LIGHTING, "/export 2026-03-01 2026-04-30"), 2)
    [call, summary] = srv.calls_of("sendDocument")
    assert call.ok, str(call)
    assert summary.ok and summary.files["document"].filename.startswith("quality_")
    assert call.params["chat_id"] == LIGHTING
    upload = call.files["document"]
    assert upload.filename == "requests_2026-03-01_2026-04-30.csv"
    rows = read_csv(upload.data)
    lamp = dataset["lamp"]
    assert rows == [
        header(),
        expected_row(dataset["march"], "31.03.2026 23:59"),
        expected_row(
            lamp,
            "01.04.2026 01:30",
            resolved="02.04.2026 13:00",
            closed="02.04.2026 15:00",
            rating="4",
            latitude="47.9105",
            longitude="33.3918",
            phone="+380671112233",
            proof_photos="2",
        ),
    ]
    assert to_plain(str(call.params.get("caption"))) == translator().t(
        "en", "staff.export_done", count=2, start="2026-03-01", end="2026-04-30"
    )


async def test_stats_count_the_days_of_the_city(
    sessions: async_sessionmaker[AsyncSession], cfg: Settings, dataset: dict[str, Request]
) -> None:
    """Today starts at the city's midnight, as the export's days do."""
    tr = translator()
    desk = StaffDesk(sessions, cfg, tr, clock=lambda: utc(2026, 4, 1, 10))
    ev = Incoming(
        channel="telegram",
        user_id=str(LIGHTING),
        chat_id=str(LIGHTING),
        kind=Kind.COMMAND,
        command="stats",
        text="today",
    )
    replies = await desk.handle(ev)
    assert replies is not None
    assert replies[0].text.split("\n") == [
        tr.t("en", "staff.stats_head", period=tr.t("en", "staff.period.today")),
        tr.t("en", "staff.stats_dept", department="Street lighting", total=1),
        tr.t("en", "staff.stats_line", status=tr.t("en", "status.closed"), count=1),
    ]
