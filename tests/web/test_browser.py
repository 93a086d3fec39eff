"""The public page in a real browser (headless Chromium): it loads without a console error or a
failed load, shows the seeded figures at phone and desktop width, the search by number works
by typing and pressing Enter, axe-core finds no WCAG 2.1 A/AA violation, and screenshots of
both sizes are written to the test's temporary folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.web import build_web, mount
from handlers.i18n import translator
from tests.web.browser import Page, available, chromium
from tests.web.seed import NOW, Seeded

pytestmark = pytest.mark.skipif(
    not available(), reason="Debian's chromium is not installed (.ci/run installs it)"
)
Client = TestClient[web.Request, web.Application]
AXE = Path("/usr/lib/node_modules/axe-core/axe.min.js")
AXE_SOURCE = AXE.read_text(encoding="utf-8") if AXE.exists() else None
SIZES = {"phone": (390, 844, True), "desktop": (1280, 900, False)}


async def figures_row(page: Page, table: str, first_cell: str) -> list[str]:
    cells = await page.js(
        f"""Array.from(document.querySelectorAll('#{table} tr'))
              .map(r => Array.from(r.cells).map(c => c.innerText.trim()))
              .find(r => r[0] === {json.dumps(first_cell)})"""
    )
    assert isinstance(cells, list), (table, first_cell)
    return [str(c) for c in cells[1:]]


async def axe_violations(page: Page) -> list[str]:
    assert AXE_SOURCE is not None
    await page.js(AXE_SOURCE)
    found = await page.js(
        """axe.run(document, {runOnly: {type: 'tag',
                values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
             .then(r => r.violations.map(v => v.id + ': ' + v.help + ' ('
                    + v.nodes.map(n => n.target.join(' ')).join(', ') + ')'))"""
    )
    return [str(v) for v in found]


@pytest.mark.parametrize("size", list(SIZES))
async def test_the_page_in_chromium(
    client: Client, seeded: Seeded, tmp_path: Path, size: str, backend: str
) -> None:
    if backend != "sqlite":
        pytest.skip("the browser sees the same HTML on PostgreSQL; once is enough")
    width, height, mobile = SIZES[size]
    base = str(client.make_url("/"))
    async with chromium(tmp_path / "profile") as page:
        await page.viewport(width, height, mobile=mobile)
        await page.goto(base + "en")
        assert await page.js("document.documentElement.lang") == "en"
        assert await page.js("document.title") == await page.js(
            "document.querySelector('h1').innerText"
        )
        roads = await figures_row(page, "figures-month", "Roads")
        assert roads == ["3", "2", "33%", "3 d 12 h", "50%", "5.0 of 5"]
        total = await figures_row(page, "figures-year", "All departments")
        assert total[:2] == ["5", "3"]
        # Nothing wider than the window: no sideways scrolling of the page at phone width
        # (wide tables scroll inside their own box).
        overflow = await page.js("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the page is {overflow}px wider than the window"
        await page.screenshot(tmp_path / f"page-{size}.png")

        # The search, as a resident does it: the field found by its label, typed into, Enter.
        label_for = await page.js(
            "Array.from(document.labels || document.querySelectorAll('label'))"
            ".find(l => l.innerText.startsWith('Request number')).htmlFor"
        )
        await page.js(f"document.getElementById({json.dumps(label_for)}).focus()")
        await page.send("Input.insertText", text=seeded.numbers["late"])
        await page.press_enter()
        result = await page.js("document.getElementById('result').innerText")
        assert f"Request {seeded.numbers['late']}" in result
        assert "resolved" in result and "request filed" in result
        await page.screenshot(tmp_path / f"search-{size}.png")

        assert page.problems() == []
        if AXE_SOURCE is None:
            pytest.skip(f"axe-core not installed at {AXE} (.ci/run installs it)")
        assert await axe_violations(page) == []
        await page.goto(base + "uk")
        await page.screenshot(tmp_path / f"page-uk-{size}.png")
        assert await axe_violations(page) == []
        assert page.problems() == []


# A stand-in for Leaflet, served by the test server itself (no network in tests): it records
# what the page asks of it, so the page's map script runs for real.
LEAFLET_STUB = """
window.mapCalls = {markers: [], tiles: null, bounds: null};
window.L = {
  map: function (id) { var m = {fitBounds: function (b) { mapCalls.bounds = b; return m; }};
                       mapCalls.element = id; return m; },
  tileLayer: function (url, o) { mapCalls.tiles = url; return {addTo: function () {}}; },
  marker: function (at) { var k = {addTo: function () { return k; },
                                   bindPopup: function (h) { mapCalls.markers.push(h); return k; }};
                          return k; }
};
"""


async def test_the_map_when_tiles_are_configured(
    web_settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    seeded: Seeded,
    tmp_path: Path,
    backend: str,
) -> None:
    if backend != "sqlite":
        pytest.skip("the browser sees the same HTML on PostgreSQL; once is enough")
    with_map = web_settings.web.model_copy(
        update={
            "tile_url": "/test-tiles/{z}/{x}/{y}.png",
            "tile_attribution": "test tiles",
            "leaflet_js_url": "/test-leaflet.js",
        }
    )
    parts = build_web(
        web_settings.model_copy(update={"web": with_map}),
        translator(),
        sessions,
        sessions,
        api_keys={},
        clock=lambda: NOW,
    )
    app = web.Application()
    mount(app, parts)

    async def leaflet(_: web.Request) -> web.Response:
        return web.Response(text=LEAFLET_STUB, content_type="application/javascript")

    app.router.add_get("/test-leaflet.js", leaflet)
    async with (
        TestClient(TestServer(app, host="127.0.0.1")) as c,
        chromium(tmp_path / "profile") as page,
    ):
        await page.goto(str(c.make_url("/en")))
        calls = await page.js("window.mapCalls")
        assert calls["element"] == "map" and calls["tiles"] == "/test-tiles/{z}/{x}/{y}.png"
        # The overdue request has a location; the fresh one has none and is only listed.
        assert len(calls["markers"]) == 1 and seeded.numbers["overdue"] in calls["markers"][0]
        assert await page.js("document.querySelectorAll('#open-requests tbody tr').length") == 2
        assert page.problems() == []
