"""Open311 GeoReport v2 under /open311/v2/: discovery, services, a service's definition, the
requests (GET, filtered and paged; POST with an API key) and one request, each in .json and
.xml. Categories are services (service_code "heating"), their subcategories too
("heating.no_heating"), grouped by the category's name. Nothing personal is in any answer:
see models.storage.public_queries."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.web.limits import AnswerCache, client_for_key, client_ip
from bot.web.render import errors, respond
from handlers.formatting import department_name, when
from handlers.i18n import LANGUAGES, Translator, to_plain
from handlers.parsing import EARLIEST_DAY, LATEST_DAY, parse_int
from handlers.validation import Invalid, clean_line, clean_multiline, normalize_phone
from models.domain.base import utcnow
from models.domain.external import ExternalRequest, UnknownService, file_external
from models.domain.status import Status
from models.storage.public_queries import (
    DEFAULT_SPAN,
    MAX_PAGE,
    MAX_PAGE_SIZE,
    PublicRequest,
    RequestFilter,
    get_request,
    list_requests,
)

log = logging.getLogger(__name__)

SPEC = "http://wiki.open311.org/GeoReport_v2"
PREFIX = "/open311/v2"


class ApiError(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status, self.description = status, description


@dataclass
class Open311:
    settings: Settings
    tr: Translator
    read_sessions: async_sessionmaker[AsyncSession]
    sessions: async_sessionmaker[AsyncSession]
    api_keys: dict[str, str]
    cache: AnswerCache
    on_commit: Callable[[], None]
    started: datetime
    clock: Callable[[], datetime] = utcnow

    # --- helpers ---------------------------------------------------------------------------

    def _lang(self, request: web.Request) -> str:
        lang = request.query.get("locale", "")[:2]
        return lang if lang in LANGUAGES else self.settings.default_language

    def _t(self, lang: str, key: str, **kwargs: object) -> str:
        return to_plain(self.tr.t(lang, key, **kwargs))

    def _jurisdiction(self, values: Any) -> None:
        given = (values.get("jurisdiction_id") or "").strip()
        wanted = self.settings.web.jurisdiction_id
        if given and wanted and given != wanted:
            raise ApiError(404, f"jurisdiction_id not found: {given}")

    def _w3(self, value: datetime | None) -> str | None:
        if value is None:
            return None
        tz = ZoneInfo(self.settings.city.timezone)
        return value.astimezone(tz).isoformat(timespec="seconds")

    def _service_name(self, lang: str, category: str, sub: str | None) -> str:
        cat = self.settings.category(category)
        if cat is None:
            return category
        for s in cat.subcategories:
            if s.code == sub:
                return s.name.get(lang)
        return cat.name.get(lang)

    def _parse_code(self, code: str) -> tuple[str, str | None]:
        cat_code, _, sub_code = code.partition(".")
        cat = self.settings.category(cat_code)
        if cat is None or (sub_code and sub_code not in {s.code for s in cat.subcategories}):
            raise UnknownService(code)
        return cat_code, sub_code or None

    # --- discovery and services ------------------------------------------------------------

    async def discovery(self, request: web.Request) -> web.Response:
        fmt = request.match_info["fmt"]
        lang = self._lang(request)
        base = self.settings.web.public_url.rstrip("/") or f"{request.scheme}://{request.host}"
        contacts = self.settings.contacts
        contact = ", ".join(
            [p.number for p in contacts.phones[:1]]
            + [v for v in (contacts.email, contacts.website) if v]
        )
        changeset = self.started.strftime("%Y-%m-%d %H:%M")
        return respond(
            fmt,
            "discovery",
            {
                "changeset": changeset,
                "contact": contact,
                "key_service": self._t(lang, "web.open311.key_service", contact=contact),
                "endpoints": [
                    {
                        "specification": SPEC,
                        "url": base + PREFIX,
                        "changeset": changeset,
                        "type": "production",
                        "formats": ["text/xml", "application/json"],
                    }
                ],
            },
        )

    def _services(self, lang: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for cat in self.settings.categories:
            group = cat.name.get(lang)
            names = [cat.name.get(other) for other in LANGUAGES]
            for code, name, dept, words in [
                (cat.code, group, cat.department, names),
                *(
                    (
                        f"{cat.code}.{s.code}",
                        s.name.get(lang),
                        s.department or cat.department,
                        [s.name.get(other) for other in LANGUAGES] + names,
                    )
                    for s in cat.subcategories
                ),
            ]:
                out.append(
                    {
                        "service_code": code,
                        "service_name": name,
                        "description": self._t(
                            lang,
                            "web.open311.service_description",
                            department=department_name(self.settings, lang, dept),
                        ),
                        # No category asks extra questions today; one that did would be
                        # metadata=true with its questions as the definition's attributes.
                        "metadata": False,
                        "type": "realtime",
                        "keywords": ", ".join(dict.fromkeys(w for w in words if w)),
                        "group": group,
                    }
                )
        return out

    async def services(self, request: web.Request) -> web.Response:
        fmt = request.match_info["fmt"]
        self._jurisdiction(request.query)
        return respond(fmt, "services", self._services(self._lang(request)))

    async def service_definition(self, request: web.Request) -> web.Response:
        fmt = request.match_info["fmt"]
        self._jurisdiction(request.query)
        code = request.match_info["code"]
        try:
            self._parse_code(code)
        except UnknownService:
            raise ApiError(404, f"service_code not found: {code}") from None
        return respond(fmt, "service_definition", {"service_code": code, "attributes": []})

    # --- requests --------------------------------------------------------------------------

    def _request(self, lang: str, r: PublicRequest) -> dict[str, Any]:
        note = r.note
        if r.status is Status.RESOLVED:
            waiting = self._t(lang, "web.open311.awaiting_confirmation")
            note = f"{waiting} {note}" if note else waiting
        code = f"{r.category}.{r.subcategory}" if r.subcategory else r.category
        return {
            "service_request_id": r.number,
            "status": "open" if r.open else "closed",
            "status_notes": note,
            "service_name": self._service_name(lang, r.category, r.subcategory),
            "service_code": code,
            "description": r.description,
            "agency_responsible": department_name(self.settings, lang, r.department),
            "service_notice": None,
            "requested_datetime": self._w3(r.created_at),
            "updated_datetime": self._w3(r.updated_at),
            "expected_datetime": self._w3(r.deadline_at),
            "address": r.address,
            "address_id": None,
            "zipcode": None,
            "lat": r.latitude,
            "long": r.longitude,
            # Residents' photos are kept by the messengers (Telegram file ids), not published.
            "media_url": None,
        }

    def _date(self, values: Any, name: str) -> datetime | None:
        raw = (values.get(name) or "").strip()
        if not raw:
            return None
        try:
            value = datetime.fromisoformat(raw.replace(" ", "+"))
        except ValueError:
            value = None
        if value is None or value.tzinfo is None:
            raise ApiError(400, f"{name} must be a w3 date and time, e.g. 2010-01-01T00:00:00Z")
        if not EARLIEST_DAY <= value.date() <= LATEST_DAY:
            # Beyond these the date arithmetic (start_date + 90 days) itself overflows.
            raise ApiError(400, f"{name} must lie between {EARLIEST_DAY} and {LATEST_DAY}")
        return value

    def _filter(self, q: Any) -> RequestFilter:
        ids = [v.strip() for v in (q.get("service_request_id") or "").split(",") if v.strip()]
        if ids:
            return RequestFilter(numbers=ids)
        services = []
        for code in (q.get("service_code") or "").split(","):
            if code.strip():
                try:
                    services.append(self._parse_code(code.strip()))
                except UnknownService:
                    raise ApiError(400, f"service_code not found: {code.strip()}") from None
        start, end = self._date(q, "start_date"), self._date(q, "end_date")
        if start and end and end < start:
            raise ApiError(400, "end_date is before start_date")
        if start and end and end - start > DEFAULT_SPAN:
            raise ApiError(400, "start_date and end_date may not span more than 90 days")
        if start and not end:
            end = min(start + DEFAULT_SPAN, self.clock())
        statuses = [s.strip() for s in (q.get("status") or "").split(",") if s.strip()]
        if any(s not in ("open", "closed") for s in statuses):
            raise ApiError(400, "status must be open or closed")
        page = parse_int(q.get("page") or "1", low=1, high=MAX_PAGE)
        size = parse_int(q.get("page_size") or str(MAX_PAGE_SIZE), low=1, high=MAX_PAGE_SIZE)
        if page is None or size is None:
            raise ApiError(400, f"page must be 1 to {MAX_PAGE}, page_size 1 to {MAX_PAGE_SIZE}")
        return RequestFilter(
            services=services, start=start, end=end, status=statuses, page=page, page_size=size
        )

    async def requests(self, request: web.Request) -> web.Response:
        fmt = request.match_info["fmt"]
        self._jurisdiction(request.query)
        flt = self._filter(request.query)
        lang = self._lang(request)
        async with self.read_sessions() as session:
            found = await list_requests(session, flt, now=self.clock())
        return respond(fmt, "service_requests", [self._request(lang, r) for r in found])

    async def one_request(self, request: web.Request) -> web.Response:
        fmt = request.match_info["fmt"]
        self._jurisdiction(request.query)
        number = request.match_info["number"]
        async with self.read_sessions() as session:
            found = await get_request(session, number)
        if found is None:
            raise ApiError(404, f"service_request_id not found: {number}")
        return respond(fmt, "service_requests", [self._request(self._lang(request), found)])

    # --- filing ----------------------------------------------------------------------------

    async def post_request(self, request: web.Request) -> web.Response:
        fmt = request.match_info["fmt"]
        form = await request.post()
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        client = client_for_key(
            self.api_keys, values.get("api_key") or request.query.get("api_key")
        )
        if client is None:
            log.warning(
                "open311: POST refused, no valid api_key (from %s)",
                client_ip(request, trust_forwarded_for=self.settings.web.trust_forwarded_for),
            )
            raise ApiError(403, "Invalid api_key received -- can't proceed with create_request.")
        self._jurisdiction(values)
        new = self._new_request(values)
        lang = self._lang(request)
        now = self.clock()
        async with self.sessions() as session, session.begin():
            req = await file_external(session, self.settings, new, client=client, now=now)
            number, department, deadline = req.number, req.department, req.deadline_at
        self.on_commit()
        self.cache.clear()
        log.info("open311: client %s filed request %s (%s)", client, number, department)
        assert deadline is not None
        notice = self._t(
            lang,
            "web.open311.notice",
            department=department_name(self.settings, lang, department),
            deadline=when(self.settings, lang, deadline),
        )
        return respond(
            fmt,
            "service_requests",
            [{"service_request_id": number, "service_notice": notice, "account_id": None}],
        )

    def _new_request(self, values: dict[str, str]) -> ExternalRequest:
        code = values.get("service_code", "").strip()
        if not code:
            raise ApiError(400, "service_code was not provided")
        try:
            category, sub = self._parse_code(code)
        except UnknownService:
            raise ApiError(404, f"service_code not found: {code}") from None
        lat = lon = None
        if values.get("lat", "").strip() or values.get("long", "").strip():
            try:
                lat, lon = float(values["lat"]), float(values["long"])
            except (KeyError, ValueError):
                raise ApiError(400, "lat and long must both be decimal degrees") from None
            if not self.settings.city.bbox.contains(lat, lon):
                raise ApiError(400, "lat/long is outside the city")
        # Cleaned as every chat text is (handlers/types.py): PostgreSQL refuses a NUL outright.
        address = clean_line(values.get("address_string") or values.get("address_id") or "")
        if not address and lat is None:
            raise ApiError(400, "a location is needed: lat and long, or address_string")
        limits = self.settings.limits
        if len(address) > limits.address_max:
            raise ApiError(400, f"address_string is longer than {limits.address_max} characters")
        description = clean_multiline(values.get("description") or "")
        if len(description) > limits.description_max:
            raise ApiError(400, f"description is longer than {limits.description_max} characters")
        phone = None
        if values.get("phone", "").strip():
            normal = normalize_phone(values["phone"])
            if isinstance(normal, Invalid):
                raise ApiError(400, "phone is not a phone number")
            phone = normal
        if not address and lat is not None and lon is not None:
            address = f"{lat:.6f}, {lon:.6f}"
        lang = values.get("locale", "")[:2]
        return ExternalRequest(
            category=category,
            subcategory=sub,
            address=address,
            description=description,
            latitude=lat,
            longitude=lon,
            phone=phone,
            language=lang if lang in LANGUAGES else None,
        )


def api_error_response(request: web.Request, exc: ApiError) -> web.Response:
    fmt = request.match_info.get("fmt", "json")
    return errors(fmt if fmt in ("json", "xml") else "json", exc.status, exc.description)
