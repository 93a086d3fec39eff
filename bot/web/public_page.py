"""The public accountability page at / and /uk, /ru, /en: this month's and this year's figures
per department, a chart, the open requests (on a map when tiles are configured, always as a
table), and a search by request number. Server-rendered; the only script is the map's."""

from __future__ import annotations

import asyncio
import json
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from html import escape
from pathlib import Path
from string import Template
from zoneinfo import ZoneInfo

from aiohttp import web
from babel.dates import format_date
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.web.chart import bar_chart
from handlers.formatting import category_name, department_name, local_time, place
from handlers.i18n import LANGUAGES, Translator, to_plain
from models.domain.base import utcnow
from models.domain.requests import parse_number
from models.domain.tables import EventKind
from models.storage.public_figures import TOTAL, Figures, counts_by_month, department_figures
from models.storage.public_queries import PublicRequest, get_request, open_requests


def plain_label(text: str) -> str:
    """A label without its emoji: the bot's category and status names start with one, and a
    browser without an emoji font shows an empty box instead."""
    kept = (
        ch
        for ch in text
        if unicodedata.category(ch) not in ("So", "Sk", "Cf", "Cs", "Co")
        and not 0xFE00 <= ord(ch) <= 0xFE0F
    )
    return " ".join("".join(kept).split())


TEMPLATE = Template((Path(__file__).parent / "templates" / "page.html").read_text("utf-8"))
OPEN_LISTED = 100  # the open requests listed in the table (the map shows up to 500)
DASH = "\u2014"


_Data = tuple[
    dict[str, Figures], dict[str, Figures], list[tuple[date, int, int]], list[PublicRequest]
]


