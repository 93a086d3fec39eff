"""Safety first (issue 11): the gas notice the moment "smell of gas" is chosen, and the emergency
notice when a description speaks of gas, fire or smoke, in each language, before the request
goes on; and the word matcher, property-tested."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.config import Settings, load_settings, parse_settings
from bot.errors import ConfigError
from handlers.dialog.safety import mentions, words_of
from handlers.i18n import to_plain
from tests.chat import Chat, say

SETTINGS = load_settings("bot.toml")
WORDS = SETTINGS.safety.all_words()
ASK_ADDRESS = {
    "uk": "Вкажіть адресу",
    "ru": "Укажите адрес",
    "en": "Where is the problem",
}


def notice(settings: Settings, lang: str, where: str) -> str:
    if where == "gas":
        sub = next(s for s in settings.category("housing").subcategories if s.code == "gas_smell")  # type: ignore[union-attr]
        assert sub.notice is not None
        text = sub.notice.get(lang)
    else:
        assert settings.safety.notice is not None
        text = settings.safety.notice.get(lang)
    return say("safety.notice", lang, text=text)


async def start_filing(chat: Chat, lang: str) -> None:
    await chat.command("start")
    await chat.payload(f"lang:{lang}")
    await chat.payload("menu:new")


@pytest.mark.parametrize("lang", ["uk", "ru", "en"])
async def test_the_gas_notice_comes_the_moment_the_category_is_chosen(
    chat: Chat, settings: Settings, lang: str
) -> None:
    await start_filing(chat, lang)
    await chat.payload("cat:housing")
    replies = await chat.payload("sub:gas_smell")
    said = [to_plain(r.text) for r in replies]
    # First the notice, then (only then) the next question.
    assert said[0] == notice(settings, lang, "gas")
    assert "104" in said[0]
    assert len(said) == 2


@pytest.mark.parametrize(
    ("lang", "description"),
    [
        ("uk", "У під'їзді сильно пахне газом, третій поверх"),
        ("ru", "В подъезде ЗАПАХ ГАЗА, уже час"),
        ("en", "There is smoke coming from the basement door"),
    ],
)
async def test_danger_words_in_a_description_bring_the_emergency_notice(
    chat: Chat, settings: Settings, lang: str, description: str
) -> None:
    await start_filing(chat, lang)
    await chat.payload("cat:lighting")
    await chat.payload("sub:light_off")
    await chat.text("вул. Соборності, 10")
    replies = await chat.text(description)
    said = [to_plain(r.text) for r in replies]
    assert said[0] == notice(settings, lang, "words"), said
    assert len(said) == 2  # and the filing goes on: the photos step


async def test_a_lawn_is_not_gas(chat: Chat, settings: Settings) -> None:
    await start_filing(chat, "uk")
    await chat.payload("cat:landscaping")
    await chat.payload(f"sub:{settings.category('landscaping').subcategories[0].code}")  # type: ignore[union-attr]
    await chat.text("вул. Соборності, 10")
    replies = await chat.text("Газон біля будинку витоптали, газети розкидані")
    assert all("112" not in to_plain(r.text) for r in replies)


# --- the matcher ----------------------------------------------------------------------------

PUNCTUATION = st.sampled_from(["", " ", "!", "?!", ", ", "… ", " — ", "(", ")", "«", "»", "\n"])


@given(
    phrase=st.sampled_from(WORDS),
    before=st.text(alphabet="абвгґдеєжзиіїйклмнопрстуфхцчшщьюя ", max_size=30),
    left=PUNCTUATION,
    right=PUNCTUATION,
    upper=st.booleans(),
)
def test_a_danger_word_is_found_whatever_the_case_and_punctuation_around_it(
    phrase: str, before: str, left: str, right: str, upper: bool
) -> None:
    said = f"{before} {left}{phrase.upper() if upper else phrase}{right} кінець"
    assert mentions(said, WORDS)


@given(
    st.lists(
        st.sampled_from(["газон", "газета", "димар", "горище", "пожежний", "газова"]), max_size=8
    )
)
def test_words_that_only_begin_like_a_danger_word_are_not_one(words: list[str]) -> None:
    assert not mentions(" ".join(words), ["газ", "дим", "горить", "пожежа"])


@given(st.text(max_size=200))
def test_the_words_of_any_text_are_lower_case_and_trimmed(text: str) -> None:
    for word in words_of(text):
        assert word == word.lower() and word.strip("'") == word and word


def test_apostrophes_are_one() -> None:
    assert words_of("під’їзд під'їзд підʼїзд") == ["під'їзд"] * 3
    assert mentions("П’ЯТИЙ поверх, пожежа!", ["пожежа"])
    assert mentions("запах   газу", ["запах газу"]) and not mentions("газу запах", ["запах газу"])


def test_danger_words_without_a_notice_are_refused(settings: Settings) -> None:
    data = settings.model_dump(mode="json")
    data["safety"] = {"words": {"en": ["fire"]}}
    with pytest.raises(ConfigError, match=r"safety\.words need safety\.notice"):
        parse_settings(data)
