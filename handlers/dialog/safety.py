"""Safety first: a category (or subcategory) may carry a notice shown the moment it is chosen
("smell of gas: leave the building and call 104 now"), and words that mean danger anywhere in
a description (``[safety] words``, in every language: a resident may write in another) bring
the emergency notice before the request goes on. The chat is not an emergency line, and the
resident must know that before they wait for an answer."""

from __future__ import annotations

import re
from collections.abc import Iterable

from handlers.dialog.context import Context
from models.domain.addresses import APOSTROPHES
from models.domain.city import LocalizedName

_WORD = re.compile(r"[\w']+")


def words_of(text: str) -> list[str]:
    """The words of a text as the matcher compares them: lower case, one apostrophe, and no
    punctuation around them."""
    found = (w.strip("'") for w in _WORD.findall(text.lower().translate(APOSTROPHES)))
    return [w for w in found if w]


def mentions(text: str, phrases: Iterable[str]) -> bool:
    """Whether ``text`` holds any of the phrases as whole words ("gas" is in "a smell of GAS!",
    not in "gasket"); a phrase of several words must appear as they are, in order."""
    said = words_of(text)
    for phrase in phrases:
        wanted = words_of(phrase)
        n = len(wanted)
        if n and any(said[i : i + n] == wanted for i in range(len(said) - n + 1)):
            return True
    return False


def show(ctx: Context, notice: LocalizedName | None) -> None:
    if notice is not None:
        ctx.say(ctx.t("safety.notice", text=notice.get(ctx.lang)))


def after_description(ctx: Context, description: str) -> None:
    safety = ctx.settings.safety
    if mentions(description, safety.all_words()):
        show(ctx, safety.notice)