@dataclass
class PublicPage:
    settings: Settings
    tr: Translator
    read_sessions: async_sessionmaker[AsyncSession]
    clock: Callable[[], datetime] = utcnow
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)
    _data: tuple[float, tuple[datetime, datetime], _Data] | None = field(default=None, init=False)

    def _t(self, lang: str, key: str, **kwargs: object) -> str:
        return self.tr.t(lang, key, **kwargs)

    async def page(self, request: web.Request) -> web.Response:
        lang = request.match_info.get("lang") or self.settings.default_language
        if lang not in LANGUAGES:
            raise web.HTTPNotFound()
        number = request.query.get("number", "").strip()[:32]
        html = await self.render(lang, number, now=self.clock())
        return web.Response(text=html, content_type="text/html", charset="utf-8")

    async def render(self, lang: str, number: str, *, now: datetime) -> str:
        tz = ZoneInfo(self.settings.city.timezone)
        local = now.astimezone(tz)
        month_start = datetime(local.year, local.month, 1, tzinfo=tz).astimezone(UTC)
        year_start = datetime(local.year, 1, 1, tzinfo=tz).astimezone(UTC)
        this_month = date(local.year, local.month, 1)
        month, year, months, open_now = await self._figures_data(now, month_start, year_start)
        found = None
        if parse_number(number):
            async with self.read_sessions() as session:
                found = await get_request(session, number)
        t = self._t
        city = self.settings.city.name.get(lang)
        body = [
            self._search(lang, number, found),
            self._figures(
                lang,
                "month",
                t(lang, "web.month.heading", period=format_date(local, "LLLL yyyy", locale=lang)),
                month,
            ),
            self._figures(lang, "year", t(lang, "web.year.heading", period=str(local.year)), year),
            self._chart(lang, this_month, months),
            self._open(lang, open_now, now),
            f'<section aria-labelledby="explain"><h2 id="explain">'
            f"{t(lang, 'web.explain.heading')}</h2><p>{t(lang, 'web.explain.text')}</p></section>",
        ]
        languages = "".join(
            f'<li><a href="/{code}" lang="{code}" hreflang="{code}"'
            + (' aria-current="page"' if code == lang else "")
            + f">{escape(self.tr.plain(code, 'web.language'))}</a></li>"
            for code in LANGUAGES
        )
        head, script = self._map_assets(lang, open_now)
        return TEMPLATE.substitute(
            lang=lang,
            title=t(lang, "web.title", city=city),
            lead=t(lang, "web.lead"),
            languages_label=t(lang, "web.languages"),
            languages=languages,
            body="\n".join(body),
            footer=f'<p><a href="/open311/v2/discovery.json">{t(lang, "web.api")}</a></p>',
            map_head=head,
            map_script=script,
        )

    async def _figures_data(
        self, now: datetime, month_start: datetime, year_start: datetime
    ) -> _Data:
        """The figures, the chart's counts and the open requests: the page's costly part (it
        reads every request of the year), shared by every language and every search for
        [web] cache_seconds, and computed once however many readers ask at the same time."""
        async with self._lock:
            cached = self._data
            if (
                cached is not None
                and cached[0] > time.monotonic()
                and cached[1]
                == (
                    month_start,
                    year_start,
                )
            ):
                return cached[2]
            tz = ZoneInfo(self.settings.city.timezone)
            async with self.read_sessions() as session:
                data = (
                    await department_figures(session, month_start, now, now=now),
                    await department_figures(session, year_start, now, now=now),
                    await counts_by_month(session, year_start, now, tz),
                    await open_requests(session),
                )
            expires = time.monotonic() + self.settings.web.cache_seconds
            self._data = (expires, (month_start, year_start), data)
            return data

    def _place(self, lang: str, r: PublicRequest) -> str:
        return to_plain(place(self.tr, lang, r.address, r.latitude, r.longitude))

    # --- the search ------------------------------------------------------------------------

    def _search(self, lang: str, number: str, found: PublicRequest | None) -> str:
        t = self._t
        out = [
            '<section aria-labelledby="search"><h2 id="search">'
            f"{t(lang, 'web.search.heading')}</h2>",
            f'<form role="search" method="get" action="/{lang}#result">'
            f'<label for="number">{t(lang, "web.search.label")}</label><div class="field">'
            f'<input type="text" id="number" name="number" value="{escape(number)}" '
            'inputmode="numeric" autocomplete="off" pattern="[0-9]{4}-[0-9]{6,}">'
            f'<button type="submit">{t(lang, "web.search.button")}</button></div></form>',
        ]
        if number:
            out.append('<div id="result" class="result" role="status">')
            if not parse_number(number):
                out.append(f"<p>{t(lang, 'web.search.bad_number')}</p>")
            elif found is None:
                out.append(f"<p>{t(lang, 'web.search.not_found', number=number)}</p>")
            else:
                out.append(self._request(lang, found))
            out.append("</div>")
        out.append("</section>")
        return "".join(out)

    def _request(self, lang: str, r: PublicRequest) -> str:
        t, s = self._t, self.settings
        rows = [
            (
                "web.request.status",
                escape(plain_label(self.tr.plain(lang, f"status.{r.status.value}"))),
            ),
            (
                "web.request.service",
                escape(plain_label(category_name(s, lang, r.category, r.subcategory))),
            ),
            ("web.request.department", escape(department_name(s, lang, r.department))),
            ("web.request.address", escape(self._place(lang, r))),
            ("web.request.filed", local_time(s, r.created_at)),
        ]
        if r.open and r.deadline_at is not None:
            rows.append(("web.request.deadline", local_time(s, r.deadline_at)))
        history = []
        for e in r.history:
            if e.kind is EventKind.CREATED:
                what = t(lang, "web.event.created")
            elif e.kind is EventKind.REASSIGNED:
                what = t(lang, "web.event.reassigned")
            elif e.status is not None:
                status = plain_label(self.tr.plain(lang, f"status.{e.status.value}"))
                what = t(lang, "web.event.status", status=status)
            else:
                continue
            history.append(f"<li><time>{local_time(s, e.at)}</time> {what}</li>")
        return (
            f"<h3>{t(lang, 'web.request.heading', number=r.number)}</h3><dl>"
            + "".join(f"<dt>{t(lang, key)}</dt><dd>{value}</dd>" for key, value in rows)
            + f"</dl><h3>{t(lang, 'web.request.history')}</h3><ol>"
            + "".join(history)
            + "</ol>"
        )

    # --- the figures -----------------------------------------------------------------------

    def _cells(self, lang: str, fig: Figures) -> str:
        t = self._t

        def share(value: float | None) -> str:
            return DASH if value is None else f"{round(value * 100)}%"

        hours = fig.median_hours
        if hours is None:
            median = DASH
        elif hours < 48:
            median = t(lang, "web.hours", hours=round(hours))
        else:
            median = t(lang, "web.days", days=int(hours // 24), hours=round(hours % 24))
        rating = DASH if fig.rating is None else t(lang, "web.rating", rating=f"{fig.rating:.1f}")
        cells = [
            str(fig.requests),
            str(fig.resolved),
            share(fig.on_time_share),
            median,
            share(fig.confirmed_share),
            rating,
        ]
        return "".join(f'<td class="num">{c}</td>' for c in cells)

    def _figures(self, lang: str, key: str, heading: str, figures: dict[str, Figures]) -> str:
        t = self._t
        cols = ("requests", "resolved", "on_time", "median", "confirmed", "rating")
        head = f'<th scope="col">{t(lang, "web.col.department")}</th>' + "".join(
            f'<th scope="col" class="num">{t(lang, f"web.col.{c}")}</th>' for c in cols
        )
        if not figures:
            table = f"<p>{t(lang, 'web.empty')}</p>"
        else:
            order = [d.code for d in self.settings.departments if d.code in figures]
            order += sorted(set(figures) - set(order) - {TOTAL})
            rows = "".join(
                f'<tr><th scope="row">{escape(department_name(self.settings, lang, code))}</th>'
                f"{self._cells(lang, figures[code])}</tr>"
                for code in order
            )
            total = (
                f'<tr><th scope="row">{t(lang, "web.total")}</th>'
                f"{self._cells(lang, figures[TOTAL])}</tr>"
            )
            table = (
                f'<div class="scroll" tabindex="0" role="region" aria-labelledby="h-{key}">'
                f'<table id="figures-{key}"><thead><tr>{head}</tr></thead>'
                f"<tbody>{rows}</tbody><tfoot>{total}</tfoot></table></div>"
            )
        return (
            f'<section aria-labelledby="h-{key}"><h2 id="h-{key}">{heading}</h2>{table}</section>'
        )

    def _chart(self, lang: str, this_month: date, months: list[tuple[date, int, int]]) -> str:
        t, year = self._t, this_month.year
        title = t(lang, "web.chart.heading", year=str(year))
        if not months:
            return (
                f'<section aria-labelledby="h-chart"><h2 id="h-chart">{title}</h2>'
                f"<p>{t(lang, 'web.empty')}</p></section>"
            )
        by_month = {m: (f, r) for m, f, r in months}
        months = [
            (m, *by_month.get(m, (0, 0)))
            for m in (date(year, n, 1) for n in range(1, this_month.month + 1))
        ]
        labels = [format_date(m, "LLL", locale=lang) for m, _, _ in months]
        svg = bar_chart(
            months,
            labels,
            title=self.tr.plain(lang, "web.chart.heading", year=str(year)),
            filed=self.tr.plain(lang, "web.chart.filed"),
            resolved=self.tr.plain(lang, "web.chart.resolved"),
        )
        rows = "".join(
            f'<tr><th scope="row">{escape(label)}</th><td class="num">{f}</td>'
            f'<td class="num">{r}</td></tr>'
            for label, (_, f, r) in zip(labels, months, strict=True)
        )
        table = (
            f"<details><summary>{t(lang, 'web.chart.table')}</summary>"
            '<div class="scroll" tabindex="0" role="region" aria-labelledby="h-chart">'
            f'<table><thead><tr><th scope="col">{t(lang, "web.chart.month")}</th>'
            f'<th scope="col" class="num">{t(lang, "web.chart.filed")}</th>'
            f'<th scope="col" class="num">{t(lang, "web.chart.resolved")}</th></tr></thead>'
            f"<tbody>{rows}</tbody></table></div></details>"
        )
        return (
            f'<section aria-labelledby="h-chart"><h2 id="h-chart">{title}</h2>'
            f"<figure>{svg}</figure>{table}</section>"
        )

    # --- the open requests -----------------------------------------------------------------

    def _map_on(self) -> bool:
        web_settings = self.settings.web
        return bool(web_settings.tile_url and web_settings.leaflet_js_url)

    def _open(self, lang: str, reqs: list[PublicRequest], now: datetime) -> str:
        t, s = self._t, self.settings
        out = [
            f'<section aria-labelledby="h-open"><h2 id="h-open">{t(lang, "web.open.heading")}</h2>'
        ]
        if self._map_on():
            out.append(
                f'<div id="map" role="region" aria-label="{t(lang, "web.open.map_label")}"></div>'
            )
        if not reqs:
            out.append(f"<p>{t(lang, 'web.open.empty')}</p></section>")
            return "".join(out)
        listed = reqs[:OPEN_LISTED]
        out.append(f"<p>{t(lang, 'web.open.count', count=len(reqs), shown=len(listed))}</p>")
        cols = ("number", "problem", "address", "status", "filed", "due")
        out.append(
            '<div class="scroll" tabindex="0" role="region" aria-labelledby="h-open">'
            '<table id="open-requests"><thead><tr>'
            + "".join(f'<th scope="col">{t(lang, f"web.col.{c}")}</th>' for c in cols)
            + "</tr></thead><tbody>"
        )
        for r in listed:
            link = f'<a href="/{lang}?number={r.number}#result">{r.number}</a>'
            cells = [
                link,
                escape(plain_label(category_name(s, lang, r.category, r.subcategory))),
                escape(self._place(lang, r)),
                escape(plain_label(self.tr.plain(lang, f"status.{r.status.value}"))),
                local_time(s, r.created_at),
                self._due(lang, r, now),
            ]
            out.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        out.append("</tbody></table></div></section>")
        return "".join(out)

    def _due(self, lang: str, r: PublicRequest, now: datetime) -> str:
        if r.deadline_at is None:
            return DASH
        due = local_time(self.settings, r.deadline_at)
        if r.deadline_at < now:
            return f'{due} <span class="late">{self._t(lang, "web.overdue")}</span>'
        return due

    def _map_assets(self, lang: str, reqs: list[PublicRequest]) -> tuple[str, str]:
        if not self._map_on():
            return "", ""
        w = self.settings.web
        bbox = self.settings.city.bbox
        points = [
            [
                r.latitude,
                r.longitude,
                r.number,
                plain_label(category_name(self.settings, lang, r.category, r.subcategory)),
            ]
            for r in reqs
            if r.latitude is not None and r.longitude is not None
        ]
        head = (
            f'<link rel="stylesheet" href="{escape(w.leaflet_css_url)}">'
            if w.leaflet_css_url
            else ""
        )
        data = json.dumps(
            {
                "tiles": w.tile_url,
                "attribution": w.tile_attribution,
                "bounds": [[bbox.min_lat, bbox.min_lon], [bbox.max_lat, bbox.max_lon]],
                "points": points,
                "lang": lang,
            },
            ensure_ascii=False,
        ).replace("</", "<\\/")
        script = (
            f'<script src="{escape(w.leaflet_js_url)}"></script>'
            f'<script id="map-data" type="application/json">{data}</script>'
            "<script>(function(){var d=JSON.parse(document.getElementById('map-data')"
            ".textContent);if(!window.L){return;}var m=L.map('map').fitBounds(d.bounds);"
            "L.tileLayer(d.tiles,{attribution:d.attribution}).addTo(m);"
            "d.points.forEach(function(p){L.marker([p[0],p[1]]).addTo(m).bindPopup("
            "'<a href=\"/'+d.lang+'?number='+p[2]+'#result\">'+p[2]+'</a> '"
            "+p[3].replace(/[&<>]/g,function(c){"
            "return {'&':'&amp;','<':'&lt;','>':'&gt;'}[c];}));});"
            "})();</script>"
        )
        return head, script
