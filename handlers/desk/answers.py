"""Ready answers (bot.toml ``[templates.<name>]`` and a department's own): staff write
``#name`` instead of the text after /reply, /needinfo, /resolve, /reject or in a card's prompt,
and each resident gets it in their own language with the request's number, address, deadline
and department filled in. The /templates command (templates.py) lists them."""

from __future__ import annotations

import html
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.formatting import department_name, place, shorten, when
from handlers.i18n import Translator
from models.domain.city import AnswerTemplate, CityConfig
from models.domain.lifecycle import resident_of
from models.domain.tables import Request

PREVIEW = 70


@dataclass(frozen=True)
class UnknownTemplate:
    name: str


def usable(config: CityConfig, department: str | None) -> dict[str, AnswerTemplate]:
    """The templates for a request of ``department``: the global ones, a department's own
    over them."""
    found = dict(config.templates)
    dept = config.department(department) if department else None
    if dept is not None:
        found.update(dept.templates)
    return found


def listing(config: CityConfig, tr: Translator, lang: str, scope: str | None) -> str:
    """The names and the ``lang`` text of the templates a staff member may use: the global
    ones and their department's (``scope``); for those who see every department, all."""
    groups: list[tuple[str, dict[str, AnswerTemplate]]] = [("", dict(config.templates))]
    for dept in config.departments:
        if dept.templates and scope in (None, dept.code):
            groups.append((department_name(config, lang, dept.code), dict(dept.templates)))
    lines: list[str] = []
    for title, templates in groups:
        if not templates:
            continue
        lines.append(f"<b>{_esc(title)}</b>" if title else tr.t(lang, "staff.templates_global"))
        for name, template in sorted(templates.items()):
            text = template.get(lang)
            lines.append(f"#{name} — {_esc(shorten(text, PREVIEW))}")
    if not lines:
        return tr.t(lang, "staff.templates_none")
    return tr.t(lang, "staff.templates_header") + "\n" + "\n".join(lines)


async def resolve(
    session: AsyncSession, config: CityConfig, tr: Translator, req: Request, text: str
) -> str | UnknownTemplate:
    """``text`` as the resident will get it: ``#name`` (alone) becomes that template in the
    resident's language; anything else is returned as typed."""
    stripped = text.strip()
    if not stripped.startswith("#") or any(c.isspace() for c in stripped):
        return text
    name = stripped[1:].lower()
    template = usable(config, req.department).get(name)
    if template is None:
        return UnknownTemplate(name)
    resident = await resident_of(session, req)  # the one the notification goes to
    lang = (resident.language if resident is not None else None) or req.language
    return template.get(lang).format(
        number=req.number,
        address=place(tr, lang, req.address, req.latitude, req.longitude),
        deadline=when(config, lang, req.deadline_at) if req.deadline_at else "—",
        department=department_name(config, lang, req.department),
    )


def _esc(text: str) -> str:
    return html.escape(text, quote=False)
