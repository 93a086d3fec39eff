"""The bot's public side: the Open311 GeoReport v2 API and the accountability page.

``mount_web(web_app, app)`` adds every route to an aiohttp application (the webhook server, or
one of its own in polling mode). Each route is wrapped here, not by a middleware, so the
messengers' webhooks on the same server are never rate-limited or cached.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import App
from bot.config import Settings
from bot.web.limits import (
    AnswerCache,
    Handler,
    RateLimiter,
    api_keys_from_environ,
    client_ip,
    cors,
    retry_after,
)
from bot.web.open311 import PREFIX, ApiError, Open311, api_error_response
from bot.web.public_page import PublicPage
from bot.web.render import errors
from handlers.i18n import LANGUAGES, Translator
from models.domain.base import utcnow
from models.storage.engine import read_session_factory

__all__ = ["WebParts", "build_web", "mount", "mount_web"]

log = logging.getLogger(__name__)


@dataclass
class WebParts:
    api: Open311
    page: PublicPage
    cache: AnswerCache
    limiter: RateLimiter


def build_web(
    settings: Settings,
    tr: Translator,
    sessions: async_sessionmaker[AsyncSession],
    read_sessions: async_sessionmaker[AsyncSession],
    *,
    on_commit: Callable[[], None] = lambda: None,
    api_keys: dict[str, str] | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> WebParts:
    cache = AnswerCache(settings.web.cache_seconds)
    limiter = RateLimiter(settings.web.rate_per_minute, settings.web.rate_burst)
    api = Open311(
        settings,
        tr,
        read_sessions,
        sessions,
        api_keys_from_environ() if api_keys is None else api_keys,
        cache,
        on_commit,
        clock(),
        clock,
    )
    return WebParts(api, PublicPage(settings, tr, read_sessions, clock), cache, limiter)


def _guard(parts: WebParts, handler: Handler, *, api: bool, cached: bool) -> Handler:
    trust = parts.api.settings.web.trust_forwarded_for

    async def guarded(request: web.Request) -> web.StreamResponse:
        wait = parts.limiter.take(client_ip(request, trust_forwarded_for=trust))
        if wait:
            headers = {"Retry-After": retry_after(wait)}
            if api:
                resp: web.StreamResponse = errors(
                    request.match_info.get("fmt", "json"), 429, "Too many requests"
                )
                resp.headers.update(headers)
            else:
                resp = web.Response(status=429, text="429 Too Many Requests", headers=headers)
            return cors(resp) if request.method == "GET" else resp

        async def run(req: web.Request) -> web.StreamResponse:
            try:
                return await handler(req)
            except ApiError as exc:
                return api_error_response(req, exc)

        if cached and request.method == "GET":
            resp = await parts.cache.get(str(request.rel_url), run, request)
        else:
            resp = await run(request)
        return cors(resp) if request.method == "GET" else resp

    return guarded


def mount(web_app: web.Application, parts: WebParts) -> None:
    api, page = parts.api, parts.page
    fmt = "{fmt:json|xml}"
    get_routes: list[tuple[str, Handler, bool]] = [
        (f"{PREFIX}/discovery.{fmt}", api.discovery, True),
        (f"{PREFIX}/services.{fmt}", api.services, True),
        (f"{PREFIX}/services/{{code}}.{fmt}", api.service_definition, True),
        (f"{PREFIX}/requests.{fmt}", api.requests, True),
        (f"{PREFIX}/requests/{{number}}.{fmt}", api.one_request, True),
    ]
    for path, handler, is_api in get_routes:
        web_app.router.add_get(path, _guard(parts, handler, api=is_api, cached=True))
    web_app.router.add_post(
        f"{PREFIX}/requests.{fmt}", _guard(parts, api.post_request, api=True, cached=False)
    )
    page_handler = _guard(parts, page.page, api=False, cached=True)
    web_app.router.add_get("/", page_handler)
    web_app.router.add_get("/{lang:" + "|".join(LANGUAGES) + "}", page_handler)


def mount_web(web_app: web.Application, app: App) -> WebParts:
    """Add the Open311 API and the public page to ``web_app``, reading through ``app``'s read
    engine and filing through its sessions (``app`` is a bot.app.App)."""
    reader = read_session_factory(app.read_engine) if app.read_engine is not None else app.sessions

    def wake() -> None:
        # Read at call time: App.delivery() replaces on_commit after the web app is built.
        app.conversation.on_commit()

    parts = build_web(app.settings, app.conversation.tr, app.sessions, reader, on_commit=wake)
    mount(web_app, parts)
    return parts
