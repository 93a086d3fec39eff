"""What may leave the city's systems: free text with phone numbers and e-mail addresses blanked,
addresses without the flat, and nothing of the resident. Pure functions, no I/O: the public
page and the Open311 API both pass every text they publish through here.

A regex cannot find every name in free text, so a request's text is also blanked of what the
city knows about its resident (their stored name and phone, ``known``): the usual way a name
gets into a description is the resident signing it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "***"

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# A run of digits with the separators phone numbers are written with; whether it is a phone
# is decided by how many digits it has (see _is_phone).
_DIGITS = re.compile(r"(?<![\w@])\+?\(?\d[\d\s().\-]{4,}\d(?!\w)")
# Forms that are not phones although they are long runs of digits: a request number
# (2026-000123), ISO and local dates, times.
_NOT_PHONE = (
    re.compile(r"^\d{4}-\d{6,}$"),
    re.compile(r"^\d{4}-\d{1,2}-\d{1,2}$"),
    re.compile(r"^\d{1,2}[./]\d{1,2}[./]\d{2,4}$"),
)
PHONE_MIN_DIGITS = 6  # the city's own local numbers have six digits (92-12-34)
# "kv. 12", "apt 5", "flat 3b", and the Ukrainian/Russian "kv." / "kvartyra" in Cyrillic,
# with the comma before them; the house number stays.
_FLAT = re.compile(
    r"[,;]?\s*(?<!\w)(?:kv|apt|apartment|flat|app|"
    r"\u043a\u0432(?:\u0430\u0440\u0442\u0438\u0440\u0430)?|\u043a\u0432-\u0440\u0430)"
    r"(?!\w)\.?\s*(?:\u2116|no\.?|#)?\s*\d+[\w/-]*",
    re.IGNORECASE,
)


def _is_phone(candidate: str) -> bool:
    text = candidate.strip()
    if any(p.match(text) for p in _NOT_PHONE):
        return False
    return sum(ch.isdigit() for ch in text) >= PHONE_MIN_DIGITS


def _blank_phones(text: str) -> str:
    def repl(m: re.Match[str]) -> str:
        value = m.group(0)
        # The run may have swallowed a trailing space or bracket: keep it outside the mask.
        stripped = value.rstrip(" .-(")
        tail = value[len(stripped) :]
        return (MASK + tail) if _is_phone(stripped) else value

    return _DIGITS.sub(repl, text)


def _known_parts(known: Iterable[str | None]) -> list[str]:
    parts: set[str] = set()
    for value in known:
        if not value:
            continue
        value = value.strip()
        if len(value) >= 3:
            parts.add(value)
        parts.update(word for word in re.split(r"[\s,.;]+", value) if len(word) >= 3)
    return sorted(parts, key=len, reverse=True)  # a full name before its words


def blank_personal(text: str | None, known: Iterable[str | None] = ()) -> str | None:
    """``text`` with e-mail addresses, phone numbers and the ``known`` personal values (a
    resident's name and phone, and each word of them) replaced by ``MASK``."""
    if text is None:
        return None
    out = _EMAIL.sub(MASK, text)
    for part in _known_parts(known):
        out = re.sub(rf"(?<!\w){re.escape(part)}(?!\w)", MASK, out, flags=re.IGNORECASE)
    return _blank_phones(out)


def public_address(address: str | None, known: Iterable[str | None] = ()) -> str | None:
    """The address as the public may see it: the flat dropped, personal data blanked."""
    if address is None:
        return None
    without_flat = _FLAT.sub("", address).strip(" ,;")
    return blank_personal(without_flat, known)
