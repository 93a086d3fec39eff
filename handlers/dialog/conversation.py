"""The conversation core: one incoming event in, the replies out, in one transaction.

Every channel (Telegram, Viber, the terminal) turns what arrived into an ``Incoming`` and
renders the ``Reply`` objects it gets back; nothing here knows which messenger it talks to.
"""

from __future__ import annotations

import logging
import time
import weakref
from asyncio import Lock
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handlers.dialog import (  # importing registers the steps
    attachments,  # noqa: F401
    confirm,  # noqa: F401
    feedback,
    menu,
    my_requests,
    new_request,
    paging,
)
from handlers.dialog.context import Context, Step
from handlers.dialog.flow import STEPS, goto, reask
from handlers.i18n import LANGUAGES, Translator, translator
from handlers.types import Incoming, Keyboard, Kind, Reply
from models.domain.base import utcnow
from models.domain.city import CityConfig
from models.domain.outbox import enqueued, release_held, release_waiting
from models.domain.residents import dialog_data, resident_with_state, save_state
from models.storage.dedupe import first_time
from models.storage.engine import short_transaction

log = logging.getLogger(__name__)

FILING_STEPS = frozenset(new_request.FLOW) | {Step.CONFIRM}
SEEN_KEY = "seen"
ALBUM_KEY = "album_last"
# The commands that reach a step from any step (the diagram's note): /new continues a draft
# at its first unanswered step, /start asks for the language first when none was chosen.
COMMAND_STEPS: dict[str, Step] = {
    "start": Step.MENU,
    "menu": Step.MENU,
    "new": Step.CATEGORY,
    "my": Step.MY_LIST,
    "help": Step.HELP,
    "language": Step.LANGUAGE,
    "forget": Step.FORGET,
    "cancel": Step.MENU,
}
# Steps where the resident's next text belongs to the dialog, not to a department's question.
TYPING_STEPS = frozenset({Step.ADDRESS, Step.DESCRIPTION, Step.PHOTOS, Step.PHONE, Step.ADD_INFO})


class FloodGuard:
    """At most ``limit`` events per ``window`` seconds from one person; one warning, then quiet."""

    def __init__(self, limit: int = 20, window: float = 10.0) -> None:
        self.limit, self.window = limit, window
        self._events: dict[tuple[str, str], deque[float]] = {}
        self._swept = time.monotonic()

    def check(self, key: tuple[str, str]) -> str:
        """'ok', 'warn' (first event over the limit) or 'drop'."""
        now = time.monotonic()
        q = self._events.get(key)
        if q is None:
            q = self._events[key] = deque()
        while q and now - q[0] > self.window:
            q.popleft()
        q.append(now)
        # Forget people who went quiet, once a window at most: sweeping on every event while
        # thousands write at once would cost more than the events.
        if len(self._events) > 10_000 and now - self._swept > self.window:
            self._swept = now
            for k in [k for k, v in self._events.items() if now - v[-1] > self.window]:
                del self._events[k]
        if len(q) <= self.limit:
            return "ok"
        return "warn" if len(q) == self.limit + 1 else "drop"


