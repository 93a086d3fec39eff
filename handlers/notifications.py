"""Rendering what the outbox holds: notifications to residents (in their language) and the
request cards in department chats (in the staff's language). Rendering happens when a message
is sent, so a card always shows the request as it is then."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bot.config import Settings
from handlers.i18n import Safe, Translator
from handlers.types import Button, Reply
from models.base import as_utc, utcnow
from models.entities import EventKind, Request, Status
from models.lifecycle import TRANSITIONS


def desk_chats(settings: Settings, department: str) -> list[str]:
    """The Telegram chats that keep a card of a department's requests."""
    chats: list[str] = []
    dept = settings.department(department)
    if dept is not None and dept.telegram_chat_id is not None:
        chats.append(str(dept.telegram_chat_id))
    if settings.staff.operators_chat_id is not None:
        chats.append(str(settings.staff.operators_chat_id))
    return list(dict.fromkeys(chats))


def category_name(settings: Settings, lang: str, code: str, sub: str | None) -> str:
    cat = settings.category(code)
    if cat is None:
        return code
    label = f"{cat.emoji} {cat.name.get(lang)}".strip()
    for s in cat.subcategories:
        if s.code == sub:
            label += f" › {s.name.get(lang)}"
    return label


def department_name(settings: Settings, lang: str, code: str) -> str:
    dept = settings.department(code)
    return dept.name.get(lang) if dept else code


def when_local(settings: Settings, lang: str, value: datetime) -> str:
    from handlers.deadlines import when

    return when(settings, lang, value)


def local_time(settings: Settings, value: Any) -> str:
    from zoneinfo import ZoneInfo

    return as_utc(value).astimezone(ZoneInfo(settings.city.timezone)).strftime("%d.%m.%Y %H:%M")


def render_notification(settings: Settings, tr: Translator, body: dict[str, Any]) -> Reply:
    """A resident's or a desk chat's message from an outbox body."""
    event = str(body.get("event", ""))
    lang = str(body.get("lang") or settings.staff.language)
    number = str(body.get("number", ""))
    rid = body.get("request_id")

    def t(key: str, **kw: object) -> str:
        return tr.t(lang, key, **kw)

    if event == "status":
        status = Status(body["status"])
        note = body.get("note")
        text = t("notify.status", number=number, status=t(f"status.{status.value}"))
        if status is Status.NEEDS_INFO:
            text = t("notify.needs_info", number=number, question=note or "")
            return Reply(text, lang=lang)
        if note:
            text += "\n" + t("notify.note", note=note)
        if status is Status.RESOLVED:
            text += "\n\n" + t("feedback.question")
            return Reply(
                text,
                [
                    [
                        Button(tr.t(lang, "feedback.yes"), f"fb:yes:{rid}"),
                        Button(tr.t(lang, "feedback.no"), f"fb:no:{rid}"),
                    ]
                ],
                lang=lang,
            )
        return Reply(text, lang=lang)
    if event == "deadline":
        due = when_local(settings, lang, datetime.fromisoformat(str(body["deadline"])))
        return Reply(
            t("notify.deadline", number=number, deadline=due, reason=str(body.get("reason", ""))),
            lang=lang,
        )
    if event == "reply":
        return Reply(t("notify.reply", number=number, text=str(body.get("text", ""))), lang=lang)
    if event == "reassigned":
        dept = department_name(settings, lang, str(body.get("department", "")))
        return Reply(t("notify.reassigned", number=number, department=dept), lang=lang)
    if event == "desk_comment":
        return Reply(
            t("desk.comment", number=number, text=str(body.get("text", ""))),
            photos=[str(body["photo"])] if body.get("photo") else [],
            lang=lang,
        )
    if event == "desk_answer":
        return Reply(
            t("desk.answer", number=number, text=str(body.get("text", ""))),
            photos=[str(body["photo"])] if body.get("photo") else [],
            lang=lang,
        )
    if event == "desk_reopened":
        return Reply(t("desk.reopened", number=number), lang=lang)
    if event == "desk_rating":
        return Reply(t("desk.rating", number=number, rating=int(body.get("rating", 0))), lang=lang)
    if event == "text":
        return Reply(str(body.get("text", "")), lang=lang)
    if event in ("desk_reminder", "desk_overdue"):  # from handlers/jobs.py
        raw = body.get("deadline")
        deadline = local_time(settings, datetime.fromisoformat(str(raw))) if raw else "—"
        department = department_name(settings, lang, str(body.get("department", "")))
        if event == "desk_reminder":
            return Reply(
                t("desk.reminder", number=number, department=department, deadline=deadline),
                lang=lang,
            )
        count = int(body.get("escalations", 1))
        return Reply(
            t(
                "desk.overdue" if count <= 1 else "desk.overdue_again",
                number=number,
                department=department,
                deadline=deadline,
                count=count,
            ),
            lang=lang,
        )
    if event == "desk_closed_unconfirmed":
        return Reply(t("desk.closed_unconfirmed", number=number), lang=lang)
    if event == "desk_closed_no_answer":
        return Reply(t("desk.closed_no_answer", number=number), lang=lang)
    if event in ("fix_followup", "needinfo_followup"):
        close_at = local_time(settings, datetime.fromisoformat(str(body["close_at"])))
        if event == "fix_followup":
            return Reply(
                t("notify.fix_followup", number=number, close_at=close_at),
                [
                    [
                        Button(tr.t(lang, "feedback.yes"), f"fb:yes:{rid}"),
                        Button(tr.t(lang, "feedback.no"), f"fb:no:{rid}"),
                    ]
                ],
                lang=lang,
            )
        question = str(body.get("question") or "")
        if question:
            text = t("notify.needinfo_followup", number=number, question=question)
        else:
            text = t("notify.needinfo_followup_plain", number=number)
        return Reply(text + "\n" + t("notify.closes_at", close_at=close_at), lang=lang)
    if event == "digest":
        chart = body.get("chart")
        photos = [f"file:{chart}"] if chart else []
        return Reply(str(body.get("text", "")), photos=photos, lang=lang)
    raise ValueError(f"unknown notification event {event!r}")


