"""The staff desk: commands and card buttons for administrators, operators and departments.

Everything is scoped by the staff member's role: department staff see and act on their own
department's requests only, and a request outside their scope is simply "not found". A person
who is not staff gets ``None`` back, and the caller answers them as any resident, so nothing
reveals that staff commands exist.
"""

from __future__ import annotations

import asyncio
import csv
import logging
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handlers.formatting import category_name, department_name, local_time
from handlers.i18n import Translator
from handlers.outbound.cards import load_card_request, render_card
from handlers.types import Button, Document, Incoming, Kind, Reply
from handlers.validation import Invalid, normalize_phone, validate_comment
from models.domain.base import as_utc, utcnow
from models.domain.city import CityConfig
from models.domain.deadlines.policy import policy_for
from models.domain.lifecycle import IllegalTransition, change_status, reassign, staff_reply
from models.domain.prompts import drop_prompt, open_prompt, take_prompt
from models.domain.requests import parse_number
from models.domain.staff import (
    Role,
    StaffMember,
    find_staff,
    list_staff,
    put_staff,
    remove_staff,
    staff_ids,
)
from models.domain.status import RULE, STATUS_WORDS, Status
from models.domain.tables import Actor, Request
from models.storage.desk_queries import by_number, export_rows, queue, search, stats
from models.storage.digest_queries import median, resolve_durations, within_deadline

log = logging.getLogger(__name__)

TEXT_ACTIONS = {
    "needinfo": Status.NEEDS_INFO,
    "resolve": Status.RESOLVED,
    "reject": Status.REJECTED,
}
BUTTON_STATUS = {"accept": Status.ASSIGNED, "progress": Status.IN_PROGRESS}
PERIODS = {"today": 1, "week": 7, "month": 30}
# Commands residents have too: from someone who is not staff they are simply the resident's.
SHARED_COMMANDS = frozenset({"help"})
# How long the in-memory list of staff ids is trusted before it is read again, so that staff
# added or removed by another process are seen (see StaffIds).
STAFF_IDS_TTL = 30.0


@dataclass
class Turn:
    """One staff event being handled: who, where, in which transaction, and the answers."""

    session: AsyncSession
    staff: StaffMember
    ev: Incoming
    now: datetime
    # A read-only turn runs on the read sessions (no row locks, no writes, no outbox kick).
    read_only: bool = False
    replies: list[Reply] = field(default_factory=list)
    # Telegram ids whose staff rights changed, announced once the transaction is committed.
    staff_changed: dict[int, bool] = field(default_factory=dict)

    @property
    def scope(self) -> str | None:
        return None if self.staff.sees_all else self.staff.department

    @property
    def chat(self) -> str:
        return self.ev.chat_id or self.ev.user_id

    @property
    def actor_id(self) -> str:
        return str(self.staff.telegram_id)

    async def end_read(self) -> None:
        """End a read-only turn's transaction (its connection goes back to the pool), for a
        command that goes on reading in short transactions of its own (/export)."""
        assert self.read_only
        await self.session.commit()


Command = Callable[["StaffDesk", Turn, list[str]], Awaitable[None]]
# Whether a command only reads: True/False, or decided by its arguments (/staff list).
ReadOnly = bool | Callable[[list[str]], bool]
COMMANDS: dict[str, Command] = {}
READ_ONLY: dict[str, ReadOnly] = {}


def command(name: str, *, read_only: ReadOnly = False) -> Callable[[Command], Command]:
    """Register a staff command. ``read_only`` ones run on the read sessions: they must not
    write (on SQLite the connection is query_only, on PostgreSQL the transaction READ ONLY)."""

    def register(fn: Command) -> Command:
        COMMANDS[name] = fn
        READ_ONLY[name] = read_only
        return fn

    return register


def is_read_only(name: str, args: list[str]) -> bool:
    flag = READ_ONLY.get(name, False)
    return flag(args) if callable(flag) else flag


