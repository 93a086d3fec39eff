"""Text helpers every channel needs: messengers cap the length of one message.

Telegram counts a message's length after parsing its HTML (a tag counts nothing, ``&lt;``
counts one) and refuses a piece whose tags do not balance ("can't parse entities"). So the
HTML splitter measures what the reader sees, never cuts inside a tag or an entity, and closes
the tags open at a cut, reopening them at the start of the next piece.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

_TOKEN = re.compile(r"<[^<>]*>|&(?:[a-zA-Z]+|#\d+|#x[0-9a-fA-F]+);|[^<&]|[<&]")
_TAG_NAME = re.compile(r"</?\s*([a-zA-Z][a-zA-Z0-9-]*)")


@dataclass(frozen=True, slots=True)
class _Token:
    raw: str
    width: int  # characters the reader sees
    opens: str = ""  # tag name, for an opening tag
    closes: str = ""  # tag name, for a closing tag


def _tokens(text: str) -> list[_Token]:
    out: list[_Token] = []
    for m in _TOKEN.finditer(text):
        raw = m.group()
        if raw.startswith("<") and raw.endswith(">") and len(raw) > 1:
            name = _TAG_NAME.match(raw)
            tag = name.group(1).lower() if name else ""
            if raw.startswith("</"):
                out.append(_Token(raw, 0, closes=tag))
            else:
                out.append(_Token(raw, 0, opens=tag))
        else:
            out.append(_Token(raw, 1))
    return out


def visible_length(html: str) -> int:
    """Characters of ``html`` the reader sees (Telegram's measure of a message)."""
    return sum(t.width for t in _tokens(html))


def split_html(text: str, limit: int) -> Iterator[str]:
    """Pieces of Telegram HTML each showing at most ``limit`` characters, each well formed:
    cut at a line end if there is one, else at a space, else anywhere between characters."""
    tokens = _tokens(text)
    stack: list[_Token] = []  # tags open at the current position
    start, prefix = 0, [t.raw for t in stack]
    width = 0
    line_cut: tuple[int, list[_Token]] | None = None
    space_cut: tuple[int, list[_Token]] | None = None
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.width and width + tok.width > limit and i > start:
            cut, open_then = line_cut or space_cut or (i, list(stack))
            piece = "".join(prefix + [t.raw for t in tokens[start:cut]])
            piece += "".join(f"</{t.opens}>" for t in reversed(open_then))
            if _shows_something(piece):
                yield piece
            start, prefix = cut, [t.raw for t in open_then]
            stack = list(open_then)
            width, line_cut, space_cut = 0, None, None
            i = cut
            continue
        if tok.opens:
            stack.append(tok)
        elif tok.closes:
            for j in range(len(stack) - 1, -1, -1):
                if stack[j].opens == tok.closes:
                    del stack[j]
                    break
        width += tok.width
        i += 1
        if tok.raw == "\n":
            line_cut = (i, list(stack))
        elif tok.raw == " ":
            space_cut = (i, list(stack))
    last = "".join(prefix + [t.raw for t in tokens[start:]])
    if _shows_something(last):
        yield last


def _shows_something(html: str) -> bool:
    return any(t.width and not t.raw.isspace() for t in _tokens(html))


def split_text(text: str, limit: int) -> Iterator[str]:
    """Plain text (no markup) in pieces of at most ``limit`` characters, cut at line ends,
    never inside a line unless one line alone is too long."""
    chunk = ""
    for line in text.split("\n"):
        while len(line) > limit:
            if chunk:
                yield chunk
                chunk = ""
            yield line[:limit]
            line = line[limit:]
        candidate = f"{chunk}\n{line}" if chunk else line
        if len(candidate) > limit:
            yield chunk
            chunk = line
        else:
            chunk = candidate
    if chunk.strip():
        yield chunk
