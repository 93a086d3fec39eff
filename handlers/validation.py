"""Validators for what residents type. Each returns the cleaned value or an error code that
names the catalog key of the hint to show (``error.address.too_short`` …)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200b\u202f\u205f\u3000]+")
_ADDRESS_ALLOWED = re.compile(r"^[\w\s.,;:'’ʼ\"«»()/\\№#+\-–—]+$")
_PHONE_JUNK = re.compile(r"[\s().\-–]")


@dataclass(frozen=True, slots=True)
class Invalid:
    code: str  # catalog key suffix: "too_short", "too_long", "bad_chars", …
    limit: int = 0


def _strip_controls(text: str, keep_newlines: bool) -> str:
    out = []
    for ch in text:
        if ch == "\n" and keep_newlines:
            out.append(ch)
        elif unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn"):
            out.append(" " if ch in "\t\r\n" else "")
        else:
            out.append(ch)
    return "".join(out)


def clean_line(text: str) -> str:
    """One line: control characters out, runs of spaces folded, trimmed."""
    return _SPACES.sub(" ", _strip_controls(text, keep_newlines=False)).strip()


def clean_multiline(text: str) -> str:
    lines = [_SPACES.sub(" ", ln).strip() for ln in _strip_controls(text, True).split("\n")]
    # Keep paragraph breaks but never more than one empty line in a row.
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def validate_address(text: str, min_len: int = 3, max_len: int = 200) -> str | Invalid:
    value = clean_line(text)
    if len(value) < min_len:
        return Invalid("too_short", min_len)
    if len(value) > max_len:
        return Invalid("too_long", max_len)
    if not any(ch.isalpha() for ch in value):
        return Invalid("no_letters")
    if not _ADDRESS_ALLOWED.match(value):
        return Invalid("bad_chars")
    return value


def validate_description(text: str, min_len: int = 10, max_len: int = 2000) -> str | Invalid:
    value = clean_multiline(text)
    if len(value) < min_len:
        return Invalid("too_short", min_len)
    if len(value) > max_len:
        return Invalid("too_long", max_len)
    return value


def validate_comment(text: str, max_len: int = 2000) -> str | Invalid:
    value = clean_multiline(text)
    if not value:
        return Invalid("too_short", 1)
    if len(value) > max_len:
        return Invalid("too_long", max_len)
    return value


def normalize_phone(text: str) -> str | Invalid:
    """A phone as +<country><number>; Ukrainian local forms (0XX…, 380…) are accepted."""
    raw = _PHONE_JUNK.sub("", text.strip())
    if raw.startswith("00"):
        raw = "+" + raw[2:]
    digits = raw[1:] if raw.startswith("+") else raw
    if not digits.isascii() or not digits.isdigit():
        return Invalid("bad_phone")
    if not raw.startswith("+"):
        if len(digits) == 10 and digits.startswith("0"):
            digits = "38" + digits
        elif len(digits) == 9 and not digits.startswith("0"):
            digits = "380" + digits
        elif len(digits) == 11 and digits.startswith("80"):  # the old "8 0XX …" trunk prefix
            digits = "3" + digits
    if digits.startswith("380") and len(digits) != 12:
        return Invalid("bad_phone")
    if not 8 <= len(digits) <= 15 or digits.startswith("0"):
        return Invalid("bad_phone")
    return "+" + digits