class StaffIds:
    """The Telegram ids of staff, in memory, so that a resident's message (the desk sees every
    one first) costs no database work. Only a pre-filter: a desk command or button, and any
    event from an id in here, is still checked against the database. Changes made by this
    process are applied at once (``mark``); the whole list is read again after ``ttl``
    seconds, so another process's changes show within that."""

    def __init__(self, ttl: float = STAFF_IDS_TTL) -> None:
        self.ttl = ttl
        self.ids: set[int] = set()
        self.loaded_at: float | None = None
        self._lock = asyncio.Lock()
        self._marked: dict[int, bool] | None = None  # marks made while a load runs

    def stale(self) -> bool:
        return self.loaded_at is None or time.monotonic() - self.loaded_at >= self.ttl

    def mark(self, telegram_id: int, is_staff: bool) -> None:
        if self._marked is not None:
            self._marked[telegram_id] = is_staff
        if is_staff:
            self.ids.add(telegram_id)
        else:
            self.ids.discard(telegram_id)

    async def refresh(self, load: Callable[[], Awaitable[set[int]]]) -> None:
        async with self._lock:
            if not self.stale():
                return  # another event refreshed it while this one waited
            self._marked = {}
            try:
                ids = await load()
            finally:
                marked, self._marked = self._marked, None
            # What was learnt while the list was being read is at least as new as the list.
            for telegram_id, is_staff in marked.items():
                if is_staff:
                    ids.add(telegram_id)
                else:
                    ids.discard(telegram_id)
            self.ids, self.loaded_at = ids, time.monotonic()


