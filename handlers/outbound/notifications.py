"""Rendering what the outbox holds for a resident or a desk chat (cards: handlers/outbound/
cards.py). Rendering happens when a message is sent, in the recipient's language."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from handlers.formatting import (
    audio_length,
    category_name,
    department_name,
    local_time,
    when,
)
from handlers.i18n import Translator
from handlers.types import Button, Reply
from models.domain.city import CityConfig
from models.domain.status import Status


def render_notification(settings: CityConfig, tr: Translator, body: dict[str, Any]) -> Reply:
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
        photos = [str(p) for p in body.get("photos") or []]  # the department's, of the fix
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
                photos=photos,
                lang=lang,
            )
        return Reply(text, photos=photos, lang=lang)
    if event == "merged":  # /merge: the request closed as a duplicate; they follow the main one
        return Reply(t("notify.merged", number=number, main=str(body.get("main", ""))), lang=lang)
    if event == "proof":
        return Reply(
            t("notify.proof_more", number=number),
            photos=[str(p) for p in body.get("photos") or []],
            lang=lang,
        )
    if event == "outage_over":
        category = category_name(settings, lang, str(body.get("category", "")), None)
        over = str(body.get("text") or "")
        if over:
            return Reply(t("outage.over", category=category, text=over), lang=lang)
        return Reply(t("outage.over_plain", category=category), lang=lang)
    if event == "deadline":
        due = when(settings, lang, datetime.fromisoformat(str(body["deadline"])))
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
        text = str(body.get("text", ""))
        if body.get("voice"):
            length = audio_length(int(body.get("voice_seconds") or 0)) or "—"
            text = "\n".join(x for x in (text, t("card.voice", length=length)) if x)
        return Reply(
            t("desk.comment", number=number, text=text),
            photos=[str(body["photo"])] if body.get("photo") else [],
            voice=str(body.get("voice") or ""),
            lang=lang,
        )
    if event == "desk_answer":
        return Reply(
            t("desk.answer", number=number, text=str(body.get("text", ""))),
            photos=[str(body["photo"])] if body.get("photo") else [],
            lang=lang,
        )
    if event == "desk_log":  # a request's topic in a forum group: what staff did
        who = str(body.get("by") or "—")
        note = str(body.get("text") or "")
        if body.get("what") == "reply":
            line = t("desk.log_reply", number=number, who=who, text=note)
        else:
            said = t(f"status.{Status(str(body['status'])).value}")
            line = t("desk.log_status", number=number, who=who, status=said)
            if note:
                line += "\n" + t("notify.note", note=note)
        return Reply(line, photos=[str(p) for p in body.get("photos") or []], lang=lang)
    if event == "desk_reopened":
        return Reply(t("desk.reopened", number=number), lang=lang)
    if event == "desk_undelivered":
        return Reply(
            t("desk.undelivered", number=number, error=str(body.get("error", ""))), lang=lang
        )
    if event == "desk_unreachable":
        return Reply(t("desk.unreachable", number=number), lang=lang)
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
    if event in ("digest", "weekly"):  # the weekly ranking has no chart
        chart = body.get("chart")
        photos = [f"file:{chart}"] if chart else []
        return Reply(str(body.get("text", "")), photos=photos, lang=lang)
    raise ValueError(f"unknown notification event {event!r}")
