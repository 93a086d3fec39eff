"""Text as typed, in Viber: its apps (14.6 and later) turn ``*bold*``, ``_italic_``,
``~strike~`` and triple-backtick ``monospace`` into formatting, and Viber documents no way to
escape a marker. So where a pair of markers would take effect, in what staff or a resident
typed, each marker is sent as a character that looks the same and means nothing to Viber;
everything else (an underscore inside a word or a link, a lone asterisk) goes unchanged, so
links and e-mail addresses still work.

The other way needs nothing: Viber delivers the text with its markers, and the staff's
Telegram (HTML) shows them as typed."""

from __future__ import annotations

import re

LOOKALIKE = {"*": "\u2217", "_": "\u02cd", "~": "\u223c", "`": "\u02cb"}
_BOUNDARY = r"[\w*_~`]"
# A pair as a chat app reads it: the opening marker not inside a word, the text between
# neither starting nor ending with a space, the closing marker not followed by a word.
_PAIR = re.compile(
    rf"(?<!{_BOUNDARY})(?P<m>```|[*_~])(?=\S)(?P<body>.+?)(?<=\S)(?P=m)(?!{_BOUNDARY})",
    re.DOTALL,
)


def _inert(match: re.Match[str]) -> str:
    marker = "".join(LOOKALIKE[c] for c in match["m"])
    return f"{marker}{match['body']}{marker}"


def as_typed(text: str) -> str:
    """``text`` with every marker pair Viber would format made inert."""
    while any(c in text for c in LOOKALIKE):
        # Again until none is left: an inert pair can uncover another (``_*a*_``).
        text, found = _PAIR.subn(_inert, text)
        if not found:
            break
    return text


def looks_like(text: str) -> str:
    """What the resident reads: the look-alikes as the characters they stand for (tests)."""
    return text.translate({ord(v): k for k, v in LOOKALIKE.items()})