class StaffDesk:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: CityConfig,
        tr: Translator,
        *,
        clock: Callable[[], datetime] = utcnow,
        on_commit: Callable[[], None] = lambda: None,
        on_staff_change: Callable[[int, bool], Awaitable[None]] | None = None,
        read_sessions: async_sessionmaker[AsyncSession] | None = None,
        staff_ttl: float = STAFF_IDS_TTL,
    ) -> None:
        self.sessions = sessions
        # Read-only commands run here (storage.engine.read_session_factory): on SQLite a separate
        # pool on the same file, so a long /export or /stats never holds the connection every
        # resident's update is written through. Without it, the writer's sessions.
        self.read_sessions = read_sessions or sessions
        self.staff_ids = StaffIds(staff_ttl)
        self.settings = settings
        self.tr = tr
        self.clock = clock
        self.on_commit = on_commit
        self.on_staff_change = on_staff_change
        self.lang = settings.staff.language

    def t(self, key: str, /, **kw: object) -> str:
        return self.tr.t(self.lang, key, **kw)

    async def handle(self, ev: Incoming) -> list[Reply] | None:
        """Answers for a staff event, or None when it is not one (or not from staff)."""
        wants_desk = (ev.kind is Kind.COMMAND and ev.command in COMMANDS) or (
            ev.kind is Kind.BUTTON and ev.payload.startswith("s:")
        )
        if not wants_desk and ev.kind not in (Kind.TEXT, Kind.PHOTO, Kind.COMMAND):
            return None
        if not ev.user_id.lstrip("-").isdigit():
            return None
        user = int(ev.user_id)
        # Text, a photo or another command matters here only as the answer to a staff
        # member's prompt (or /cancel of it): from anyone else it is a resident's, and is
        # passed on without asking the database.
        if not wants_desk and not await self.may_be_staff(user):
            return None
        if ev.kind is Kind.COMMAND and wants_desk and is_read_only(ev.command, ev.text.split()):
            return await self._handle_read(ev, user)
        async with self.sessions() as session, session.begin():
            staff = await self._member(session, ev, user, wants_desk)
            if staff is None:
                return [] if ev.kind is Kind.BUTTON and wants_desk else None
            turn = Turn(session, staff, ev, self.clock())
            handled = await self._dispatch(turn)
        if not handled:
            return None
        self.on_commit()
        for telegram_id, is_staff in turn.staff_changed.items():
            self.staff_ids.mark(telegram_id, is_staff)
            if self.on_staff_change is not None:
                await self.on_staff_change(telegram_id, is_staff)
        return turn.replies

    async def _handle_read(self, ev: Incoming, user: int) -> list[Reply] | None:
        """A read-only command: on the read sessions, never locking a row, and with nothing
        queued for delivery, so the outbox worker is not woken."""
        async with self.read_sessions() as session:
            staff = await self._member(session, ev, user, True)
            if staff is None:
                return None
            turn = Turn(session, staff, ev, self.clock(), read_only=True)
            await COMMANDS[ev.command](self, turn, ev.text.split())
        return turn.replies

    async def _member(
        self, session: AsyncSession, ev: Incoming, user: int, wants_desk: bool
    ) -> StaffMember | None:
        """The authoritative check: is the sender staff right now (database, bootstrap admins)."""
        staff = await find_staff(session, user, self.settings.staff.admins)
        self.staff_ids.mark(user, staff is not None)
        if staff is None and wants_desk and ev.command not in SHARED_COMMANDS:
            log.warning("denied: %s is not staff (%s%s)", ev.user_id, ev.command, ev.payload)
        return staff

    async def may_be_staff(self, telegram_id: int) -> bool:
        """False when ``telegram_id`` is certainly no staff member, as far as this process
        knows (see StaffIds); no database access unless the list is due to be read again."""
        if telegram_id in self.settings.staff.admins:
            return True
        if self.staff_ids.stale():
            try:
                await self.staff_ids.refresh(self._load_staff_ids)
            except Exception:
                log.exception("could not read the staff list; asking the database instead")
                return True
        return telegram_id in self.staff_ids.ids

    async def load_staff(self) -> None:
        """Read the staff list now (at start), rather than at the first event."""
        self.staff_ids.loaded_at = None
        await self.staff_ids.refresh(self._load_staff_ids)

    async def _load_staff_ids(self) -> set[int]:
        async with self.read_sessions() as session:
            return await staff_ids(session)

    async def _dispatch(self, turn: Turn) -> bool:
        ev = turn.ev
        if ev.kind is Kind.COMMAND and ev.command in COMMANDS:
            await COMMANDS[ev.command](self, turn, ev.text.split())
            return True
        if ev.kind is Kind.COMMAND and ev.command == "cancel":
            if await drop_prompt(turn.session, turn.chat, turn.staff.telegram_id):
                self.say(turn, self.t("staff.prompt_cancelled"))
                return True
            return False
        if ev.kind is Kind.BUTTON:
            await self._button(turn, ev.payload.split(":"))
            return True
        if ev.kind in (Kind.TEXT, Kind.PHOTO):
            prompt = await take_prompt(turn.session, turn.chat, turn.staff.telegram_id, turn.now)
            if prompt is None:
                return False
            req = await self._visible(turn, request_id=prompt.request_id)
            if req is not None:
                await self._with_text(turn, req, prompt.action, ev.text)
            return True
        return False

    # --- helpers ---------------------------------------------------------------------------

    def say(
        self, turn: Turn, text: str, buttons: list[list[Button]] | None = None, **kw: object
    ) -> None:
        turn.replies.append(Reply(text, buttons or [], lang=self.lang, **kw))  # type: ignore[arg-type]

    def usage(self, turn: Turn, name: str) -> None:
        self.say(turn, self.t("staff.usage." + name))

    async def _visible(
        self, turn: Turn, *, number: str = "", request_id: int | None = None
    ) -> Request | None:
        """The request if this staff member may see it; otherwise "not found", and a log line.
        It is locked for the turn (unless the turn only reads): two staff pressing Accept at
        once must not both accept."""
        req: Request | None = None
        lock = not turn.read_only
        if request_id is not None:
            req = await turn.session.get(Request, request_id, with_for_update=lock)
        elif parse_number(number):
            req = await by_number(turn.session, number.strip(), None, for_update=lock)
        if req is not None and not turn.staff.can_see(req):
            log.warning(
                "denied: staff %s (%s) asked for %s of %s",
                turn.staff.telegram_id,
                turn.staff.department,
                req.number,
                req.department,
            )
            req = None
        if req is None:
            self.say(turn, self.t("staff.not_found", number=number or str(request_id or "")))
        return req

    def chats(self, req: Request) -> list[str]:
        return self.settings.desk_chats(req.department)

    async def _set_status(self, turn: Turn, req: Request, new: Status, note: str | None) -> None:
        try:
            await change_status(
                turn.session,
                req,
                new,
                actor=Actor.STAFF,
                actor_id=turn.actor_id,
                note=note,
                now=turn.now,
                desk_chats=self.chats(req),
                policy=policy_for(self.settings),
            )
        except IllegalTransition as exc:
            self.say(
                turn,
                self.t(
                    "staff.illegal",
                    number=req.number,
                    old=self.t(f"status.{exc.old.value}"),
                    new=self.t(f"status.{exc.new.value}"),
                ),
            )
            return
        self.say(
            turn,
            self.t("staff.done_status", number=req.number, status=self.t(f"status.{new.value}")),
        )

    async def _with_text(self, turn: Turn, req: Request, action: str, text: str) -> None:
        result = validate_comment(text, self.settings.limits.comment_max)
        if isinstance(result, Invalid):
            self.usage(turn, action)
            return
        if action == "reply":
            await staff_reply(
                turn.session,
                req,
                result,
                actor_id=turn.actor_id,
                now=turn.now,
                desk_chats=self.chats(req),
            )
            self.say(turn, self.t("staff.done_reply", number=req.number))
            return
        await self._set_status(turn, req, TEXT_ACTIONS[action], result)

    async def _button(self, turn: Turn, parts: list[str]) -> None:
        if len(parts) < 3 or not parts[2].isdigit():
            return
        action, request_id = parts[1], int(parts[2])
        req = await self._visible(turn, request_id=request_id)
        if req is None:
            return
        if action in BUTTON_STATUS:
            await self._set_status(turn, req, BUTTON_STATUS[action], None)
        elif action in TEXT_ACTIONS:
            await open_prompt(
                turn.session, turn.chat, turn.staff.telegram_id, action, req.id, turn.now
            )
            self.say(turn, self.t(f"staff.prompt.{action}", number=req.number), force_reply=True)
        elif action == "reassign":
            buttons = [
                Button(d.name.get(self.lang), f"s:to:{req.id}:{d.code}")
                for d in self.settings.departments
                if d.code != req.department
            ]
            rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
            self.say(turn, self.t("staff.choose_department", number=req.number), rows)
        elif action == "to" and len(parts) == 4:
            await self._reassign(turn, req, parts[3], None)

    async def _reassign(self, turn: Turn, req: Request, department: str, note: str | None) -> None:
        if self.settings.department(department) is None:
            self.say(turn, self.t("staff.unknown_department", department=department))
            return
        if department == req.department or not RULE[req.status].open:
            self.say(
                turn,
                self.t(
                    "staff.reassign_pointless",
                    number=req.number,
                    department=department_name(self.settings, self.lang, req.department),
                    status=self.t(f"status.{req.status.value}"),
                ),
            )
            return
        old = self.chats(req)
        await reassign(
            turn.session,
            req,
            department,
            actor_id=turn.actor_id,
            note=note,
            now=turn.now,
            old_chats=old,
            new_chats=self.settings.desk_chats(department),
        )
        self.say(
            turn,
            self.t(
                "staff.done_reassign",
                number=req.number,
                department=department_name(self.settings, self.lang, department),
            ),
        )

    def line(self, req: Request) -> str:
        return self.t(
            "staff.queue_line",
            number=req.number,
            status=self.t(f"status.{req.status.value}"),
            category=category_name(self.settings, self.lang, req.category, req.subcategory),
            address=(req.address or "—")[:40],
            created=local_time(self.settings, req.created_at),
        )

    def local_day_start(self, day: date) -> datetime:
        """The city's midnight of ``day``, in UTC: SQLite compares the stored UTC wall-clock
        text, so a bound in another offset would shift the day by that offset."""
        tz = ZoneInfo(self.settings.city.timezone)
        return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