STAFF_ACTIONS: tuple[tuple[str, Status | None], ...] = (
    ("accept", Status.ASSIGNED),
    ("progress", Status.IN_PROGRESS),
    ("needinfo", Status.NEEDS_INFO),
    ("resolve", Status.RESOLVED),
    ("reject", Status.REJECTED),
    ("reassign", None),
)


def card_buttons(tr: Translator, lang: str, req: Request) -> list[list[Button]]:
    allowed = TRANSITIONS[req.status]
    buttons = [
        Button(tr.t(lang, f"card.{action}"), f"s:{action}:{req.id}")
        for action, target in STAFF_ACTIONS
        if (target in allowed) or (target is None and req.status not in _FINAL)
    ]
    return [buttons[i : i + 3] for i in range(0, len(buttons), 3)]


_FINAL = frozenset({Status.CLOSED, Status.REJECTED, Status.CANCELLED})


async def load_card_request(session: AsyncSession, request_id: int) -> Request | None:
    return (
        await session.execute(
            select(Request)
            .where(Request.id == request_id)
            .options(selectinload(Request.photos), selectinload(Request.events))
        )
    ).scalar_one_or_none()


def deadline_line(
    settings: Settings, tr: Translator, lang: str, req: Request, now: datetime
) -> str:
    """The deadline as staff need it: how long is left, how late it is, or that it waits."""
    if req.deadline_at is None or req.status in _FINAL:
        return local_time(settings, req.deadline_at) if req.deadline_at else "—"
    due = local_time(settings, req.deadline_at)
    if req.status is Status.NEEDS_INFO:
        return tr.t(lang, "card.deadline_paused")
    if req.status is Status.RESOLVED:
        return due
    left = as_utc(req.deadline_at) - as_utc(now)
    hours, minutes = divmod(int(abs(left.total_seconds())) // 60, 60)
    key = "card.deadline_left" if left.total_seconds() >= 0 else "card.deadline_overdue"
    return tr.t(lang, key, deadline=due, hours=hours, minutes=minutes)


def render_card(
    settings: Settings, tr: Translator, req: Request, now: datetime | None = None
) -> Reply:
    lang = settings.staff.language
    now = now or utcnow()
    last = next(
        (e for e in reversed(req.events) if e.kind in (EventKind.STATUS, EventKind.REASSIGNED)),
        None,
    )
    acted = ""
    if last is not None:
        who = (
            tr.t(lang, "card.by_resident")
            if last.actor.value == "resident"
            else (last.actor_id or "—")
        )
        acted = tr.t(lang, "card.acted", who=who, when=local_time(settings, last.at))
    text = tr.t(
        lang,
        "card.text",
        number=req.number,
        status=tr.t(lang, f"status.{req.status.value}"),
        category=category_name(settings, lang, req.category, req.subcategory),
        department=department_name(settings, lang, req.department),
        address=req.address or "—",
        description=req.description or "—",
        photos=len(req.photos),
        language=req.language,
        phone=req.phone or tr.t(lang, "summary.no_phone"),
        created=local_time(settings, req.created_at),
        deadline=Safe(deadline_line(settings, tr, lang, req, now)),
        priority=Safe(
            tr.t(lang, f"card.priority.{req.priority}")
            if req.priority in ("emergency", "high")
            else ""
        ),
        acted=Safe(acted),
        rating=Safe(tr.t(lang, "card.rating", rating=req.rating) if req.rating else ""),
    )
    return Reply(
        text.strip(),
        card_buttons(tr, lang, req),
        photos=[p.file_ref for p in req.photos],
        latitude=req.latitude,
        longitude=req.longitude,
        lang=lang,
    )
