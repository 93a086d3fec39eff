"""Open311 GeoReport v2 over real HTTP: every endpoint in JSON and XML has the spec's fields
(from the spec's own examples), filters and paging, the spec's errors with their HTTP codes,
and POST with and without a valid key filing a request exactly as the chat would."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.web.render import to_xml
from models.domain.base import as_utc
from models.domain.deadlines.policy import policy_for
from models.domain.outbox import OutboxKind, OutboxMessage
from models.domain.tables import Actor, EventKind, Request, RequestEvent
from tests.web.conftest import API_KEY, CLIENT
from tests.web.seed import NOW, Seeded
from tests.web.spec import json_fields, xml_fields, xml_root

Client = TestClient[web.Request, web.Application]
V2 = "/open311/v2"


async def get_json(client: Client, path: str, status: int = 200) -> Any:
    resp = await client.get(path)
    assert resp.status == status, await resp.text()
    assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
    return json.loads(await resp.text())


async def get_xml(client: Client, path: str, status: int = 200) -> ET.Element:
    resp = await client.get(path)
    text = await resp.text()
    assert resp.status == status, text
    assert resp.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert text.startswith('<?xml version="1.0" encoding="utf-8"?>')
    return ET.fromstring(text.encode())


def children(node: ET.Element) -> set[str]:
    return {c.tag for c in node}


async def test_discovery(client: Client) -> None:
    data = await get_json(client, f"{V2}/discovery.json")
    assert set(data) == xml_fields("discovery.xml", ".")
    endpoint = data["endpoints"][0]
    assert set(endpoint) == xml_fields("discovery.xml", "endpoints/endpoint")
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"].endswith("/open311/v2")
    assert set(endpoint["formats"]) == {"text/xml", "application/json"}
    root = await get_xml(client, f"{V2}/discovery.xml")
    assert root.tag == xml_root("discovery.xml")
    assert children(root) == xml_fields("discovery.xml", ".")
    formats = root.find("endpoints/endpoint/formats")
    assert formats is not None and [f.text for f in formats] == ["text/xml", "application/json"]


async def test_services(client: Client, web_settings: Settings) -> None:
    data = await get_json(client, f"{V2}/services.json?locale=en")
    assert all(set(s) == json_fields("services.json") for s in data)
    codes = {s["service_code"]: s for s in data}
    roads = web_settings.category("roads")
    assert roads is not None
    assert codes["roads"]["group"] == roads.name.en
    assert codes["roads.pothole"]["group"] == roads.name.en
    assert codes["roads.pothole"]["metadata"] is False
    assert codes["roads.pothole"]["type"] == "realtime"
    assert roads.name.uk in codes["roads"]["keywords"]  # every language's name is a keyword
    expected = sum(1 + len(c.subcategories) for c in web_settings.categories)
    assert len(data) == expected
    root = await get_xml(client, f"{V2}/services.xml")
    assert root.tag == xml_root("services.xml")
    assert len(root) == expected
    assert all(children(s) == xml_fields("services.xml", "service") for s in root)
    assert root.find("service/metadata") is not None
    assert root.findtext("service/metadata") == "false"


async def test_service_definition(client: Client) -> None:
    data = await get_json(client, f"{V2}/services/roads.pothole.json")
    assert set(data) == xml_fields("service_definition.xml", ".")
    assert data == {"service_code": "roads.pothole", "attributes": []}
    root = await get_xml(client, f"{V2}/services/roads.xml")
    assert root.tag == xml_root("service_definition.xml")
    assert children(root) == xml_fields("service_definition.xml", ".")
    errors = await get_json(client, f"{V2}/services/nonsense.json", 404)
    assert set(errors[0]) == json_fields("errors.json") and errors[0]["code"] == 404
    root = await get_xml(client, f"{V2}/services/roads.nonsense.xml", 404)
    assert root.tag == "errors" and children(root[0]) == xml_fields("errors.xml", "error")


async def test_requests_list_and_one(client: Client, seeded: Seeded) -> None:
    data = await get_json(client, f"{V2}/requests.json")
    fields = xml_fields("requests.xml", "request")
    assert fields == json_fields("requests.json")
    assert all(set(r) == fields for r in data)
    by_id = {r["service_request_id"]: r for r in data}
    n = seeded.numbers
    assert set(by_id) == {n["planted"], n["late"], n["overdue"], n["fresh"]}  # 90 days back
    assert by_id[n["overdue"]]["status"] == "open"
    assert by_id[n["fresh"]]["status"] == "open"
    assert by_id[n["planted"]]["status"] == "closed"
    late = by_id[n["late"]]
    assert late["status"] == "closed"  # resolved, awaiting the resident: closed with a note
    assert late["status_notes"]
    assert by_id[n["planted"]]["service_code"] == "roads.pothole"
    assert by_id[n["overdue"]]["service_code"] == "roads"
    assert by_id[n["planted"]]["lat"] == 47.91
    assert by_id[n["overdue"]]["expected_datetime"] == "2026-06-18T12:00:00+03:00"
    root = await get_xml(client, f"{V2}/requests.xml")
    assert root.tag == xml_root("requests.xml")
    assert all(children(r) == fields for r in root)
    one = await get_json(client, f"{V2}/requests/{n['late']}.json")
    assert one == [late]
    root = await get_xml(client, f"{V2}/requests/{n['late']}.xml")
    assert root.tag == xml_root("request.xml")
    assert children(root[0]) == xml_fields("request.xml", "request")
    missing = await get_json(client, f"{V2}/requests/2026-999999.json", 404)
    assert missing[0]["code"] == 404
    await get_xml(client, f"{V2}/requests/2026-999999.xml", 404)


async def ids(client: Client, query: str) -> set[str]:
    return {r["service_request_id"] for r in await get_json(client, f"{V2}/requests.json?{query}")}


async def test_filters_and_paging(client: Client, seeded: Seeded) -> None:
    n = seeded.numbers
    assert await ids(client, "status=open") == {n["overdue"], n["fresh"]}
    assert await ids(client, "status=closed") == {n["planted"], n["late"]}
    assert await ids(client, "status=open,closed") == {
        n["planted"],
        n["late"],
        n["overdue"],
        n["fresh"],
    }
    assert await ids(client, "service_code=lighting") == {n["fresh"]}
    assert await ids(client, "service_code=roads.pothole") == {n["planted"], n["late"]}
    assert await ids(client, "service_code=roads") == {n["planted"], n["late"], n["overdue"]}
    window = "start_date=2026-03-01T00:00:00Z&end_date=2026-03-31T00:00:00Z"
    assert await ids(client, window) == {n["spring"]}
    # service_request_id overrides every other argument, as the spec says.
    query = f"service_request_id={n['spring']},{n['fresh']}&status=closed"
    assert await ids(client, query) == {n["spring"], n["fresh"]}
    first = await get_json(client, f"{V2}/requests.json?page_size=3")
    second = await get_json(client, f"{V2}/requests.json?page_size=3&page=2")
    assert len(first) == 3 and len(second) == 1
    assert {r["service_request_id"] for r in first + second} == {
        n["planted"],
        n["late"],
        n["overdue"],
        n["fresh"],
    }


@pytest.mark.parametrize(
    "query",
    [
        "start_date=yesterday",
        "start_date=2026-06-01T00:00:00",  # no time zone: the spec requires one
        "end_date=2026-13-01T00:00:00Z",
        "start_date=2026-01-01T00:00:00Z&end_date=2026-06-01T00:00:00Z",  # over 90 days
        "start_date=2026-06-10T00:00:00Z&end_date=2026-06-01T00:00:00Z",
        "service_code=nonsense",
        "service_code=roads.nonsense",
        "status=pending",
        "page=0",
        "page_size=5000",
        "page=" + "9" * 30,  # an offset beyond bigint
        "page=²",
        "start_date=9999-12-31T23:59:59Z",  # start + 90 days overflows
        "start_date=0001-01-01T00:00:00Z&end_date=0001-02-01T00:00:00Z",
    ],
)
async def test_bad_arguments_give_the_spec_error_400(client: Client, query: str) -> None:
    data = await get_json(client, f"{V2}/requests.json?{query}", 400)
    assert len(data) == 1 and set(data[0]) == json_fields("errors.json")
    assert data[0]["code"] == 400 and data[0]["description"]
    root = await get_xml(client, f"{V2}/requests.xml?{query}", 400)
    assert root.tag == xml_root("errors.xml")
    assert children(root[0]) == xml_fields("errors.xml", "error")


async def test_wrong_jurisdiction_is_404(client: Client, web_settings: Settings) -> None:
    # Only checked when the city names its jurisdiction; bot.toml leaves it empty.
    await get_json(client, f"{V2}/services.json?jurisdiction_id=anything.org")


POTHOLE = {
    "service_code": "roads.pothole",
    "lat": "47.9100",
    "long": "33.3900",
    "address_string": "vul. Soborna, 14",
    "description": "A pothole across the whole lane",
    "phone": "067 765 43 21",
    "email": "someone@example.org",
    "first_name": "Taras",
    "last_name": "Shevchuk",
}


async def test_post_without_a_valid_key_is_refused(
    client: Client, sessions: async_sessionmaker[AsyncSession]
) -> None:
    for form in (POTHOLE, {**POTHOLE, "api_key": "wrong"}):
        resp = await client.post(f"{V2}/requests.json", data=form)
        assert resp.status == 403
        data = json.loads(await resp.text())
        assert set(data[0]) == json_fields("errors.json") and data[0]["code"] == 403
    resp = await client.post(f"{V2}/requests.xml", data=POTHOLE)
    assert resp.status == 403
    assert ET.fromstring((await resp.text()).encode()).tag == "errors"
    async with sessions() as session:
        count = len((await session.execute(select(Request.id))).all())
    assert count == 5  # the seeded ones only


async def test_post_files_a_request_like_the_chat(
    client: Client,
    sessions: async_sessionmaker[AsyncSession],
    web_settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    before = await get_json(client, f"{V2}/requests.json")  # cached now
    caplog.set_level("INFO", logger="bot.web.open311")
    resp = await client.post(f"{V2}/requests.json", data={**POTHOLE, "api_key": API_KEY})
    assert resp.status == 200, await resp.text()
    answer = json.loads(await resp.text())
    assert set(answer[0]) == json_fields("post_request.json")
    number = answer[0]["service_request_id"]
    assert answer[0]["service_notice"]
    assert any(CLIENT in r.getMessage() and number in r.getMessage() for r in caplog.records)
    assert API_KEY not in caplog.text
    async with sessions() as session:
        req = (await session.execute(select(Request).where(Request.number == number))).scalar_one()
        assert req.channel == "open311" and req.resident_id is None
        assert req.department == web_settings.route("roads", "pothole")
        assert req.priority == web_settings.priority_for("roads", "pothole")
        expected = Request(category="roads", subcategory="pothole", department=req.department)
        policy_for(web_settings).start(expected, NOW)
        assert req.deadline_at is not None and expected.deadline_at is not None
        assert as_utc(req.deadline_at) == as_utc(expected.deadline_at)
        assert req.phone == "+380677654321"  # for the contact center's call-back
        created = (
            await session.execute(select(RequestEvent).where(RequestEvent.request_id == req.id))
        ).scalar_one()
        assert created.kind is EventKind.CREATED and created.actor is Actor.SYSTEM
        assert created.actor_id == f"open311:{CLIENT}"
        cards = (
            await session.execute(
                select(OutboxMessage.recipient).where(
                    OutboxMessage.request_id == req.id, OutboxMessage.kind == OutboxKind.CARD
                )
            )
        ).scalars()
        assert set(cards) == set(web_settings.desk_chats(req.department))
    after = await get_json(client, f"{V2}/requests.json")  # the cache was dropped
    assert len(after) == len(before) + 1
    one = await get_json(client, f"{V2}/requests/{number}.json")
    assert one[0]["status"] == "open" and one[0]["description"] == POTHOLE["description"]
    resp = await client.post(f"{V2}/requests.xml", data={**POTHOLE, "api_key": API_KEY})
    root = ET.fromstring((await resp.text()).encode())
    assert root.tag == xml_root("post_request.xml")
    assert children(root[0]) == xml_fields("post_request.xml", "request")


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"service_code": "nonsense"}, 404),
        ({"service_code": ""}, 400),
        ({"lat": "", "long": "", "address_string": ""}, 400),
        ({"lat": "50.45", "long": "30.52"}, 400),  # Kyiv: outside the city
        ({"lat": "north"}, 400),
        ({"phone": "call me"}, 400),
        ({"description": "x" * 5000}, 400),
    ],
)
async def test_post_errors(client: Client, change: dict[str, str], status: int) -> None:
    resp = await client.post(f"{V2}/requests.json", data={**POTHOLE, **change, "api_key": API_KEY})
    assert resp.status == status
    data = json.loads(await resp.text())
    assert data[0]["code"] == status and data[0]["description"]


async def test_post_text_loses_its_control_characters_and_nothing_else(
    client: Client, sessions: async_sessionmaker[AsyncSession]
) -> None:
    form = {
        **POTHOLE,
        "description": "Яма\x00 на <b>дорозі</b>\x07 & глибока",
        "address_string": "вул.\x00 Дорожня, 9",
        "api_key": API_KEY,
    }
    resp = await client.post(f"{V2}/requests.json", data=form)
    assert resp.status == 200, await resp.text()
    number = json.loads(await resp.text())[0]["service_request_id"]
    async with sessions() as session:
        req = (await session.execute(select(Request).where(Request.number == number))).scalar_one()
    assert req.description == "Яма на <b>дорозі</b> & глибока"
    assert req.address == "вул. Дорожня, 9"


async def test_get_answers_allow_any_origin(client: Client) -> None:
    for path in (f"{V2}/services.json", f"{V2}/requests.xml", "/en"):
        resp = await client.get(path, headers={"Origin": "https://example.org"})
        assert resp.headers["Access-Control-Allow-Origin"] == "*"


def test_xml_carries_any_text() -> None:
    text = to_xml("service_requests", [{"description": "a\x00b\x1bc <d> & \u00e9"}])
    root = ET.fromstring(text.encode())
    assert root.findtext("request/description") == "abc <d> & \u00e9"