# --- commands ---------------------------------------------------------------------------------


@command("help", read_only=True)
async def cmd_help(desk: StaffDesk, turn: Turn, args: list[str]) -> None:
    lines = [desk.t("staff.help")]
    lines += [desk.t("staff.usage." + name) for name in COMMANDS if name not in ("help", "staff")]
    if turn.staff.role is Role.ADMIN:
        lines.append(desk.t("staff.usage.staff"))
    desk.say(turn, "\n".join(lines))


@command("queue", read_only=True)
async def cmd_queue(desk: StaffDesk, turn: Turn, args: list[str]) -> None:
    department, statuses = turn.scope, None
    for arg in args:
        if arg in STATUS_WORDS:
            statuses = frozenset({STATUS_WORDS[arg]})
        elif desk.settings.department(arg) is not None:
            if turn.scope is not None and arg != turn.scope:
                log.warning("denied: staff %s asked for queue of %s", turn.actor_id, arg)
                desk.say(turn, desk.t("staff.queue_empty"))
                return
            department = arg
        else:
            desk.usage(turn, "queue")
            return
    rows, total = await queue(turn.session, department, statuses)
    if not rows:
        desk.say(turn, desk.t("staff.queue_empty"))
        return
    text = desk.t("staff.queue_head", shown=len(rows), total=total)
    desk.say(turn, text + "\n" + "\n".join(desk.line(r) for r in rows))


