"""Whether a typed address is a place a staff member named (an outage's street or building):
``matches`` is the one function that decides it.

People type one address many ways: any case; with or without a street type (street, avenue,
lane, in Ukrainian and Russian, spelled out or cut short) before or after the name; a word or
a sign before the house number; apostrophes of three kinds or none; a house number with a
letter (12a, 12-A, "12 a") or a slash (12/1); the city's name in front, the flat after; and
in Ukrainian or in Russian spelling. Each side is read as a street and a house number; the
street is compared by its consonants (Ukrainian and Russian spell the vowels of one name
differently, and double consonants differently), the house number exactly (12 and 12a are two
buildings). A staff member's entry without a number names the whole street.

The words around an address are data (``address_words.toml``), not code; the examples, in
both languages, are in tests/models/test_addresses.py.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

_TOKEN = re.compile(r"[\w'№/-]+")
_HOUSE = re.compile(r"^(\d{1,4})(?:[-]?([^\W\d_]))?(?:/(\d{1,3}[^\W\d_]?))?$")
_LETTER = re.compile(r"^[^\W\d_]$")
# Apostrophes people type (’ ʼ ` ‘ ´) as one, wherever typed words are compared.
APOSTROPHES = str.maketrans({"’": "'", "ʼ": "'", "`": "'", "‘": "'", "´": "'"})


@dataclass(frozen=True)
class Place:
    street: str  # the street's consonant skeleton, word by word
    house: str  # "12", "12a", "12/1" (Cyrillic letters); "" when only the street is named


@cache
def _words() -> dict[str, Any]:
    with (Path(__file__).with_name("address_words.toml")).open("rb") as f:
        data = tomllib.load(f)
    return {
        "street": frozenset(data["street_types"]),
        "house": frozenset(data["house_words"]),
        "flat": frozenset(data["flat_words"]),
        "city": frozenset(data["city_words"]),
        "fold": str.maketrans({k: v for k, v in data["fold"].items()}),
        "vowels": frozenset(data["vowels"]),
        "letters": str.maketrans(data["house_letters"]),
    }


def _skeleton(word: str) -> str:
    w = _words()
    folded = [c for c in word.translate(w["fold"]) if c not in w["vowels"] and c != "-"]
    out: list[str] = []
    for c in folded:
        if not out or out[-1] != c:  # a double consonant and a single one alike
            out.append(c)
    return "".join(out)


def _house(token: str) -> str | None:
    found = _HOUSE.match(token.translate(_words()["letters"]))
    if found is None:
        return None
    number, letter, part = found.groups()
    return number + (letter or "") + (f"/{part}" if part else "")


def parse_place(text: str) -> Place:
    """A typed address as a street and a house number."""
    w = _words()
    parts = [p for p in text.lower().translate(APOSTROPHES).split(",") if p.strip()]
    tokens: list[str] = []
    for i, part in enumerate(parts):
        words = [t.strip("-/'.") for t in _TOKEN.findall(part)]
        words = [t for t in words if t]
        if not words:
            continue
        if i == 0 and len(parts) > 1 and words[0] in w["city"]:
            continue  # "<city>, <street> ...": the city, not the street
        if words[0] in w["flat"]:
            break  # the flat, the entrance, the floor: not the place
        cut = next((j for j, t in enumerate(words) if t in w["flat"]), len(words))
        tokens += [t for t in words[:cut] if t not in w["street"] and t not in w["house"]]
        if cut < len(words):
            break
    # The house: the last number that is not the first word (a street may be named after a
    # date, "8 March"), with a letter typed apart ("12 a") joined to it.
    house, at = "", -1
    for j in range(len(tokens) - 1, 0, -1):
        value = _house(tokens[j])
        if value is not None:
            house, at = value, j
            break
    if at > 0 and at + 1 < len(tokens) and _LETTER.match(tokens[at + 1]):
        house += tokens[at + 1].translate(w["letters"])
        del tokens[at + 1]
    street = [t for j, t in enumerate(tokens) if j != at]
    return Place(" ".join(s for s in (_skeleton(t) for t in street) if s), house)


def matches(named: str, typed: str) -> bool:
    """Whether the address a resident ``typed`` is the place staff ``named``: the same
    street, and the same house unless ``named`` is a whole street."""
    want, got = parse_place(named), parse_place(typed)
    if not want.street or want.street != got.street:
        return False
    return not want.house or want.house == got.house


def place_key(address: str | None) -> str | None:
    """What two typed addresses of one building share ("<street>|<house>"), for an indexed
    lookup; None without a street and a house number."""
    if not address:
        return None
    place = parse_place(address)
    if not place.street or not place.house:
        return None
    return f"{place.street}|{place.house}"[:200]
