"""GeoReport v2's two formats from one structure: JSON as it is, XML by the spec's mapping (a
list becomes repeated elements named in the singular; true/false; null an empty element),
UTF-8 with the XML declaration the spec asks for."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any
from xml.sax.saxutils import escape

from aiohttp import web

JSON_TYPE = "application/json"
XML_TYPE = "text/xml"
FORMATS = ("json", "xml")
# The element name of a list's items, by the list's name (GeoReport v2 and Service Discovery).
ITEM = {
    "services": "service",
    "service_requests": "request",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
    "errors": "error",
}


# Characters XML 1.0 cannot carry at all, even escaped: a resident's text with one would make
# the whole answer unreadable to an XML client.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _scalar(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return escape(_NOT_XML.sub("", str(value)))


def _xml(name: str, value: Any, out: list[str]) -> None:
    if isinstance(value, Mapping):
        out.append(f"<{name}>")
        for key, item in value.items():
            _xml(key, item, out)
        out.append(f"</{name}>")
    elif isinstance(value, Sequence) and not isinstance(value, str):
        out.append(f"<{name}>")
        for item in value:
            _xml(ITEM[name], item, out)
        out.append(f"</{name}>")
    else:
        out.append(f"<{name}>{_scalar(value)}</{name}>")


def to_xml(root: str, value: Any) -> str:
    out = ['<?xml version="1.0" encoding="utf-8"?>']
    _xml(root, value, out)
    return "\n".join(out) + "\n"


def respond(fmt: str, root: str, value: Any, *, status: int = 200) -> web.Response:
    """``value`` under ``root`` in XML (``services``, ``service_requests``, …); in JSON the
    value itself, as the spec's examples show (a list has no wrapping object)."""
    if fmt == "xml":
        body, ctype = to_xml(root, value), XML_TYPE
    else:
        body, ctype = json.dumps(value, ensure_ascii=False), JSON_TYPE
    return web.Response(text=body, status=status, content_type=ctype, charset="utf-8")


def errors(fmt: str, status: int, *descriptions: str) -> web.Response:
    items = [{"code": status, "description": d} for d in descriptions]
    return respond(fmt, "errors", items, status=status)
