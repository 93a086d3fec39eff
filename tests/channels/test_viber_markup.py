"""What is typed reaches a Viber resident as typed (issue 13): Viber's apps format *bold*,
_italic_, ~strike~ and ```monospace``` and document no escape, so a pair of markers in staff
or resident text is sent as look-alike characters; links, addresses and lone markers are left
alone. Property-based: whatever the text, no pair is left for Viber to format, and it reads the
same."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.channels.viber.markup import _PAIR, LOOKALIKE, as_typed, looks_like
from bot.channels.viber.render import render_reply
from handlers.types import Reply

TEXT = st.text(alphabet=st.sampled_from("*_~` aб1.:/\n@-"), max_size=40) | st.text(max_size=60)


@given(TEXT)
def test_no_pair_is_left_and_the_text_reads_the_same(text: str) -> None:
    text = "".join(c for c in text if c not in LOOKALIKE.values())
    out = as_typed(text)
    assert _PAIR.search(out) is None
    assert looks_like(out) == text


def test_what_is_left_alone() -> None:
    for typed in (
        "https://city.gov.ua/some_page_x",
        "ivan_petrenko@gmail.com",
        "3*4*5 and a * b",
        "* a list item",
        "вул. Шевченка, 10/2",
    ):
        assert as_typed(typed) == typed


def test_a_staff_reply_with_markers_reads_as_typed_in_viber() -> None:
    typed = "*Важливо*: бригада _№3_ приїде ~завтра~ сьогодні, код ```1520```"
    [message] = render_reply(Reply(f"Відповідь: {typed.replace('<', '&lt;')}"))
    shown = message["text"]
    assert _PAIR.search(shown) is None, "Viber would format part of it"
    assert looks_like(shown) == f"Відповідь: {typed}"
