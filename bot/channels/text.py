"""Text helpers every channel needs: messengers cap the length of one message."""

from __future__ import annotations

from collections.abc import Iterator


def split_text(text: str, limit: int) -> Iterator[str]:
    """Pieces of at most ``limit`` characters, cut at line ends, never inside a line unless one
    line alone is too long (so markup that opens and closes on a line stays balanced)."""
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