class Conversation:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: CityConfig,
        *,
        tr: Translator | None = None,
        clock: Callable[[], datetime] = utcnow,
        flood: FloodGuard | None = None,
        on_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self.sessions = sessions
        # Called after a transaction that queued notifications (wakes the delivery worker).
        self.on_commit = on_commit
        # An event answered, its kind and the seconds it took (bot/metrics.py counts them).
        self.on_handled: Callable[[str, float], None] = lambda kind, seconds: None
        self.settings = settings
        self.tr = tr or translator()
        self.clock = clock
        self.flood = flood or FloodGuard()
        self._locks: weakref.WeakValueDictionary[tuple[str, str], Lock] = (
            weakref.WeakValueDictionary()
        )
        # The language each person chose, so the flood warning needs no database read.
        self._langs: dict[tuple[str, str], str] = {}

    def _lock(self, key: tuple[str, str]) -> Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = Lock()
        return lock

    async def handle(self, ev: Incoming, event_id: str = "") -> list[Reply]:
        """Answer one event. ``event_id`` (e.g. Telegram's update_id) makes re-deliveries no-ops."""
        started = time.perf_counter()
        try:
            return await self._answer(ev, event_id)
        finally:
            self.on_handled(ev.kind.value, time.perf_counter() - started)

    async def _answer(self, ev: Incoming, event_id: str) -> list[Reply]:
        key = (ev.channel, ev.user_id)
        verdict = self.flood.check(key)
        if verdict != "ok":
            log.warning("flood from %s:%s (%s)", ev.channel, ev.user_id, verdict)
            if verdict == "drop":
                return []
            lang = self._langs.get(key) or (
                ev.language_hint
                if ev.language_hint in LANGUAGES
                else self.settings.default_language
            )
            return [Reply(self.tr.t(lang, "hint.flood"), lang=lang)]
        async with self._lock(key):
            try:
                async with self.sessions() as session:
                    with short_transaction():
                        replies = await self._handle(session, ev, event_id)
                    if enqueued(session):
                        self.on_commit()
                    return replies
            except Exception:
                log.exception("failed to handle %s from %s:%s", ev.kind, ev.channel, ev.user_id)
                return [Reply(self.tr.t(self.settings.default_language, "error.internal"))]

    async def album_last(self, channel: str, user_id: str, album: str) -> str:
        """The event id of the album's photo handled last ("" when another came since)."""
        async with self.sessions() as session:
            data = await dialog_data(session, channel, user_id)
        seen = data.get(ALBUM_KEY) or ["", ""]
        return str(seen[1]) if seen[0] == album else ""

    async def _handle(self, session: AsyncSession, ev: Incoming, event_id: str) -> list[Reply]:
        async with session.begin():
            resident, state = await resident_with_state(session, ev.channel, ev.user_id, ev.name)
            # Recorded with what the event does: a re-delivery (a webhook retried, a polled
            # batch handed out again after a crash, a replayed callback) is a no-op, however
            # many events came in between.
            if event_id and not await first_time(session, ev.channel, event_id):
                return []
            # Their message opens a session (free in Viber): what waited for it goes now.
            await release_waiting(session, ev.channel, ev.user_id, now=self.clock())
            if resident.blocked_at is not None:  # writing to us again: reachable again
                resident.blocked_at = None
                await release_held(
                    session,
                    ev.channel,
                    ev.user_id,
                    since=self.clock() - timedelta(days=self.settings.limits.held_messages_days),
                    now=self.clock(),
                )
            ctx = Context(
                session=session,
                settings=self.settings,
                tr=self.tr,
                resident=resident,
                step=_step(state.step if state else None),
                # The state was read as plain columns, decoded for this event alone: the
                # handlers may change it in place, it is written back whole.
                data=state.data if state else {},
                now=self.clock(),
                channel=ev.channel,
            )
            offered = {p: label for p, label in (state.offered if state else [])}
            ev = _label_to_button(ev, offered)
            await self._route(ctx, ev, offered, is_new=state is None)
            for reply in ctx.replies:
                reply.lang = ctx.lang
            if resident.language:
                if len(self._langs) > 10_000:
                    self._langs.clear()
                self._langs[(ev.channel, ev.user_id)] = resident.language
            if ctx.data.get("forgotten"):
                return ctx.replies
            ctx.data.pop(SEEN_KEY, None)  # where earlier versions kept the last event ids
            if ev.album and event_id:
                # Which photo of an album was handled last, whichever worker handled it: only
                # that one's answer goes (bot/channels/telegram/albums.py).
                ctx.data[ALBUM_KEY] = [ev.album, event_id]
            previous_kb = ctx.data.get("kb")
            _mark_keyboard_removal(ctx.replies, previous_kb)
            shown = [r for r in ctx.replies if r.buttons]
            if shown and ctx.keep_offered:
                # Answers to notification buttons leave the dialog's own buttons valid.
                new_offered = [[p, label] for p, label in offered.items()]
                new_offered += [[p, label] for r in shown for label, p in r.labels().items()]
            elif shown:
                ctx.data["kb"] = shown[-1].keyboard.value
                new_offered = [[p, label] for r in shown for label, p in r.labels().items()]
                paging.paginate(ctx, ev.page_size)
            else:
                new_offered = [[p, offered[p]] for p in offered]
            await save_state(session, resident.id, ctx.step.value, ctx.data, new_offered)
            return ctx.replies

    async def _route(
        self, ctx: Context, ev: Incoming, offered: dict[str, str], *, is_new: bool
    ) -> None:
        if ev.kind is Kind.COMMAND:
            await self._command(ctx, ev)
            return
        if (ctx.resident.language is None and ctx.step is not Step.LANGUAGE) or is_new:
            await goto(ctx, Step.LANGUAGE)
            return
        if paging.is_page(ev):
            await paging.show(ctx, ev)
            return
        if feedback.is_global(ev):
            ctx.keep_offered = True
            await feedback.on_global_button(ctx, ev)
            return
        if ctx.step not in TYPING_STEPS and await feedback.answer_question(ctx, ev):
            ctx.keep_offered = True
            return
        if ev.kind is Kind.BUTTON and ev.payload not in offered:
            ctx.hint("hint.stale_button")
            await reask(ctx)
            return
        ctx.handling = True
        await STEPS[ctx.step].handle(ctx, ev)

    async def _command(self, ctx: Context, ev: Incoming) -> None:
        if ctx.resident.language is None and ev.command not in ("start", "language"):
            await goto(ctx, Step.LANGUAGE)
            return
        match ev.command:
            case "start" | "menu":
                await goto(ctx, Step.LANGUAGE if ctx.resident.language is None else Step.MENU)
            case "new":
                if menu.has_draft(ctx):
                    await new_request.resume(ctx)
                else:
                    await new_request.start(ctx)
            case "my":
                await my_requests.open_list(ctx, page=0)
            case "cancel":
                if ctx.step in FILING_STEPS:
                    await new_request.cancel(ctx)
                else:
                    await goto(ctx, Step.MENU)
            case command if command in COMMAND_STEPS:
                await goto(ctx, COMMAND_STEPS[command])
            case _:
                ctx.hint("hint.unknown_command")
                await reask(ctx)


