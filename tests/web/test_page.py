"""The public page over HTTP: the seeded figures per department, the search, languages, the
open requests as a table without a map; the rate limit, the cache; and mount_web on a real
App (what the runner calls)."""

from __future__ import annotations

import re
import socket
from html import unescape

import pytest
from aiohttp import ClientConnectionError, ClientSession, web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.app import App
from bot.config import Env, Settings
from bot.runner import receiving
from bot.web import build_web, mount, mount_web
from handlers.desk.engine import StaffDesk
from handlers.dialog.conversation import Conversation
from handlers.i18n import translator
from models.domain.tables import Request
from tests.web.seed import NOW, Seeded

Client = TestClient[web.Request, web.Application]


def row(html: str, table_id: str, header: str) -> list[str]:
    """The cells of the row headed ``header`` in the table ``table_id``, as text."""
    table = re.search(rf'<table id="{table_id}">(.*?)</table>', html, re.S)
    assert table, table_id
    for tr in re.findall(r"<tr>(.*?)</tr>", table.group(1), re.S):
        cells = [
            unescape(re.sub(r"<[^>]+>", "", c))
            for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", tr, re.S)
        ]
        if cells and cells[0] == header:
            return cells[1:]
    raise AssertionError(f"no row {header!r} in {table_id}")


async def test_figures_of_the_month_and_the_year(client: Client, web_settings: Settings) -> None:
    html = await (await client.get("/en")).text()
    roads = web_settings.department("roads")
    lighting = web_settings.department("lighting")
    assert roads and lighting
    # Roads in June: 3 filed, 2 resolved; on time 1 of 3 (one resolved late, one open and
    # overdue); median of 2 and 5 days; 1 of 2 resolved confirmed by the resident; rated 5.
    assert row(html, "figures-month", roads.name.en) == [
        "3",
        "2",
        "33%",
        "3 d 12 h",
        "50%",
        "5.0 of 5",
    ]
    assert row(html, "figures-month", lighting.name.en) == [
        "1",
        "0",
        "\u2014",
        "\u2014",
        "\u2014",
        "\u2014",
    ]
    assert row(html, "figures-month", "All departments") == [
        "4",
        "2",
        "33%",
        "3 d 12 h",
        "50%",
        "5.0 of 5",
    ]
    # The year adds March's lighting request: resolved in 2 days, on time, closed unconfirmed.
    assert row(html, "figures-year", lighting.name.en) == [
        "2",
        "1",
        "100%",
        "2 d 0 h",
        "0%",
        "3.0 of 5",
    ]
    assert "This month: June 2026" in html and "This year: 2026" in html
    assert "<svg viewBox" in html and 'role="img"' in html


async def test_open_requests_are_listed_without_a_map(client: Client, seeded: Seeded) -> None:
    html = await (await client.get("/en")).text()
    table = re.search(r'<table id="open-requests">(.*?)</table>', html, re.S)
    assert table
    numbers = set(re.findall(r"\d{4}-\d{6}", table.group(1)))
    assert numbers == {seeded.numbers["overdue"], seeded.numbers["fresh"]}
    assert 'id="map"' not in html and "<script" not in html  # no tiles configured


async def test_search_by_number(client: Client, seeded: Seeded) -> None:
    late = seeded.numbers["late"]
    html = await (await client.get(f"/en?number={late}")).text()
    result = re.search(r'<div id="result".*?</div>', html, re.S)
    assert result
    text = unescape(re.sub(r"<[^>]+>", " ", result.group(0)))
    assert f"Request {late}" in text and "resolved" in text
    assert "request filed" in text and "status: " in text
    html = await (await client.get("/en?number=2026-999999")).text()
    assert "There is no request number 2026-999999." in html
    html = await (await client.get("/en?number=<script>")).text()
    assert "A request number looks like" in html and "<script>" not in html


@pytest.mark.parametrize(
    ("path", "lang"), [("/", "uk"), ("/uk", "uk"), ("/ru", "ru"), ("/en", "en")]
)
async def test_languages(client: Client, path: str, lang: str) -> None:
    html = await (await client.get(path)).text()
    assert f'<html lang="{lang}">' in html
    assert translator().t(lang, "web.search.button") in html
    assert translator().t(lang, "web.search.heading") in html


async def test_rate_limit_per_client(
    web_settings: Settings, sessions: async_sessionmaker[AsyncSession], seeded: Seeded
) -> None:
    tight = web_settings.model_copy(
        update={"web": web_settings.web.model_copy(update={"rate_burst": 3, "rate_per_minute": 6})}
    )
    app = web.Application()
    mount(app, build_web(tight, translator(), sessions, sessions, api_keys={}, clock=lambda: NOW))
    async with TestClient(TestServer(app, host="127.0.0.1")) as c:
        for _ in range(3):
            assert (await c.get("/en")).status == 200
        page = await c.get("/en")
        assert page.status == 429 and int(page.headers["Retry-After"]) >= 1
        api = await c.get("/open311/v2/services.xml")
        assert api.status == 429 and "<errors>" in await api.text()
        assert api.headers["Access-Control-Allow-Origin"] == "*"


async def test_answers_are_cached_briefly(
    client: Client, sessions: async_sessionmaker[AsyncSession], seeded: Seeded
) -> None:
    first = await (await client.get("/open311/v2/requests.json?status=open")).text()
    async with sessions() as session, session.begin():
        await session.execute(update(Request).values(description="changed"))
    again = await (await client.get("/open311/v2/requests.json?status=open")).text()
    assert again == first  # within [web] cache_seconds nothing is read again


async def test_mount_web_on_the_bots_app(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    conversation = Conversation(sessions, settings)
    desk = StaffDesk(sessions, settings, conversation.tr)
    app = App(Env(), settings, engine, sessions, conversation, desk)
    web_app = web.Application()
    mount_web(web_app, app)
    async with TestClient(TestServer(web_app, host="127.0.0.1")) as c:
        assert (await c.get("/")).status == 200
        assert (await c.get("/open311/v2/services.json")).status == 200
        assert (await c.get("/open311/v2/requests.xml")).status == 200


async def test_the_runner_serves_it_on_its_own_address_when_no_channel_takes_webhooks(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    """Polling mode has no webhook server: with [web] enabled the runner serves the page and
    the API at [web] listen_host:listen_port; with it off, nothing listens there."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conversation = Conversation(sessions, settings)
    desk = StaffDesk(sessions, settings, conversation.tr)
    url = f"http://127.0.0.1:{port}/open311/v2/discovery.xml"
    off = settings.web.model_copy(update={"listen_port": port})
    async with (
        receiving(
            App(
                Env(),
                settings.model_copy(update={"web": off}),
                engine,
                sessions,
                conversation,
                desk,
            ),
            [],
        ),
        ClientSession() as http,
    ):
        with pytest.raises(ClientConnectionError):
            await http.get(url)
    on = settings.web.model_copy(update={"enabled": True, "listen_port": port})
    app = App(Env(), settings.model_copy(update={"web": on}), engine, sessions, conversation, desk)
    async with receiving(app, []), ClientSession() as http, http.get(url) as resp:
        assert resp.status == 200 and "<discovery>" in await resp.text()
