"""The staff desk's engine: it runs the commands of the groups it is given (see
handlers/desk/__init__.py for the list, handlers/desk/commands.py for how one is declared),
refuses a command to anyone its roles leave out, and handles the card buttons and the prompts
they open, for administrators, operators and departments.

Everything is scoped by the staff member's role: department staff see and act on their own
department's requests only, and a request outside their scope is simply "not found". A person
who is not staff gets ``None`` back, and the caller answers them as any resident, so nothing
reveals that staff commands exist.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handlers.desk import incidents, proof, topic
from handlers.desk.answers import UnknownTemplate, listing, resolve
from handlers.desk.commands import CommandGroup, StaffCommand, command_table
from handlers.desk.staff_ids import STAFF_IDS_TTL, StaffIds
from handlers.desk.turn import Turn
from handlers.formatting import department_name
from handlers.i18n import Translator
from handlers.parsing import parse_row_id
from handlers.types import Button, Incoming, Kind, Reply
from handlers.validation import Invalid, validate_comment
from models.domain.base import utcnow
from models.domain.city import CityConfig
from models.domain.deadlines.policy import policy_for
from models.domain.lifecycle import IllegalTransition, change_status, reassign, staff_reply
from models.domain.prompts import drop_prompt, prompt_posted
from models.domain.requests import parse_number
from models.domain.staff import StaffMember, find_staff, staff_ids
from models.domain.status import RULE, Status
from models.domain.tables import Actor, Request
from models.storage.dedupe import first_time, unsee
from models.storage.desk_queries import by_number

log = logging.getLogger(__name__)

__all__ = ["StaffDesk", "Turn"]

TEXT_ACTIONS = {
    "needinfo": Status.NEEDS_INFO,
    "resolve": Status.RESOLVED,
    "reject": Status.REJECTED,
}
BUTTON_STATUS = {"accept": Status.ASSIGNED, "progress": Status.IN_PROGRESS}
SHOW_LINK = re.compile(r"show_(\d{4})_(\d{6})", re.ASCII)
# Commands residents have too: from someone who is not staff they are simply the resident's.
SHARED_COMMANDS = frozenset({"help"})


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
        groups: Iterable[CommandGroup] | None = None,
    ) -> None:
        if groups is None:
            # The full desk, as assembled in handlers/desk/__init__.py; imported here, not at
            # the top, because the command modules import this engine.
            from handlers.desk import GROUPS

            groups = GROUPS
        # Every command, in the order the groups list them (/help and the menu keep it).
        self.commands: dict[str, StaffCommand] = command_table(groups)
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
        # Tells the other workers (bot/cluster.py), whose in-memory lists would otherwise lag.
        self.on_staff_marked: Callable[[int, bool], None] = lambda telegram_id, is_staff: None
        # A staff event handled, its kind and seconds taken (bot/metrics.py counts them).
        self.on_handled: Callable[[str, float], None] = lambda kind, seconds: None
        self.lang = settings.staff.language

    def t(self, key: str, /, **kw: object) -> str:
        return self.tr.t(self.lang, key, **kw)

    async def handle(self, ev: Incoming, event_id: str = "") -> list[Reply] | None:
        started = time.perf_counter()
        link = SHOW_LINK.fullmatch(ev.command) if ev.kind is Kind.COMMAND else None
        if link is not None:  # /show_2026_000123, the tappable form a batch of new cards lists
            ev = replace(ev, command="show", text=f"{link[1]}-{link[2]}")
        replies = await self._handle(ev, event_id)
        if replies is not None:
            self.on_handled(ev.kind.value, time.perf_counter() - started)
        return replies

    async def _handle(self, ev: Incoming, event_id: str) -> list[Reply] | None:
        """Answers for a staff event, or None when it is not one (or not from staff).

        ``event_id`` (Telegram's update_id) is recorded in the transaction of the action it
        causes, so an update Telegram delivers again (a slow answer to a webhook, a polled batch
        handed out again after a crash) never resolves, replies or assigns twice."""
        wants_desk = (ev.kind is Kind.COMMAND and ev.command in self.commands) or (
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
        if (
            ev.kind is Kind.COMMAND
            and wants_desk
            and self.commands[ev.command].reads_only(ev.text.split())
        ):
            return await self._handle_read(ev, user)
        async with self.sessions() as session, session.begin():
            staff = await self._member(session, ev, user, wants_desk)
            if staff is None:
                return [] if ev.kind is Kind.BUTTON and wants_desk else None
            turn = Turn(session, staff, ev, self.clock())
            if not self._admit(turn, wants_desk):
                return turn.replies if wants_desk else None
            seen_as = f"{ev.channel}-staff"
            if event_id and not await first_time(session, seen_as, event_id):
                log.info("staff update %s from %s handled before: ignored", event_id, user)
                return []
            handled = await self._dispatch(turn)
            if not handled and event_id:
                await unsee(session, seen_as, event_id)  # a resident's message after all
        if not handled:
            return None
        self.on_commit()
        for telegram_id, is_staff in turn.staff_changed.items():
            self.staff_ids.mark(telegram_id, is_staff)
            self.on_staff_marked(telegram_id, is_staff)
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
            if self._admit(turn, True):
                await self._run(turn, self.commands[ev.command])
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

    async def prompt_posted(self, chat_id: str, staff_id: int, message_id: str) -> None:
        """The channel posted a prompt in a group as ``message_id``: only a reply to it answers."""
        async with self.sessions() as session, session.begin():
            await prompt_posted(session, chat_id, staff_id, message_id)

    def _admit(self, turn: Turn, wants_desk: bool) -> bool:
        """Whether the desk answers in this chat: the staff member's private chat, their own
        department's group, the operators' group for operators and administrators (who are
        answered in a department's group too, for that department only). Anywhere else a
        command is refused in one line and nothing is posted: a card shows a resident's phone,
        and a group the bot was added to may hold anyone."""
        ev, staff = turn.ev, turn.staff
        if not ev.group:
            return True
        operators = self.settings.staff.operators_chat_id
        if operators is not None and ev.chat_id == str(operators) and staff.sees_all:
            return True
        room = next(
            (
                d.code
                for d in self.settings.departments
                if d.telegram_chat_id is not None and ev.chat_id == str(d.telegram_chat_id)
            ),
            None,
        )
        if room is not None and (staff.sees_all or staff.department == room):
            turn.room = room
            return True
        log.warning(
            "denied: staff %s (%s) in chat %s (%s%s)",
            staff.telegram_id,
            staff.department or staff.role.value,
            ev.chat_id,
            ev.command,
            ev.payload,
        )
        if wants_desk and ev.kind is Kind.COMMAND:
            self.say(turn, self.t("staff.wrong_chat"))
        return False

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
        if ev.kind is Kind.COMMAND and ev.command in self.commands:
            await self._run(turn, self.commands[ev.command])
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
            return await proof.on_message(self, turn) or await topic.on_message(self, turn)
        return False

    async def _run(self, turn: Turn, cmd: StaffCommand) -> None:
        """Run a command for a staff member its roles allow; anyone else is refused here,
        before it runs, with the command's own refusal text."""
        if not cmd.allows(turn.staff.role):
            log.warning("denied: %s (%s) used /%s", turn.actor_id, turn.staff.role, cmd.name)
            self.say(turn, self.t(cmd.denied))
            return
        await topic.imply_number(turn)
        await cmd.run(self, turn, turn.ev.text.split())

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
        if req is not None and not turn.can_see(req):
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

    async def _set_status(
        self,
        turn: Turn,
        req: Request,
        new: Status,
        note: str | None,
        photos: Sequence[str] = (),
    ) -> bool:
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
                photos=photos,
                origin=turn.origin,
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
            return False
        self.say(
            turn,
            self.t("staff.done_status", number=req.number, status=self.t(f"status.{new.value}")),
        )
        if photos:
            self.say(turn, self.t("staff.done_proof", number=req.number, count=len(photos)))
        return True

    async def _with_text(
        self, turn: Turn, req: Request, action: str, text: str, photos: Sequence[str] = ()
    ) -> None:
        """Complete a text action; ``photos`` (a resolution's proof) go with it."""
        if action == "dup":  # the card's "Duplicate of…": the text is the main request
            await incidents.merge_into(self, turn, text.split()[:1], [req])
            return
        result: str | None = None
        if text.strip() or not photos:  # photos alone need no words
            expanded = await resolve(turn.session, self.settings, self.tr, req, text)
            if isinstance(expanded, UnknownTemplate):
                self.say(turn, self.t("staff.template_unknown", name=expanded.name))
                self.say(turn, listing(self.settings, self.tr, self.lang, turn.scope))
                return
            checked = validate_comment(expanded, self.settings.limits.comment_max)
            if isinstance(checked, Invalid):
                self.usage(turn, action)
                return
            result = checked
        if action == "reply":
            assert result is not None  # a reply has no photos: its text was checked
            await staff_reply(
                turn.session,
                req,
                result,
                actor_id=turn.actor_id,
                now=turn.now,
                desk_chats=self.chats(req),
                origin=turn.origin,
            )
            self.say(turn, self.t("staff.done_reply", number=req.number))
            return
        if await self._set_status(turn, req, TEXT_ACTIONS[action], result, photos):
            await proof.after_resolution(turn, req.id, photos)

    async def _button(self, turn: Turn, parts: list[str]) -> None:
        request_id = parse_row_id(parts[2]) if len(parts) >= 3 else None
        if request_id is None:
            return
        action = parts[1]
        req = await self._visible(turn, request_id=request_id)
        if req is None:
            return
        if action in BUTTON_STATUS:
            await self._set_status(turn, req, BUTTON_STATUS[action], None)
        elif action in TEXT_ACTIONS:
            await proof.ask(self, turn, action, req.id, req.number)
        elif action == "proofdone":
            await proof.finish(self, turn, req)
        elif action == "dup":
            await proof.ask(self, turn, "dup", req.id, req.number)
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

    def local_day_start(self, day: date) -> datetime:
        """The city's midnight of ``day``, in UTC: SQLite compares the stored UTC wall-clock
        text, so a bound in another offset would shift the day by that offset."""
        tz = ZoneInfo(self.settings.city.timezone)
        return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)