@command("show", read_only=True)
async def cmd_show(desk: StaffDesk, turn: Turn, args: list[str]) -> None:
    if len(args) != 1 or parse_number(args[0]) is None:
        desk.usage(turn, "show")
        return
    req = await desk._visible(turn, number=args[0])
    if req is None:
        return
    full = await load_card_request(turn.session, req.id)
    assert full is not None
    card = render_card(desk.settings, desk.tr, full)
    turn.replies.append(card)


@command("assign")
async def cmd_assign(desk: StaffDesk, turn: Turn, args: list[str]) -> None:
    if len(args) < 2 or parse_number(args[0]) is None:
        desk.usage(turn, "assign")
        return
    req = await desk._visible(turn, number=args[0])
    if req is not None:
        await desk._reassign(turn, req, args[1], " ".join(args[2:]) or None)


@command("status")
async def cmd_status(desk: StaffDesk, turn: Turn, args: list[str]) -> None:
    if len(args) < 2 or parse_number(args[0]) is None or args[1].lower() not in STATUS_WORDS:
        desk.usage(turn, "status")
        return
    req = await desk._visible(turn, number=args[0])
    if req is not None:
        note = " ".join(args[2:]) or None
        await desk._set_status(turn, req, STATUS_WORDS[args[1].lower()], note)


def _text_command(name: str) -> Command:
    async def run(desk: StaffDesk, turn: Turn, args: list[str]) -> None:
        if len(args) < 2 or parse_number(args[0]) is None:
            desk.usage(turn, name)
            return
        req = await desk._visible(turn, number=args[0])
        if req is not None:
            await desk._with_text(turn, req, name, turn.ev.text.split(None, 1)[1])

    return run


for _name in ("reply", "needinfo", "resolve", "reject"):
    command(_name)(_text_command(_name))


