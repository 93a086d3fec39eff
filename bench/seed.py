"""``python -m bench seed --requests 1000000``: a city's years of requests, for benchmark 4.

A fresh database migrated with ``models.storage.migrate.upgrade``, then bulk inserts (executemany of
lists of ~10k rows): residents (a third as many as requests, some filing many), requests spread
over three years (more by day and on working days), their numbers sequential per year, the
categories and departments of bot.toml, statuses by age (recent ones open, old ones closed),
Ukrainian addresses and descriptions, phones, ratings, history events and some photos.
Deterministic for a given ``--seed``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncConnection

from bench.common import ROOT

YEARS = 3
CHUNK = 10_000

STREETS = (
    "вул. Соборності",
    "просп. Металургів",
    "вул. Лермонтова",
    "вул. Володимира Великого",
    "просп. Поштовий",
    "вул. Героїв АТО",
    "вул. Мелешкіна",
    "мкр. Сонячний",
    "вул. Корабельна",
    "вул. Кобилянського",
    "вул. Сергія Колачевського",
    "просп. Гагаріна",
    "вул. Співдружності",
    "вул. Зарічна",
    "мкр. 5-й Зарічний",
    "вул. Тбіліська",
    "вул. Січеславська",
    "просп. Миру",
    "вул. Лісового",
    "вул. Вечірньокутська",
)
DESCRIPTIONS = (
    "Не працює ліфт у під'їзді вже кілька днів",
    "Протікає дах над останнім поверхом після дощу",
    "Немає гарячої води з самого ранку",
    "Яма на дорозі біля зупинки, машини об'їжджають по тротуару",
    "Не світить ліхтар біля дитячого майданчика",
    "Батареї ледь теплі, у квартирі +14",
    "Переповнені сміттєві баки, не вивозили тиждень",
    "Прорвало трубу у підвалі, вода стоїть",
    "Відкритий каналізаційний люк на тротуарі",
    "Аварійне дерево нахилилося над дорогою",
    "Трамвай №4 ходить з інтервалом понад годину",
    "Не працює світлофор на перехресті",
    "Укриття в школі зачинене під час тривоги",
)
FIRST_NAMES = ("Олена", "Іван", "Марія", "Андрій", "Наталія", "Сергій", "Оксана", "Дмитро")
LAST_NAMES = ("Коваленко", "Шевченко", "Бондар", "Ткаченко", "Мельник", "Кравець", "Олійник")

# Status by age of the request (days): weights for each status.
_RECENT = {"new": 35, "assigned": 25, "in_progress": 25, "needs_info": 10, "resolved": 5}
_MONTH = {
    "new": 3,
    "assigned": 7,
    "in_progress": 15,
    "needs_info": 5,
    "resolved": 25,
    "closed": 30,
    "rejected": 8,
    "cancelled": 4,
    "reopened": 3,
}
_OLD = {
    "closed": 72,
    "resolved": 8,
    "rejected": 10,
    "cancelled": 5,
    "in_progress": 2,
    "assigned": 1,
    "reopened": 1,
    "needs_info": 1,
}
# The status changes that led to each final status (after "created").
_PATHS = {
    "new": (),
    "assigned": ("assigned",),
    "in_progress": ("assigned", "in_progress"),
    "needs_info": ("assigned", "in_progress", "needs_info"),
    "resolved": ("assigned", "in_progress", "resolved"),
    "closed": ("assigned", "in_progress", "resolved", "closed"),
    "rejected": ("rejected",),
    "cancelled": ("cancelled",),
    "reopened": ("assigned", "in_progress", "resolved", "reopened"),
}
OPEN = frozenset({"new", "assigned", "in_progress", "needs_info", "reopened"})


def _picker(weights: dict[str, int], rng: random.Random) -> Callable[[], str]:
    keys, cum = list(weights), []
    total = 0
    for k in keys:
        total += weights[k]
        cum.append(total)

    def pick() -> str:
        return rng.choices(keys, cum_weights=cum)[0]

    return pick


@dataclass
class SeedInfo:
    requests: int
    residents: int
    events: int = 0
    photos: int = 0
    seconds: float = 0.0
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "residents": self.residents,
            "events": self.events,
            "photos": self.photos,
            "seconds": round(self.seconds, 1),
            "rows_per_s": round(
                (self.requests + self.residents + self.events + self.photos)
                / max(self.seconds, 1e-9)
            ),
            "now": self.now.isoformat(),
        }


def _timestamps(n: int, now: datetime, rng: random.Random) -> Iterator[datetime]:
    """``n`` creation times over the last YEARS years, ascending: busier by day (07–21 in
    Kyiv) and on working days, as a contact center sees them."""
    span = YEARS * 365 * 86400
    start = now - timedelta(seconds=span)
    offsets: list[float] = []
    while len(offsets) < n:
        s = rng.random() * span
        when = start + timedelta(seconds=s)
        busy = 7 <= (when.hour + 2) % 24 <= 21 and when.weekday() < 5
        if busy or rng.random() < 0.35:
            offsets.append(s)
    offsets.sort()
    for s in offsets:
        yield start + timedelta(seconds=s)


async def seed(conn: AsyncConnection, requests: int, *, seed_value: int = 6) -> SeedInfo:
    """Fill an empty, migrated database, committing every chunk."""
    from bot.config import load_settings
    from models.domain.tables import Counter, Photo, Request, RequestEvent, Resident

    settings = load_settings(ROOT / "bot.toml")
    rng = random.Random(seed_value)
    began = time.monotonic()
    now = datetime.now(UTC).replace(microsecond=0)
    n_res = max(1, requests // 3)
    info = SeedInfo(requests=requests, residents=n_res, now=now)
    pg = conn.dialect.name == "postgresql"

    # Residents.
    langs = _picker({"uk": 70, "ru": 25, "en": 5}, rng)
    res_lang: list[str] = [""] * (n_res + 1)
    res_channel: list[str] = [""] * (n_res + 1)
    res_phone: list[str | None] = [None] * (n_res + 1)
    for start in range(1, n_res + 1, CHUNK):
        rows = []
        for rid in range(start, min(n_res, start + CHUNK - 1) + 1):
            channel = "telegram" if rng.random() < 0.85 else "viber"
            lang = langs()
            phone = f"+38067{rng.randrange(10**7):07d}" if rng.random() < 0.6 else None
            res_lang[rid], res_channel[rid], res_phone[rid] = lang, channel, phone
            rows.append(
                {
                    "id": rid,
                    "channel": channel,
                    "external_id": str(100_000_000 + rid),
                    "language": lang,
                    "name": f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
                    "phone": phone,
                    "created_at": now - timedelta(days=YEARS * 365 * rng.random()),
                }
            )
        await conn.execute(insert(Resident), rows)
        await conn.commit()

    # Requests, their events and photos, in chunks.
    cats = [(c, [s.code for s in c.subcategories]) for c in settings.categories]
    recent, month, old = _picker(_RECENT, rng), _picker(_MONTH, rng), _picker(_OLD, rng)
    seq_by_year: dict[int, int] = {}
    event_id = photo_id = 0
    req_rows: list[dict[str, Any]] = []
    ev_rows: list[dict[str, Any]] = []
    ph_rows: list[dict[str, Any]] = []

    async def flush() -> None:
        if req_rows:
            await conn.execute(insert(Request), req_rows)
        if ev_rows:
            await conn.execute(insert(RequestEvent), ev_rows)
        if ph_rows:
            await conn.execute(insert(Photo), ph_rows)
        req_rows.clear()
        ev_rows.clear()
        ph_rows.clear()
        await conn.commit()

    for rid, created in enumerate(_timestamps(requests, now, rng), start=1):
        year = created.year
        seq = seq_by_year[year] = seq_by_year.get(year, 0) + 1
        number = f"{year:04d}-{seq:06d}"
        resident = int(n_res * rng.random() ** 1.6) + 1  # a few residents file many requests
        cat, subs = rng.choice(cats)
        sub = rng.choice(subs) if subs else None
        department = settings.route(cat.code, sub)
        age = (now - created).days
        status = recent() if age < 3 else month() if age < 45 else old()
        pinned = rng.random() < 0.15
        lat: float | None = None
        lon: float | None = None
        if pinned:
            lat, lon = 47.75 + rng.random() * 0.4, 33.25 + rng.random() * 0.3
            address = f"📍 location {lat:.5f}, {lon:.5f}"
        else:
            address = f"{rng.choice(STREETS)}, {rng.randrange(1, 140)}"
            if rng.random() < 0.5:
                address += f", кв. {rng.randrange(1, 300)}"
        phone = res_phone[resident] if rng.random() < 0.8 else None
        deadline = created + timedelta(days=7)
        t = created
        path = _PATHS[status]
        resolved_at = closed_at = None
        ev_rows.append(
            {
                "id": (event_id := event_id + 1),
                "request_id": rid,
                "at": created,
                "kind": "created",
                "actor": "resident",
                "actor_id": str(resident),
                "old_status": None,
                "new_status": "new",
                "text": None,
            }
        )
        previous = "new"
        for step in path:
            t = min(now, t + timedelta(hours=rng.uniform(0.5, 72)))
            if step == "resolved":
                resolved_at = t
            if step == "closed":
                closed_at = t
            if step == "reopened":
                resolved_at = None
            ev_rows.append(
                {
                    "id": (event_id := event_id + 1),
                    "request_id": rid,
                    "at": t,
                    "kind": "status",
                    "actor": "resident" if step == "cancelled" else "staff",
                    "actor_id": None if step == "cancelled" else str(9000 + rng.randrange(40)),
                    "old_status": previous,
                    "new_status": step,
                    "text": "Передано бригаді" if step == "in_progress" else None,
                }
            )
            previous = step
        if rng.random() < 0.15:
            ph_rows.append(
                {
                    "id": (photo_id := photo_id + 1),
                    "request_id": rid,
                    "channel": res_channel[resident],
                    "file_ref": f"AgACAgIAAxkBAAI{rid:09d}",
                    "added_at": created,
                }
            )
        is_open = status in OPEN
        req_rows.append(
            {
                "id": rid,
                "number": number,
                "resident_id": resident,
                "channel": res_channel[resident],
                "language": res_lang[resident],
                "category": cat.code,
                "subcategory": sub,
                "department": department,
                "address": address,
                "latitude": lat,
                "longitude": lon,
                "description": f"{rng.choice(DESCRIPTIONS)}. {rng.choice(DESCRIPTIONS)}.",
                "phone": phone,
                "status": status,
                "created_at": created,
                "updated_at": t,
                "resolved_at": resolved_at,
                "closed_at": closed_at,
                "rating": rng.randrange(1, 6) if closed_at and rng.random() < 0.5 else None,
                "priority": "high" if rng.random() < 0.1 else "normal",
                "deadline_at": deadline,
                "remind_at": created + timedelta(days=5, hours=6) if is_open else None,
                "reminded_at": None,
                "escalated_at": deadline if is_open and deadline < now else None,
                "escalations": 1 if is_open and deadline < now else 0,
                "paused_remaining_s": None,
                "paused_remind_s": None,
                "waiting_since": t if status in ("needs_info", "resolved") else None,
                "followup_at": None,
            }
        )
        if len(req_rows) >= CHUNK:
            await flush()
    await flush()
    info.events, info.photos = event_id, photo_id
    await conn.execute(
        insert(Counter), [{"name": f"requests:{y}", "value": v} for y, v in seq_by_year.items()]
    )
    if pg:
        for table in ("residents", "requests", "request_events", "photos"):
            await conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"COALESCE((SELECT max(id) FROM {table}), 1))"
                )
            )
    await conn.commit()
    info.seconds = time.monotonic() - began
    return info


async def seed_database(url: str, requests: int, *, seed_value: int = 6) -> SeedInfo:
    """Migrate ``url`` (an empty database) and fill it; then migrate again, as the bot does when
    it starts, which analyses a database without statistics (models/migrate.py). PostgreSQL
    is also vacuumed, as autovacuum would do."""
    from models.storage.engine import create_engine
    from models.storage.migrate import upgrade

    engine = create_engine(url)
    try:
        await upgrade(engine)
        async with engine.connect() as conn:
            info = await seed(conn, requests, seed_value=seed_value)
        await upgrade(engine)
        if engine.dialect.name == "postgresql":
            # As autovacuum leaves a table some time after a bulk load: statistics, and the
            # visibility map that lets counts read an index alone (the queues' totals). Done
            # here because a test server may run with autovacuum off.
            async with engine.connect() as conn:
                auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await auto.exec_driver_sql("VACUUM ANALYZE")
        return info
    finally:
        await engine.dispose()
