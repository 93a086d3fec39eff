"""The one function that says whether a typed address is the place staff named (an outage's
street or building), on addresses as residents of a Ukrainian city type them, in uk and ru."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.domain.addresses import matches, parse_place

# (what staff named, what a resident typed, the same place?)
PAIRS: list[tuple[str, str, bool]] = [
    # The same building, typed every way.
    ("вул. Соборності, 12", "вул. Соборності, 12", True),
    ("вул. Соборності, 12", "вулиця Соборності 12", True),
    ("вул. Соборності, 12", "СОБОРНОСТІ 12", True),
    ("вул. Соборності, 12", "соборності,12", True),
    ("вул. Соборності, 12", "Соборності вул., буд. 12", True),
    ("вул. Соборності, 12", "ул. Соборности, д. 12", True),
    ("вул. Соборності, 12", "улица Соборности дом 12", True),
    ("вул. Соборності, 12", "м. Кривий Ріг, вул. Соборності, 12, кв. 45", True),
    ("вул. Соборності, 12", "Соборності 12 під'їзд 3", True),
    ("вул. Соборності, 12", "Соборності, № 12", True),
    ("вул. Соборності, 12", "вул.Соборності,12", True),
    ("просп. Металургів, 5", "Металлургов 5", True),
    ("просп. Металургів, 5", "проспект Металургів, будинок 5", True),
    ("просп. Металургів, 5", "пр-т Металлургов, д.5", True),
    ("вул. Героїв АТО, 3", "Героев АТО 3", True),
    ("вул. Героїв АТО, 3", "героїв ато, 3", True),
    ("вул. Під'їзна, 7", "вул. Під’їзна, 7", True),
    ("вул. Під'їзна, 7", "Підʼїзна 7", True),
    ("вул. Під'їзна, 7", "Підїзна 7", True),
    ("вул. Шевченка, 10а", "Шевченко 10-А", True),
    ("вул. Шевченка, 10а", "Шевченка 10 а", True),
    ("вул. Шевченка, 10а", "Шевченка 10А", True),
    ("вул. Шевченка, 10а", "Шевченка 10a", True),  # a Latin "a"
    ("вул. Гагаріна, 3/1", "просп. Гагарина 3/1", True),
    ("вул. Гагаріна, 3/1", "Гагаріна, буд. 3/1, кв 2", True),
    ("вул. 8 Березня, 12", "8 Березня 12", True),
    ("вул. Київська, 40", "ул. Киевская 40", True),
    ("пров. Садовий, 2", "провулок Садовий 2", True),
    ("пров. Садовий, 2", "переулок Садовый, 2", True),
    # A whole street covers every building on it.
    ("вул. Соборності", "вул. Соборності, 12", True),
    ("вул. Соборності", "ул. Соборности 140/2, кв. 9", True),
    ("вул. Соборності", "Соборності", True),
    ("просп. Металургів", "Металлургов 31-Б", True),
    ("вул. 8 Березня", "вул. 8 Березня, 1", True),
    # Other buildings of the street.
    ("вул. Соборності, 12", "вул. Соборності, 14", False),
    ("вул. Соборності, 12", "вул. Соборності, 120", False),
    ("вул. Соборності, 12", "вул. Соборності, 12а", False),
    ("вул. Соборності, 12", "вул. Соборності, 12/1", False),
    ("вул. Соборності, 12", "вул. Соборності, 1", False),
    ("вул. Шевченка, 10а", "Шевченка 10б", False),
    ("вул. Шевченка, 10а", "Шевченка 10", False),
    ("вул. Гагаріна, 3/1", "Гагаріна 3/2", False),
    # Other streets.
    ("вул. Соборності, 12", "вул. Свободи, 12", False),
    ("вул. Соборності", "вул. Свободи, 12", False),
    ("просп. Металургів", "вул. Шевченка, 5", False),
    ("вул. 8 Березня", "вул. Березнева, 8", False),
    ("вул. Київська, 40", "вул. Кільцева, 40", False),
    ("вул. Садова, 3", "вул. Садибна, 3", False),
    ("вул. Соборності, 12", "12", False),
    ("вул. Соборності, 12", "кв. 12", False),
]


def test_there_are_at_least_forty_pairs() -> None:
    assert len(PAIRS) >= 40
    assert sum(expected for *_, expected in PAIRS) >= 15
    assert sum(not expected for *_, expected in PAIRS) >= 15


@pytest.mark.parametrize(("named", "typed", "expected"), PAIRS)
def test_a_typed_address_is_the_place_staff_named_or_not(
    named: str, typed: str, expected: bool
) -> None:
    assert matches(named, typed) is expected, (parse_place(named), parse_place(typed))


STREET_TYPES = st.sampled_from(["вул.", "вулиця", "ул.", "улица", ""])
HOUSE_WORDS = st.sampled_from(["", "буд.", "д.", "№"])


@given(
    kind=STREET_TYPES,
    before=st.booleans(),
    house_word=HOUSE_WORDS,
    number=st.integers(1, 999),
    upper=st.booleans(),
    comma=st.booleans(),
)
def test_the_same_building_however_typed(
    kind: str, before: bool, house_word: str, number: int, upper: bool, comma: bool
) -> None:
    street = "Соборності"
    name = f"{kind} {street}" if before else f"{street} {kind}"
    typed = f"{name}{',' if comma else ''} {house_word} {number}"
    typed = typed.upper() if upper else typed
    assert matches(f"вул. Соборності, {number}", typed)
    assert not matches(f"вул. Соборності, {number + 1}", typed)
    assert matches("вул. Соборності", typed)


@given(st.text(max_size=80))
def test_any_text_is_read_without_error(text: str) -> None:
    place = parse_place(text)
    assert place.house == "" or place.house[0].isdigit()