@command("find", read_only=True)
async def cmd_find(desk: StaffDesk, turn: Turn, args: list[str]) -> None:
    text = " ".join(args).strip()
    if len(text) < 3:
        desk.usage(turn, "find")
        return
    phone = normalize_phone(text)
    rows = await search(
        turn.session, text, turn.scope, phone=None if isinstance(phone, Invalid) else phone
    )
    if not rows:
        desk.say(turn, desk.t("staff.find_none"))
        return
    desk.say(turn, "\n".join(desk.line(r) for r in rows))


@command("stats", read_only=True)
async def cmd_stats(desk: StaffDesk, turn: Turn, args: list[str]) -> None:
    period = args[0] if args else "today"
    if period not in PERIODS or len(args) > 1:
        desk.usage(turn, "stats")
        return
    today = as_utc(turn.now).astimezone(ZoneInfo(desk.settings.city.timezone)).date()
    since = desk.local_day_start(today - timedelta(days=PERIODS[period] - 1))
    rows = await stats(turn.session, since, turn.scope)
    if not rows:
        desk.say(turn, desk.t("staff.stats_empty", period=desk.t(f"staff.period.{period}")))
        return
    lines = [desk.t("staff.stats_head", period=desk.t(f"staff.period.{period}"))]
    current = ""
    for dept, status, count in rows:
        if dept != current:
            current = dept
            total = sum(n for d, _, n in rows if d == dept)
            lines.append(
                desk.t(
                    "staff.stats_dept",
                    department=department_name(desk.settings, desk.lang, dept),
                    total=total,
                )
            )
        lines.append(
            desk.t("staff.stats_line", status=desk.t(f"status.{status.value}"), count=count)
        )
    lines += await _speed_lines(desk, turn, since)
    desk.say(turn, "\n".join(lines))


async def _speed_lines(desk: StaffDesk, turn: Turn, since: datetime) -> list[str]:
    """How fast each department resolved what it resolved in the period, and how often on time."""
    until = as_utc(turn.now) + timedelta(seconds=1)
    durations = await resolve_durations(turn.session, since, until, turn.scope)
    on_time = await within_deadline(turn.session, since, until, turn.scope)
    lines = []
    for dept in sorted(durations):
        mid = median(durations[dept])
        ok, total = on_time.get(dept, (0, 0))
        lines.append(
            desk.t(
                "staff.stats_speed",
                department=department_name(desk.settings, desk.lang, dept),
                resolved=len(durations[dept]),
                median=round((mid.total_seconds() if mid else 0) / 3600, 1),
                on_time=round(100 * ok / total) if total else 0,
            )
        )
    return lines


