"""Read-only queries behind the staff commands: queue, search, statistics, export. Every one
takes the department scope explicitly (None = all), so no command can forget it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, column, func, literal_column, or_, select, table
from sqlalchemy import text as sql_text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from models.domain.requests import NUMBER_RE
from models.domain.status import OPEN_STATUSES, Status
from models.domain.tables import Photo, Request, RequestSubscriber

# Address text this long or longer is looked up in SQLite's FTS5 trigram table (a trigram is
# three characters).
TRIGRAM_MIN = 3
# No stored address is longer (the column's size): longer text cannot be in one.
ADDRESS_MAX = 500


S = TypeVar("S", bound=Select[Any])


def open_clause() -> ColumnElement[bool]:
    """``status IN`` the open statuses, as literals in the order of the partial indexes'
    condition (``models.domain.tables.OPEN_STATUS_SQL``): SQLite uses a partial index only for a
    query that repeats its condition; bound parameters in another order would not do."""
    return Request.status.in_([literal_column(f"'{s.value}'") for s in sorted(OPEN_STATUSES)])


def _scoped(stmt: S, department: str | None) -> S:
    return stmt if department is None else stmt.where(Request.department == department)


async def by_number(
    session: AsyncSession, number: str, department: str | None, *, for_update: bool = False
) -> Request | None:
    """``for_update`` locks the row for the transaction (PostgreSQL; SQLite's writers are
    serialised anyway), so two people acting on one request at once act one after the other."""
    stmt = _scoped(select(Request).where(Request.number == number), department)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def queue(
    session: AsyncSession,
    department: str | None,
    statuses: frozenset[Status] | None = None,
    limit: int = 20,
) -> tuple[list[Request], int]:
    """The oldest ``limit`` requests in ``statuses`` (default: the open ones) and how many there
    are in all. The open ones are read off the partial indexes of migration 0005, which SQLite
    uses only when the query repeats their condition: ``open_clause()``."""
    statuses = statuses or OPEN_STATUSES
    condition = open_clause() if statuses == OPEN_STATUSES else Request.status.in_(statuses)
    stmt = _scoped(select(Request).where(condition), department)
    total = (
        await session.execute(_scoped(select(func.count(Request.id)).where(condition), department))
    ).scalar_one()
    if not total:
        return [], 0
    rows = (
        await session.execute(stmt.order_by(Request.created_at, Request.id).limit(limit))
    ).scalars()
    return list(rows), int(total)


async def search(
    session: AsyncSession, text: str, department: str | None, *, phone: str | None, limit: int = 20
) -> list[Request]:
    """By number or by phone when the text is one (both indexed); otherwise by address text:
    a substring in any letter case (Cyrillic too). Newest first.

    The address text on SQLite, 3 characters or more: the FTS5 trigram table of migration 0005
    (``requests_fts``, rowid = request id) finds the text as one phrase, i.e. as a substring;
    its tokenizer folds the case of every alphabet (SQLite's LIKE folds ASCII only). It is read
    in descending rowid with the limit, so it stops at the ``limit`` newest matches instead of
    collecting and sorting all of them (a street name matches thousands): the newest are the
    last filed (highest id), then shown by filing time as elsewhere. Shorter text (``/find``
    asks for 3 characters, so only other callers): a scan with LIKE on the text as typed,
    lower-cased, upper-cased and capitalised, which covers how addresses are written but not
    mixed case inside a word. PostgreSQL: ILIKE, which folds Unicode case and uses the pg_trgm
    GIN index of migration 0005 (or reads the table where the extension could not be made).
    """
    stripped = text.strip()
    if len(text) > ADDRESS_MAX or not text.isprintable():
        # Text no address can hold (too long; NUL or other control characters, which SQLite's
        # FTS5 and PostgreSQL refuse outright) finds nothing, and asks the database nothing.
        return []
    if NUMBER_RE.match(stripped):
        condition: ColumnElement[bool] = Request.number == stripped
    elif phone:
        condition = Request.phone == phone
    elif session.get_bind().dialect.name != "sqlite":
        ids = await _pg_rare_trigrams(session, text, department, limit)
        if ids is not None:
            condition = Request.id.in_(ids)
        else:
            condition = Request.address.ilike(_like_pattern(text), escape="\\")
    elif len(text) >= TRIGRAM_MIN:
        ids = await _fts_rare_trigrams(session, text, department, limit)
        if ids is not None:
            condition = Request.id.in_(ids)
        else:
            fts = table("requests_fts", column("rowid"))
            phrase = '"' + text.replace('"', '""') + '"'
            newest = _scoped(
                select(Request.id)
                .join_from(fts, Request, Request.id == fts.c.rowid)
                .where(literal_column("requests_fts").op("MATCH")(phrase))
                .order_by(fts.c.rowid.desc())
                .limit(limit),
                department,
            )
            condition = Request.id.in_(newest.scalar_subquery())
    else:
        forms = dict.fromkeys((text, text.lower(), text.upper(), text.capitalize()))
        condition = or_(*(Request.address.like(_like_pattern(f), escape="\\") for f in forms))
    stmt = _scoped(select(Request).where(condition), department)
    rows = await session.execute(stmt.order_by(Request.created_at.desc()).limit(limit))
    return list(rows.scalars())


# /find by a whole address (street type, street name, house, flat) as one FTS5 phrase made
# SQLite read the posting lists of every trigram in it, those of the street type's
# abbreviation and of ", " among them (in most of a million addresses): 75 ms. A few
# rare-looking trigrams find the candidates in ~2 ms, and each candidate's address is then
# checked for the whole text.
FTS_PICK = 6  # trigrams looked up
FTS_BATCH = 200  # candidates read per round, newest first
FTS_MAX_CANDIDATES = 2000  # past this, the phrase query (always right, slower) takes over


def rare_trigrams(needle: str, pick: int = FTS_PICK) -> list[str]:
    """Trigrams of ``needle`` (lower case) likely to be rare in addresses: half from numbers
    (house and flat numbers), half from inside the longest words; separators and short words
    (the abbreviations for street and flat) are in nearly every address and come last.
    Overlapping trigrams say little more than one of them, so they are taken apart when
    possible."""
    numbers: list[tuple[int, int, str]] = []
    words: list[tuple[int, int, str]] = []
    rest: list[tuple[int, int, str]] = []
    word_length = _word_lengths(needle)
    for i in range(len(needle) - 2):
        gram = needle[i : i + 3]
        inside = all(ch.isalnum() for ch in gram)
        digits = sum(ch.isdigit() for ch in gram)
        if digits:
            numbers.append((0 if inside else 3 - digits, i, gram))
        elif inside and word_length[i] >= 5:
            words.append((-word_length[i], i, gram))
        else:
            rest.append((0 if inside else 1, i, gram))
    chosen: list[tuple[int, str]] = []

    def take(candidates: list[tuple[int, int, str]], upto: int) -> None:
        for overlap_ok in (False, True):
            for _, i, gram in sorted(candidates):
                if len(chosen) >= upto:
                    return
                if any(g == gram for _, g in chosen):
                    continue
                if not overlap_ok and any(abs(i - j) < 3 for j, _ in chosen):
                    continue
                chosen.append((i, gram))

    take(numbers, pick // 2)
    take(words, pick)
    take(numbers, pick)
    take(words, pick)
    take(rest, pick)
    return [g for _, g in chosen]


def _word_lengths(text: str) -> list[int]:
    """For each position, the length of the run of letters and digits it is in (0 outside
    one); one pass, so a long word costs linear time (measuring each position's word anew was
    quadratic: 4,000 characters took seconds of the event loop)."""
    lengths = [0] * len(text)
    start = 0
    for i in range(len(text) + 1):
        if i == len(text) or not text[i].isalnum():
            for j in range(start, i):
                lengths[j] = i - start
            start = i + 1
    return lengths


async def _fts_rare_trigrams(
    session: AsyncSession, text: str, department: str | None, limit: int
) -> list[int] | None:
    """The ids of the ``limit`` newest requests whose address contains ``text`` in any letter
    case, or None when too many candidates had to be looked at (the caller asks the phrase)."""
    needle = text.lower()
    grams = rare_trigrams(needle)
    if not grams:
        return None
    query = " AND ".join('"' + g.replace('"', '""') + '"' for g in grams)
    scope = (
        " AND EXISTS (SELECT 1 FROM requests AS r WHERE r.id = requests_fts.rowid"
        " AND r.department = :department)"
        if department is not None
        else ""
    )
    stmt = sql_text(
        "SELECT rowid, address FROM requests_fts WHERE requests_fts MATCH :query"
        f" AND rowid < :before{scope} ORDER BY rowid DESC LIMIT :batch"
    )
    found: list[int] = []
    before, seen = 2**62, 0
    while seen < FTS_MAX_CANDIDATES:
        params: dict[str, Any] = {"query": query, "before": before, "batch": FTS_BATCH}
        if department is not None:
            params["department"] = department
        rows = (await session.execute(stmt, params)).all()
        for rowid, address in rows:
            if needle in (address or "").lower():
                found.append(rowid)
                if len(found) == limit:
                    return found
        if len(rows) < FTS_BATCH:
            return found
        seen += len(rows)
        before = rows[-1][0]
    return None


async def _pg_rare_trigrams(
    session: AsyncSession, text: str, department: str | None, limit: int
) -> list[int] | None:
    """PostgreSQL, for text with a number of three digits or more (a house or flat number):
    the pg_trgm index finds the rows holding that number and the text's rarest word trigrams
    (pg_trgm sees letters and digits only), each then checked for the whole text. Given the
    whole text, the planner chose to scan newest-first: ~60 ms for an address that exists a
    few times in a million. None for other text, or too many candidates: the caller then asks
    ILIKE on the whole text (a street name is found fastest that way)."""
    needle = text.lower()
    grams = [g for g in rare_trigrams(needle) if g.isalnum()]
    if not any(g.isdigit() for g in grams):
        return None
    stmt = select(Request.id, Request.address).where(
        *(Request.address.ilike(_like_pattern(g), escape="\\") for g in grams)
    )
    if department is not None:
        stmt = stmt.where(Request.department == department)
    rows = (await session.execute(stmt.order_by(Request.id.desc()).limit(FTS_MAX_CANDIDATES))).all()
    if len(rows) == FTS_MAX_CANDIDATES:
        return None
    return [rowid for rowid, address in rows if needle in (address or "").lower()][:limit]


def _like_pattern(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def stats(
    session: AsyncSession, since: datetime, department: str | None
) -> list[tuple[str, Status, int]]:
    """(department, status, count) of the requests filed since ``since``; a report merged into
    another (a duplicate) is not counted again: one incident, one request."""
    stmt = (
        select(Request.department, Request.status, func.count())
        .where(Request.created_at >= since, Request.duplicate_of_id.is_(None))
        .group_by(Request.department, Request.status)
        .order_by(Request.department, Request.status)
    )
    if department is not None:
        stmt = stmt.where(Request.department == department)
    return [(d, s, int(n)) for d, s, n in (await session.execute(stmt)).all()]


async def followers(
    session: AsyncSession, since: datetime, department: str | None
) -> dict[str, tuple[int, int]]:
    """By department, since ``since``: residents who joined a request ("this is my problem
    too", or merged in) and the reports merged into another as duplicates."""
    joined = (
        select(Request.department, func.count())
        .join(RequestSubscriber, RequestSubscriber.request_id == Request.id)
        .where(RequestSubscriber.at >= since)
        .group_by(Request.department)
    )
    merged = (
        select(Request.department, func.count())
        .where(Request.created_at >= since, Request.duplicate_of_id.is_not(None))
        .group_by(Request.department)
    )
    if department is not None:
        joined = joined.where(Request.department == department)
        merged = merged.where(Request.department == department)
    out: dict[str, tuple[int, int]] = {}
    for dept, n in await session.execute(joined):
        out[dept] = (int(n), 0)
    for dept, n in await session.execute(merged):
        out[dept] = (out.get(dept, (0, 0))[0], int(n))
    return out


async def export_rows(
    sessions: Callable[[], AbstractAsyncContextManager[AsyncSession]],
    since: datetime,
    until: datetime,
    department: str | None,
    *,
    page: int | None = None,
) -> AsyncIterator[Any]:
    """The exported columns (EXPORT_FIELDS, as rows) of the period's requests, in creation
    order. Read in pages of
    ``page`` rows, each in its own short transaction (keyset on created_at, id): memory stays
    flat, no transaction is held while the file is written, and SQLite's WAL can checkpoint
    between pages. ``sessions`` opens one (the read-only sessionmaker, normally)."""
    page = page or EXPORT_PAGE
    after: tuple[datetime, int] | None = None
    while True:
        stmt = select(*EXPORT_FIELDS).where(Request.created_at >= since, Request.created_at < until)
        if department is not None:
            stmt = stmt.where(Request.department == department)
        if after is not None:
            # The first condition alone lets the created_at index bound the scan.
            stmt = stmt.where(
                Request.created_at >= after[0],
                or_(Request.created_at > after[0], Request.id > after[1]),
            )
        stmt = stmt.order_by(Request.created_at, Request.id).limit(page)
        async with sessions() as session:
            rows = (await session.execute(stmt)).all()
        for row in rows:
            yield row
        if len(rows) < page:
            return
        after = (rows[-1].created_at, rows[-1].id)


EXPORT_PAGE = 2000
_MAIN = aliased(Request, name="main")  # the request a duplicate was merged into


def _photo_count(proof: bool) -> Any:
    return (
        select(func.count(Photo.id))
        .where(Photo.request_id == Request.id, Photo.proof.is_(proof))
        .scalar_subquery()
    )


# What /export writes (and the id, for paging): plain columns, not ORM objects.
EXPORT_FIELDS = (
    Request.id,
    Request.number,
    Request.created_at,
    Request.status,
    Request.category,
    Request.subcategory,
    Request.department,
    Request.address,
    Request.latitude,
    Request.longitude,
    Request.description,
    Request.answers,
    Request.phone,
    Request.resolved_at,
    Request.closed_at,
    Request.rating,
    Request.channel,
    Request.language,
    Request.voice_seconds,
    Request.voice_transcript,
    (Request.voice.is_not(None)).label("has_voice"),
    _photo_count(False).label("photos"),
    _photo_count(True).label("proof_photos"),
    select(func.count())
    .where(RequestSubscriber.request_id == Request.id)
    .scalar_subquery()
    .label("subscribers"),
    select(_MAIN.number)
    .where(_MAIN.id == Request.duplicate_of_id)
    .scalar_subquery()
    .label("duplicate_of"),
)