def _step(stored: str | None) -> Step:
    """A step name from the database; one a newer version removed restarts at the menu."""
    if stored is None:
        return Step.LANGUAGE
    try:
        return Step(stored)
    except ValueError:
        return Step.MENU


def _label_to_button(ev: Incoming, offered: dict[str, str]) -> Incoming:
    """Keyboards that replace the phone's keyboard send their label back as plain text."""
    if ev.kind is not Kind.TEXT:
        return ev
    for payload, label in offered.items():
        if ev.text == label:
            return Incoming(
                channel=ev.channel,
                user_id=ev.user_id,
                kind=Kind.BUTTON,
                payload=payload,
                name=ev.name,
                language_hint=ev.language_hint,
            )
    return ev


def _mark_keyboard_removal(replies: list[Reply], previous_kb: object) -> None:
    """An input keyboard stays on the phone until a message removes it."""
    showing_input = previous_kb == Keyboard.INPUT.value
    for i, reply in enumerate(replies):
        if showing_input and reply.keyboard is not Keyboard.INPUT:
            if any(r.buttons and r.keyboard is Keyboard.INPUT for r in replies[i + 1 :]):
                continue  # a notice before the next question: that question's keyboard follows
            reply.remove_input_keyboard = True
            return
        if reply.buttons:
            showing_input = reply.keyboard is Keyboard.INPUT