def _parse_day(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def spreadsheet_safe(text: str) -> str:
    """Resident text that a spreadsheet would run as a formula (=, +, -, @ first) is shown
    with a leading apostrophe, the usual guard against CSV injection."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


EXPORT_COLUMNS = (
    "number",
    "created",
    "status",
    "category",
    "subcategory",
    "department",
    "address",
    "latitude",
    "longitude",
    "description",
    "phone",
    "resolved",
    "closed",
    "rating",
    "channel",
    "language",
)


def _inside(session: AsyncSession) -> Callable[[], AbstractAsyncContextManager[AsyncSession]]:
    """Sessions for export_rows that are all ``session``, left open: its owner closes it."""
    return lambda: nullcontext(session)


@command("export", read_only=True)
async def cmd_export(desk: StaffDesk, turn: Turn, args: list[str]) -> None:
    today = as_utc(turn.now).astimezone(ZoneInfo(desk.settings.city.timezone)).date()
    days = [_parse_day(a) for a in args]
    if len(args) > 2 or None in days:
        desk.usage(turn, "export")
        return
    start = days[0] if days else today.replace(day=1)
    end = days[1] if len(days) > 1 else today
    assert start is not None and end is not None
    if end < start:
        desk.usage(turn, "export")
        return
    since, until = desk.local_day_start(start), desk.local_day_start(end + timedelta(days=1))

    def when(value: datetime | None) -> str:
        return local_time(desk.settings, value) if value else ""

    scope = turn.scope
    pages: Callable[[], AbstractAsyncContextManager[AsyncSession]]
    if turn.read_only:
        # Read page by page in short transactions of their own, not in the turn's.
        await turn.end_read()
        pages = desk.read_sessions
    else:
        # Run inside a caller's transaction (bench/export_worker.py): read within it.
        pages = _inside(turn.session)
    count = 0
    # UTF-8 with a BOM, so spreadsheet programs show Cyrillic correctly.
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8-sig", newline="", suffix=".csv", delete=False
    ) as f:
        writer = csv.writer(f)
        writer.writerow(EXPORT_COLUMNS)
        async for r in export_rows(pages, since, until, scope):
            count += 1
            writer.writerow(
                (
                    r.number,
                    when(r.created_at),
                    r.status.value,
                    r.category,
                    r.subcategory or "",
                    r.department,
                    spreadsheet_safe(r.address or ""),
                    r.latitude or "",
                    r.longitude or "",
                    spreadsheet_safe(r.description or ""),
                    r.phone or "",
                    when(r.resolved_at),
                    when(r.closed_at),
                    r.rating or "",
                    r.channel,
                    r.language,
                )
            )
    name = f"requests_{start.isoformat()}_{end.isoformat()}.csv"
    desk.say(
        turn,
        desk.t("staff.export_done", count=count, start=start.isoformat(), end=end.isoformat()),
        document=Document(name, f.name),
    )


def _staff_reads(args: list[str]) -> bool:
    """/staff list (and a usage line) only reads; add and remove write."""
    return args[:1] not in (["add"], ["remove"])


@command("staff", read_only=_staff_reads)
async def cmd_staff(desk: StaffDesk, turn: Turn, args: list[str]) -> None:
    if turn.staff.role is not Role.ADMIN:
        log.warning("denied: %s (%s) used /staff", turn.actor_id, turn.staff.role)
        desk.say(turn, desk.t("staff.admins_only"))
        return
    if args[:1] == ["list"]:
        members = await list_staff(turn.session)
        lines = [
            desk.t(
                "staff.member",
                id=m.telegram_id,
                role=m.role.value,
                department=m.department or "—",
            )
            for m in members
        ]
        boot = ", ".join(str(a) for a in desk.settings.staff.admins) or "—"
        desk.say(turn, "\n".join([desk.t("staff.list_head", bootstrap=boot), *lines]))
        return
    if args[:1] == ["remove"] and len(args) == 2 and args[1].isdigit():
        if int(args[1]) in desk.settings.staff.admins:
            desk.say(turn, desk.t("staff.bootstrap_admin", id=args[1]))
            return
        removed = await remove_staff(turn.session, int(args[1]))
        if removed:
            turn.staff_changed[int(args[1])] = False
        desk.say(turn, desk.t("staff.removed" if removed else "staff.not_staff", id=args[1]))
        return
    if args[:1] == ["add"] and len(args) in (3, 4) and args[1].isdigit():
        try:
            role = Role(args[2])
        except ValueError:
            desk.usage(turn, "staff")
            return
        department = args[3] if len(args) == 4 else None
        if role is Role.DEPARTMENT and (
            department is None or desk.settings.department(department) is None
        ):
            desk.say(turn, desk.t("staff.unknown_department", department=department or "—"))
            return
        await put_staff(
            turn.session, int(args[1]), role, department, added_by=turn.staff.telegram_id
        )
        turn.staff_changed[int(args[1])] = True
        desk.say(
            turn, desk.t("staff.added", id=args[1], role=role.value, department=department or "—")
        )
        return
    desk.usage(turn, "staff")


# Commands defined in their own modules register themselves on import.
from handlers.desk import deadlines, outbox  # noqa: E402, F401
