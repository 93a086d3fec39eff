"""The field lists of the GeoReport v2 specification, read from its own example responses
(tests/fixtures/open311, copied from the spec's text)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "open311"


def _xml_text(name: str) -> str:
    text = (FIXTURES / name).read_text(encoding="utf-8")
    return text[text.index("<?xml") :].strip()  # errors.xml starts with its HTTP status line


def xml_fields(name: str, path: str) -> set[str]:
    """The child element names of the first element at ``path`` in a spec example."""
    root = ET.fromstring(_xml_text(name).encode())
    node = root if path == "." else root.find(path)
    assert node is not None, (name, path)
    return {child.tag for child in node}


def xml_root(name: str) -> str:
    return ET.fromstring(_xml_text(name).encode()).tag


def json_fields(name: str) -> set[str]:
    """The keys of the spec's JSON example's first object (its JSON is not strict: numbers
    like 001, so the keys are read as text)."""
    text = (FIXTURES / name).read_text(encoding="utf-8")
    first = text[text.index("{") : text.index("}") + 1]
    return set(re.findall(r'"([a-z_]+)"\s*:', first))
