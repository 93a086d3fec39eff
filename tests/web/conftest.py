"""A real web server on 127.0.0.1 (aiohttp's TestServer: a TCP site on a free port) serving the
Open311 API and the public page over the test database, seeded, at a fixed moment."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.web import WebParts, build_web, mount
from handlers.i18n import translator
from tests.desk_settings import desk_settings
from tests.web.seed import NOW, Seeded, seed

API_KEY = "s3cret-crm-key"
CLIENT = "crm"


@pytest.fixture
def web_settings(settings: Settings) -> Settings:
    return desk_settings(settings)


@pytest.fixture
async def seeded(sessions: async_sessionmaker[AsyncSession]) -> Seeded:
    return await seed(sessions)


@pytest.fixture
def parts(web_settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> WebParts:
    return build_web(
        web_settings,
        translator(),
        sessions,
        sessions,
        api_keys={API_KEY: CLIENT},
        clock=lambda: NOW,
    )


@pytest.fixture
async def client(
    parts: WebParts, seeded: Seeded
) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = web.Application()
    mount(app, parts)
    async with TestClient(TestServer(app, host="127.0.0.1")) as c:
        yield c
