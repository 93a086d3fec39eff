"""Catalog access: gettext .po files in locales/<lang>/LC_MESSAGES/citybot.po, keyed by ids.

The catalogs are compiled in memory at start, so translators edit .po files and nothing else.
Values passed to ``t()`` are HTML-escaped unless wrapped in ``Safe``, because every reply is
rendered with an HTML parse mode somewhere.
"""

from __future__ import annotations

import gettext
import html
import io
import re
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LANGUAGES: tuple[str, ...] = ("uk", "ru", "en")
DEFAULT_LANGUAGE = "uk"
LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "citybot"


class Safe(str):
    """Text that is already valid markup (a rendered fragment), not to be escaped again."""

    __slots__ = ()


def po_path(lang: str, base: Path = LOCALES_DIR) -> Path:
    return base / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def _load(lang: str, base: Path) -> gettext.GNUTranslations:
    with po_path(lang, base).open("rb") as f:
        catalog = read_po(f, locale=lang, domain=DOMAIN)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


class Translator:
    def __init__(self, base: Path = LOCALES_DIR) -> None:
        self._catalogs = {lang: _load(lang, base) for lang in LANGUAGES}

    def _cat(self, lang: str) -> gettext.GNUTranslations:
        return self._catalogs.get(lang) or self._catalogs[DEFAULT_LANGUAGE]

    def t(self, lang: str, key: str, /, **kwargs: object) -> str:
        text = self._cat(lang).gettext(key)
        if text == key and lang != DEFAULT_LANGUAGE:
            text = self._catalogs[DEFAULT_LANGUAGE].gettext(key)
        return _fill(text, kwargs) if kwargs else text

    def plain(self, lang: str, key: str, /, **kwargs: object) -> str:
        """For button labels, which are never parsed as markup."""
        return self.t(lang, key).format(**kwargs)

    def n(self, lang: str, key: str, count: int, /, **kwargs: object) -> str:
        text = self._cat(lang).ngettext(key, key, count)
        return _fill(text, {"count": count, **kwargs})


def _fill(template: str, values: dict[str, object]) -> str:
    safe = {
        k: v if isinstance(v, Safe) or not isinstance(v, str) else html.escape(v, quote=False)
        for k, v in values.items()
    }
    return template.format(**safe)


@cache
def translator() -> Translator:
    return Translator()


_TAG = re.compile(r"<[^>]+>")


def to_plain(markup: str) -> str:
    """For channels without HTML (terminal, Viber): drop tags, unescape entities."""
    return html.unescape(_TAG.sub("", markup))
