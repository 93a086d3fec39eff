"""A request's whole life over real HTTP: a resident files it in Telegram, the card appears in
the department's group, staff act on it with the card's buttons, the resident answers a
question and says whether it is fixed, and every message each side gets is checked, in the
resident's language. The fake Bot API server on 127.0.0.1, the real bot (polling), the outbox
worker and a real database (SQLite; PostgreSQL too when TEST_DATABASE_URL is set)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from bot.config import Settings
from handlers.desk import menu_commands
from handlers.formatting import category_name
from handlers.i18n import Translator, to_plain, translator
from models.domain.outbox import OutboxMessage, OutboxStatus
from models.domain.status import Status
from models.domain.tables import Actor, EventKind, Request
from tests.desk_settings import ADMIN, LIGHTING_CHAT, OPERATORS_CHAT, desk_settings
from tests.fakes.telegram_server import Call, FakeTelegramServer
from tests.telegram_harness import Harness, running_bot

STAFF = 700_002  # lighting department
RESIDENT = 555_101
WAIT = 10.0  # generous; every wait ends as soon as its message arrives

CARD_ACTIONS = ["accept", "progress", "needinfo", "resolve", "reject", "reassign", "dup"]


@pytest.fixture
async def srv() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer() as server:
        yield server


def plain(tr: Translator, lang: str, key: str, **kw: object) -> str:
    """What a person reads for a catalog key (Telegram shows HTML as text)."""
    return to_plain(tr.t(lang, key, **kw))


def visible(message: dict[str, Any]) -> str:
    """The text of a sent message as Telegram shows it."""
    return to_plain(str(message.get("text") or message.get("caption") or ""))


async def wait_sent(h: Harness, chat: int, count: int) -> list[str]:
    """Wait until ``chat`` got ``count`` messages in all; return what each says."""
    await h.wait_texts(chat, count, wait=WAIT)
    return [visible(m) for m in h.srv.sent_messages(chat)]


async def wait_edit(srv: FakeTelegramServer, chat: int, message_id: int, text: str) -> Call:
    """Wait for the card ``message_id`` in ``chat`` to be edited to show ``text``."""

    def edited(c: Call) -> bool:
        return (
            c.ok
            and c.method == "editMessageText"
            and c.params.get("chat_id") == chat
            and c.params.get("message_id") == message_id
            and text in to_plain(str(c.params.get("text")))
        )

    calls = await srv.wait_for(edited, timeout=WAIT)
    return calls[-1]


def button_data(message: dict[str, Any]) -> list[str]:
    markup = message.get("reply_markup") or {}
    return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row]


async def file_request(h: Harness, lang: str, tr: Translator) -> None:
    """The resident's dialog, as in Telegram: buttons, typed text, the input keyboard's labels."""
    s, user = h.srv, RESIDENT
    await h.step(user, s.message_update(user, "/start", language_code=lang))
    await h.step(user, s.callback_update(user, f"lang:{lang}"))
    await h.step(user, s.callback_update(user, "menu:new"))
    await h.step(user, s.callback_update(user, "cat:lighting"))
    await h.step(user, s.callback_update(user, "sub:light_off"))
    await h.step(user, s.message_update(user, "вул. Лермонтова, 12, біля «Сільпо»"))
    await h.step(user, s.message_update(user, "Ліхтар не світить третій тиждень, дуже темно"))
    await h.step(user, s.message_update(user, tr.t(lang, "photos.skip")))
    await h.step(user, s.message_update(user, tr.t(lang, "new.skip_phone")), expect=2)
    texts = await h.step(user, s.callback_update(user, "confirm"))
    assert "20" in texts[0]  # the number


async def load(sessions: async_sessionmaker[AsyncSession]) -> Request:
    async with sessions() as session:
        return (
            await session.execute(
                select(Request).options(selectinload(Request.events), selectinload(Request.photos))
            )
        ).scalar_one()


async def staff_says(h: Harness, chat: int, update: dict[str, Any]) -> str:
    """Staff act in the group; the bot answers them there at once (not through the outbox)."""
    texts = await h.step(chat, update)
    return to_plain(texts[-1])


def assert_resident_language(text: str, lang: str) -> None:
    has_cyrillic = any("\u0400" <= ch <= "\u04ff" for ch in text)
    assert has_cyrillic == (lang != "en"), text
    assert "notify." not in text and "feedback." not in text, text  # never a bare catalog key
    if lang == "uk":
        assert "Звернення" in text, text  # the catalog's word for a request


@pytest.mark.parametrize("lang", ["en", "uk"])
async def test_a_request_from_filing_to_closed(
    lang: str,
    srv: FakeTelegramServer,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    cfg = desk_settings(settings, staff_language="en")
    tr = translator()
    s = srv
    group = LIGHTING_CHAT

    def staff(key: str, **kw: object) -> str:
        return plain(tr, "en", key, **kw)

    def status(value: Status) -> str:
        return staff(f"status.{value.value}")

    async with running_bot(srv, engine, sessions, cfg) as h:
        # The bootstrap admin makes the department's staff member.
        added = await h.step(
            ADMIN, s.message_update(ADMIN, f"/staff add {STAFF} department lighting")
        )
        assert to_plain(added[0]) == staff(
            "staff.added", id=STAFF, role="department", department="lighting"
        )
        menus = await s.wait_for(
            lambda c: (
                c.method == "setMyCommands"
                and (c.params.get("scope") or {}).get("chat_id") == STAFF
            )
        )
        # The menu Telegram shows staff is the desk's own list of commands, in its order.
        assert [c["command"] for c in menus[0].params["commands"]] == list(menu_commands())

        # --- the resident files a request; the card appears in the department's group
        await file_request(h, lang, tr)
        req = await load(sessions)
        number, rid = req.number, req.id
        seen_by_resident = len(s.sent_messages(RESIDENT))

        cards = await wait_sent(h, group, 1)
        card = s.sent_messages(group)[0]
        category = category_name(cfg, "en", "lighting", "light_off")
        for part in (
            number,
            to_plain(category),
            "вул. Лермонтова, 12, біля «Сільпо»",
            status(Status.NEW),
        ):
            assert part in cards[0], part
        assert button_data(card) == [f"s:{a}:{rid}" for a in CARD_ACTIONS]
        card_id = int(s.chat_history(group)[-1]["message_id"])
        # The operators' group gets every card too.
        assert number in (await wait_sent(h, OPERATORS_CHAT, 1))[0]

        resident_got: list[str] = []

        async def resident_gets(count: int = 1) -> list[str]:
            texts = await wait_sent(h, RESIDENT, seen_by_resident + len(resident_got) + count)
            new = texts[seen_by_resident + len(resident_got) :]
            resident_got.extend(new)
            for text in new:
                assert_resident_language(text, lang)
            return new

        def resident(key: str, **kw: object) -> str:
            return plain(tr, lang, key, **kw)

        def resident_status(value: Status) -> str:
            return resident(f"status.{value.value}")

        # --- Accept
        answer = await staff_says(
            h, group, s.callback_update(STAFF, f"s:accept:{rid}", chat_id=group, message_id=card_id)
        )
        assert answer == staff("staff.done_status", number=number, status=status(Status.ASSIGNED))
        assert await resident_gets() == [
            resident("notify.status", number=number, status=resident_status(Status.ASSIGNED))
        ]
        await wait_edit(s, group, card_id, status(Status.ASSIGNED))

        # --- In progress
        answer = await staff_says(
            h,
            group,
            s.callback_update(STAFF, f"s:progress:{rid}", chat_id=group, message_id=card_id),
        )
        assert answer == staff(
            "staff.done_status", number=number, status=status(Status.IN_PROGRESS)
        )
        assert await resident_gets() == [
            resident("notify.status", number=number, status=resident_status(Status.IN_PROGRESS))
        ]
        await wait_edit(s, group, card_id, status(Status.IN_PROGRESS))

        # --- Need info: the bot asks for the question with a forced reply
        answer = await staff_says(
            h,
            group,
            s.callback_update(STAFF, f"s:needinfo:{rid}", chat_id=group, message_id=card_id),
        )
        # Addressed to who pressed: in a group a selective forced reply opens for them only.
        assert answer == f"User{STAFF}, " + staff("staff.prompt.needinfo", number=number)
        prompt = s.sent_messages(group)[-1]
        assert prompt["reply_markup"] == {"force_reply": True, "selective": True}
        assert f'<a href="tg://user?id={STAFF}">' in prompt["text"]
        prompt_id = int(s.chat_history(group)[-1]["message_id"])
        question = "Which pole exactly — the one by the bus stop?"
        answer = await staff_says(
            h,
            group,
            s.message_update(STAFF, question, chat_id=group, reply_to_message_id=prompt_id),
        )
        assert answer == staff("staff.done_status", number=number, status=status(Status.NEEDS_INFO))
        assert await resident_gets() == [
            resident("notify.needs_info", number=number, question=question)
        ]
        await wait_edit(s, group, card_id, status(Status.NEEDS_INFO))

        # --- the resident answers with a text, then a photo
        group_before = len(s.sent_messages(group))
        reply = await h.step(
            RESIDENT, s.message_update(RESIDENT, "Так, біля зупинки «Парк», опора №7")
        )
        assert to_plain(reply[0]) == resident("feedback.answer_passed", number=number)
        seen_by_resident += 1
        photo = await h.step(RESIDENT, s.message_update(RESIDENT, photo=b"\xff\xd8pole-7"))
        assert to_plain(photo[0]) == resident("feedback.answer_passed", number=number)
        seen_by_resident += 1
        forwarded = (await wait_sent(h, group, group_before + 2))[group_before:]
        assert "Так, біля зупинки «Парк», опора №7" in forwarded[0]
        assert forwarded[0] == staff(
            "desk.answer", number=number, text="Так, біля зупинки «Парк», опора №7"
        )
        assert s.sent_messages(group)[group_before + 1].get("photo"), "the photo is forwarded"
        await wait_edit(s, group, card_id, status(Status.IN_PROGRESS))
        async with sessions() as session:
            now = await session.get(Request, rid)
            assert now is not None and now.status is Status.IN_PROGRESS

        # --- Resolve: the resident is asked whether it is fixed
        answer = await staff_says(
            h,
            group,
            s.callback_update(STAFF, f"s:resolve:{rid}", chat_id=group, message_id=card_id),
        )
        assert answer == f"User{STAFF}, " + staff("staff.prompt.resolve", number=number)
        prompt_id = int(s.chat_history(group)[-1]["message_id"])
        # The group's other talk, even the same person's, answers nothing (issue 17, break 13):
        # not a message that is no reply, nor a reply to another of the bot's messages.
        s.push_update(s.message_update(STAFF, "Colleagues, who took the van keys?", chat_id=group))
        s.push_update(
            s.message_update(STAFF, "Van is back.", chat_id=group, reply_to_message_id=card_id)
        )
        done = "Replaced the lamp on pole 7."
        answer = await staff_says(
            h, group, s.message_update(STAFF, done, chat_id=group, reply_to_message_id=prompt_id)
        )
        assert answer == staff("staff.done_status", number=number, status=status(Status.RESOLVED))

        def resolution(note: str) -> str:
            head = tr.t(lang, "notify.status", number=number, status=tr.t(lang, "status.resolved"))
            note_line = tr.t(lang, "notify.note", note=note)
            return to_plain(f"{head}\n{note_line}\n\n{tr.t(lang, 'feedback.question')}")

        assert await resident_gets() == [resolution(done)]
        question_msg = s.sent_messages(RESIDENT)[-1]
        assert button_data(question_msg) == [f"fb:yes:{rid}", f"fb:no:{rid}"]
        labels = [b["text"] for row in question_msg["reply_markup"]["inline_keyboard"] for b in row]
        assert labels == [resident("feedback.yes"), resident("feedback.no")]
        await wait_edit(s, group, card_id, status(Status.RESOLVED))

        # --- "No, not fixed": reopened, the department told, the card updated
        group_before = len(s.sent_messages(group))
        reply = await h.step(RESIDENT, s.callback_update(RESIDENT, f"fb:no:{rid}"))
        assert to_plain(reply[0]) == resident("feedback.reopened", number=number)
        seen_by_resident += 1
        told = (await wait_sent(h, group, group_before + 1))[group_before:]
        assert told == [staff("desk.reopened", number=number)]
        await wait_edit(s, group, card_id, status(Status.REOPENED))

        # --- Resolve again, by command this time; "Yes, fixed" and a rating of 5
        answer = await staff_says(
            h,
            group,
            s.message_update(
                STAFF, f"/resolve {number} Replaced the cable as well.", chat_id=group
            ),
        )
        assert answer == staff("staff.done_status", number=number, status=status(Status.RESOLVED))
        assert await resident_gets() == [resolution("Replaced the cable as well.")]
        reply = await h.step(RESIDENT, s.callback_update(RESIDENT, f"fb:yes:{rid}"))
        assert to_plain(reply[0]) == resident("feedback.thanks_rate", number=number)
        seen_by_resident += 1
        assert button_data(s.sent_messages(RESIDENT)[-1]) == [
            f"rate:{rid}:{n}" for n in range(1, 6)
        ]
        await wait_edit(s, group, card_id, status(Status.CLOSED))
        group_before = len(s.sent_messages(group))
        reply = await h.step(RESIDENT, s.callback_update(RESIDENT, f"rate:{rid}:5"))
        assert to_plain(reply[0]) == resident("feedback.rated")
        seen_by_resident += 1
        assert (await wait_sent(h, group, group_before + 1))[group_before:] == [
            staff("desk.rating", number=number, rating=5)
        ]
        final = await wait_edit(s, group, card_id, staff("card.rating", rating=5))
        assert status(Status.CLOSED) in to_plain(str(final.params["text"]))

        # A press on an old button changes nothing any more.
        reply = await h.step(RESIDENT, s.callback_update(RESIDENT, f"fb:no:{rid}", message_id=None))
        assert to_plain(reply[0]) == resident("feedback.too_late")
        seen_by_resident += 1

        # The card was edited in place all along: one card message per group, never re-posted.
        card_posts = [
            m for m in s.sent_messages(group) if button_data(m)[:1] == [f"s:accept:{rid}"]
        ]
        assert len(card_posts) == 1
        shown = next(m for m in s.chat_history(group) if m["message_id"] == card_id)
        assert status(Status.CLOSED) in shown["text"] and number in shown["text"]
        assert "reply_markup" not in shown, "a closed request's card has no buttons left"
        # Everything still queued goes out while the bot runs (a stopping bot hands back what
        # it has not sent: checked below, after the stop, it would only wait for nothing).
        for _ in range(200):
            async with sessions() as session:
                queued = await session.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.status == OutboxStatus.PENDING)
                )
            if not queued:
                break
            await asyncio.sleep(0.1)

    # What the resident got from the city, in their language, in order.
    assert resident_got == [
        resident("notify.status", number=number, status=resident_status(Status.ASSIGNED)),
        resident("notify.status", number=number, status=resident_status(Status.IN_PROGRESS)),
        resident("notify.needs_info", number=number, question=question),
        resolution(done),
        resolution("Replaced the cable as well."),
    ]
    # Nothing Telegram refused (a card refreshed twice to the same state is "not modified").
    refused = [
        str(c)
        for c in srv.calls
        if c.method.startswith(("send", "edit")) and not c.ok and "not modified" not in str(c.error)
    ]
    assert not refused

    req = await load(sessions)
    assert req.status is Status.CLOSED and req.rating == 5
    assert req.resolved_at is not None and req.closed_at is not None
    assert [p.file_ref for p in req.photos] != []
    history = [
        (
            e.kind,
            e.actor,
            e.old_status,
            e.new_status,
            e.text if e.kind is not EventKind.PHOTO else "",
        )
        for e in req.events
    ]
    S, R, A = Status, Actor.RESIDENT, Actor.STAFF
    assert history == [
        (EventKind.CREATED, R, None, S.NEW, None),
        (EventKind.STATUS, A, S.NEW, S.ASSIGNED, None),
        (EventKind.STATUS, A, S.ASSIGNED, S.IN_PROGRESS, None),
        (EventKind.STATUS, A, S.IN_PROGRESS, S.NEEDS_INFO, question),
        (EventKind.COMMENT, R, None, None, "Так, біля зупинки «Парк», опора №7"),
        (EventKind.STATUS, R, S.NEEDS_INFO, S.IN_PROGRESS, None),
        (EventKind.PHOTO, R, None, None, ""),
        (EventKind.STATUS, A, S.IN_PROGRESS, S.RESOLVED, done),
        (EventKind.STATUS, R, S.RESOLVED, S.REOPENED, None),
        (EventKind.STATUS, A, S.REOPENED, S.RESOLVED, "Replaced the cable as well."),
        (EventKind.STATUS, R, S.RESOLVED, S.CLOSED, None),
        (EventKind.RATING, R, None, None, "5"),
    ]
    assert all(e.actor_id == str(STAFF) for e in req.events if e.actor is Actor.STAFF)
    # Everything was delivered: the last card edit may still wait for the group's pace (one
    # message per 3 s in a group), so the outbox is given that long to drain.
    for _ in range(200):
        async with sessions() as session:
            outbox = list((await session.execute(select(OutboxMessage))).scalars())
        if outbox and all(m.status is OutboxStatus.SENT for m in outbox):
            break
        await asyncio.sleep(0.1)
    assert outbox and all(m.status is OutboxStatus.SENT for m in outbox), [
        (m.recipient, m.status, m.last_error) for m in outbox if m.status is not OutboxStatus.SENT
    ]


async def test_two_staff_pressing_the_same_button_at_once_act_once(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    """Two people in the group press Accept together: one of them accepts, the other is told
    it is already accepted, and the resident hears about it once."""
    import asyncio

    from handlers.desk.engine import StaffDesk
    from handlers.types import Incoming, Kind
    from models.domain.staff import Role
    from tests.desk_data import add_request, add_staff

    cfg = desk_settings(settings, staff_language="en")
    req = await add_request(sessions, cfg, resident=str(RESIDENT), category="lighting")
    others = [STAFF + 1 + i for i in range(4)]
    for who in [STAFF, *others]:
        await add_staff(sessions, who, Role.DEPARTMENT, "lighting")
    desk = StaffDesk(sessions, cfg, translator())

    def press(who: int) -> Incoming:
        return Incoming(
            channel="telegram",
            user_id=str(who),
            chat_id=str(LIGHTING_CHAT),
            group=True,
            kind=Kind.BUTTON,
            payload=f"s:accept:{req.id}",
        )

    answers = await asyncio.gather(*(desk.handle(press(w)) for w in [STAFF, *others]))
    texts = sorted(to_plain(a[0].text) for a in answers if a)
    tr = translator()
    done = to_plain(
        tr.t("en", "staff.done_status", number=req.number, status=tr.t("en", "status.assigned"))
    )
    refused = to_plain(
        tr.t(
            "en",
            "staff.illegal",
            number=req.number,
            old=tr.t("en", "status.assigned"),
            new=tr.t("en", "status.assigned"),
        )
    )
    assert texts == sorted([done] + [refused] * len(others))
    stored = await load(sessions)
    assert [e.new_status for e in stored.events] == [Status.NEW, Status.ASSIGNED]
    async with sessions() as session:
        to_resident = (
            await session.execute(
                select(OutboxMessage).where(OutboxMessage.recipient == str(RESIDENT))
            )
        ).scalars()
        assert len(list(to_resident)) == 1
