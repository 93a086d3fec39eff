"""The page's figures, aggregated by the database (models/storage/public_figures.py), equal the
same figures counted one request at a time in Python, on SQLite and PostgreSQL, over a few
hundred requests of every kind: resolved on time and late, open and overdue, open and not yet
due, cancelled, confirmed by the resident, rated; and the months are the city's months."""

from __future__ import annotations

import random
import statistics
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models.domain.status import OPEN_STATUSES, Status
from models.domain.tables import Actor, EventKind, Request, RequestEvent
from models.storage.public_figures import TOTAL, Figures, counts_by_month, department_figures

NOW = datetime(2026, 6, 20, 9, 0, tzinfo=UTC)
KYIV = ZoneInfo("Europe/Kyiv")
DEPARTMENTS = ("roads", "lighting", "water")


def _reference(rows: list[tuple[Request, bool]], start: datetime) -> dict[str, Figures]:
    groups: dict[str, list[tuple[Request, bool]]] = {}
    for req, confirmed in rows:
        if req.status is Status.CANCELLED or not start <= req.created_at < NOW:
            continue
        groups.setdefault(req.department, []).append((req, confirmed))
        groups.setdefault(TOTAL, []).append((req, confirmed))
    out = {}
    for dept, items in groups.items():
        fig = Figures(requests=len(items))
        hours = []
        ratings = [r.rating for r, _ in items if r.rating is not None]
        for req, confirmed in items:
            if req.resolved_at is not None:
                fig.resolved += 1
                fig.confirmed += confirmed
                hours.append((req.resolved_at - req.created_at).total_seconds() / 3600)
                if req.deadline_at is not None:
                    fig.due += 1
                    fig.on_time += req.resolved_at <= req.deadline_at
            elif req.status in OPEN_STATUSES and req.deadline_at and req.deadline_at < NOW:
                fig.due += 1
        fig.median_hours = statistics.median(hours) if hours else None
        fig.rating = statistics.fmean(ratings) if ratings else None
        out[dept] = fig
    return out


@pytest.mark.parametrize("seed", [1, 2])
async def test_database_figures_equal_the_figures_counted_one_by_one(
    sessions: async_sessionmaker[AsyncSession], seed: int
) -> None:
    rnd = random.Random(seed)
    rows: list[tuple[Request, bool]] = []
    async with sessions() as session, session.begin():
        for i in range(300):
            created = NOW - timedelta(minutes=rnd.randrange(1, 400 * 24 * 60))
            status = rnd.choice(list(Status))
            done = status in (Status.RESOLVED, Status.CLOSED)
            req = Request(
                number=f"2026-{i + 1:06d}",
                channel="telegram",
                language="uk",
                category="roads",
                department=rnd.choice(DEPARTMENTS),
                status=status,
                created_at=created,
                resolved_at=created + timedelta(minutes=rnd.randrange(5, 20 * 24 * 60))
                if done
                else None,
                deadline_at=None
                if rnd.random() < 0.1
                else created + timedelta(hours=rnd.randrange(1, 240)),
                rating=rnd.randrange(1, 6) if done and rnd.random() < 0.5 else None,
            )
            session.add(req)
            await session.flush()
            confirmed = status is Status.CLOSED and rnd.random() < 0.7
            if confirmed:
                session.add(
                    RequestEvent(
                        request_id=req.id,
                        kind=EventKind.STATUS,
                        actor=Actor.RESIDENT,
                        old_status=Status.RESOLVED,
                        new_status=Status.CLOSED,
                        at=req.resolved_at,
                    )
                )
            rows.append((req, confirmed))
    for start in (NOW - timedelta(days=30), datetime(2026, 1, 1, tzinfo=KYIV)):
        async with sessions() as session:
            got = await department_figures(session, start, NOW, now=NOW)
        want = _reference(rows, start)
        assert set(got) == set(want)
        for dept, fig in want.items():
            g = got[dept]
            assert (g.requests, g.resolved, g.on_time, g.due, g.confirmed) == (
                fig.requests,
                fig.resolved,
                fig.on_time,
                fig.due,
                fig.confirmed,
            ), dept
            assert g.median_hours == pytest.approx(fig.median_hours, abs=0.01), dept
            assert g.rating == pytest.approx(fig.rating), dept
    year = datetime(2026, 1, 1, tzinfo=KYIV)
    async with sessions() as session:
        months = await counts_by_month(session, year, NOW, KYIV)
    counted = [
        r for r, _ in rows if r.status is not Status.CANCELLED and year <= r.created_at < NOW
    ]
    want_months: dict[tuple[int, int], list[int]] = {}
    for r in counted:
        local = r.created_at.astimezone(KYIV)
        slot = want_months.setdefault((local.year, local.month), [0, 0])
        slot[0] += 1
        slot[1] += r.resolved_at is not None
    assert [(m.year, m.month, filed, done) for m, filed, done in months] == [
        (y, mo, f, d) for (y, mo), (f, d) in sorted(want_months.items())
    ]
