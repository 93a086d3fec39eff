"""Long messages in pieces Telegram accepts (issue 17, breaks 2 and 11): measured after HTML
parsing, never cut through a tag or an entity, tags closed at a cut and reopened after it.
Checked against the fake Bot API server's own HTML parser, which follows Telegram's rules."""

from __future__ import annotations

import html

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.channels.text import split_html, visible_length
from tests.fakes.telegram_server import visible_text

TAGS = [("<b>", "</b>"), ("<i>", "</i>"), ('<a href="https://kr.gov.ua/?a=1&amp;b=2">', "</a>")]


@st.composite
def bot_html(draw: st.DrawFn, depth: int = 0) -> str:
    """What the bot renders: escaped user text, line breaks, nested tags."""
    parts: list[str] = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["text", "text", "newline", "tag"] if depth < 2 else ["text"]))
        if kind == "text":
            parts.append(html.escape(draw(st.text(alphabet="ab <&>\"'ї😀\t", max_size=40))))
        elif kind == "newline":
            parts.append("\n")
        else:
            opening, closing = draw(st.sampled_from(TAGS))
            parts.append(opening + draw(bot_html(depth + 1)) + closing)
    return "".join(parts)


def ink(text: str) -> str:
    return "".join(ch for ch in text if not ch.isspace())


def pieces_ok(text: str, limit: int) -> list[str]:
    pieces = list(split_html(text, limit))
    for piece in pieces:
        shown = visible_text(piece, "HTML")  # raises on markup Telegram would refuse
        assert len(shown) <= limit, (piece, len(shown))
        assert shown.strip(), piece
    return pieces


@settings(max_examples=300, deadline=None)
@given(bot_html(), st.integers(min_value=1, max_value=60))
def test_every_piece_is_well_formed_and_short_enough(text: str, limit: int) -> None:
    pieces = pieces_ok(text, limit)
    # Nothing the reader would see is lost or added (blank space aside: a piece of nothing
    # but blanks is not sent, Telegram would refuse it).
    whole = "".join(visible_text(p, "HTML") for p in pieces)
    assert ink(whole) == ink(visible_text(text, "HTML"))
    assert visible_length(text) == len(visible_text(text, "HTML"))


def test_a_long_question_of_escapes_inside_italics() -> None:
    """The attack's 1,992 × "<-" needinfo question: 3,984 characters as read, more than 4,096
    as HTML. One message, as Telegram measures it."""
    question = html.escape("<-" * 996)
    text = f"❓ Request 2026-000123: the department asks:\n<i>{question}</i>\nReply here."
    assert len(text) > 4096
    [piece] = pieces_ok(text, 4096)
    assert piece == text


def test_a_cut_inside_a_tag_closes_and_reopens_it() -> None:
    text = "<b>" + "word " * 2000 + "</b>"
    pieces = pieces_ok(text, 4096)
    assert len(pieces) == 3
    assert all(p.startswith("<b>") and p.endswith("</b>") for p in pieces)
    assert all(not p.removesuffix("</b>").endswith("wor") for p in pieces), "cut at a space"
