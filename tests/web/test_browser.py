"""The public page in a real browser (headless Chromium): it loads without a console error or a
failed load, shows the seeded figures at phone and desktop width, the search by number works
by typing and pressing Enter, axe-core finds no WCAG 2.1 A/AA violation, and screenshots of
both sizes are written to the test's temporary folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.web.browser import Page, available, chromium
from tests.web.seed import Seeded

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
        assert await axe_violations(page) == []
        assert page.problems() == []
