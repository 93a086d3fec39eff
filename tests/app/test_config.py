"""The repository's bot.toml is valid and sensible; broken configs fail with the key named."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

from bot.config import (
    LANGUAGES,
    ConfigError,
    Settings,
    load_settings,
    parse_settings,
)
from models.domain.city import LocalizedName

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
BOT_TOML = REPO_ROOT / "bot.toml"

CALLBACK_DATA_MAX_BYTES = 64  # Telegram's limit for inline button callback_data
LABEL_MAX_CHARS = 32  # button labels must stay readable on a phone screen


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings(BOT_TOML)


def _all_names(s: Settings) -> list[tuple[str, LocalizedName]]:
    names: list[tuple[str, LocalizedName]] = [("city.name", s.city.name)]
    names.append(("contacts.hours", s.contacts.hours))
    names += [(f"contacts.phones.{p.number}", p.label) for p in s.contacts.phones]
    names += [(f"departments.{d.code}", d.name) for d in s.departments]
    for c in s.categories:
        names.append((f"categories.{c.code}", c.name))
        names += [(f"categories.{c.code}.{sub.code}", sub.name) for sub in c.subcategories]
    return names


def _labels(s: Settings) -> list[tuple[str, LocalizedName]]:
    out: list[tuple[str, LocalizedName]] = []
    for c in s.categories:
        out.append((c.code, c.name))
        out += [(f"{c.code}.{sub.code}", sub.name) for sub in c.subcategories]
    return out


# --- the repository's bot.toml ---------------------------------------------------------------


def test_bot_toml_is_valid(settings: Settings) -> None:
    assert settings.default_language == "uk"
    assert settings.city.name.uk == "Кривий Ріг"
    assert settings.city.name.ru == "Кривой Рог"
    assert settings.city.name.en == "Kryvyi Rih"
    assert settings.city.timezone == "Europe/Kyiv"
    assert settings.telegram.mode == "polling"
    assert settings.departments
    assert settings.categories


def test_every_category_routes_to_an_existing_department(settings: Settings) -> None:
    known = {d.code for d in settings.departments}
    for cat in settings.categories:
        assert cat.department in known, cat.code
        assert settings.route(cat.code, None) in known
        for sub in cat.subcategories:
            assert sub.department is None or sub.department in known, f"{cat.code}.{sub.code}"
            assert settings.route(cat.code, sub.code) in known


def test_every_department_receives_something(settings: Settings) -> None:
    used = {c.department for c in settings.categories}
    used |= {s.department for c in settings.categories for s in c.subcategories if s.department}
    unused = {d.code for d in settings.departments} - used
    assert not unused, f"departments no category routes to: {sorted(unused)}"


def test_there_is_a_catch_all_category_for_the_contact_center(settings: Settings) -> None:
    other = settings.category("other")
    assert other is not None
    assert settings.department(other.department) is not None


def test_every_name_has_all_languages(settings: Settings) -> None:
    for where, name in _all_names(settings):
        for lang in LANGUAGES:
            value = getattr(name, lang)
            assert value.strip(), f"{where}: no {lang} name"
            assert value == value.strip(), f"{where}: {lang} name has stray spaces"


def test_ukrainian_and_russian_names_use_cyrillic(settings: Settings) -> None:
    for where, name in _all_names(settings):
        for lang in ("uk", "ru"):
            assert re.search(r"[А-Яа-яІіЇїЄєҐґЁё]", getattr(name, lang)), f"{where}.{lang}"
        assert not re.search(r"[А-Яа-яІіЇїЄєҐґЁё]", name.en), f"{where}.en is not English"
        # Letters that exist only in the other language give away a copy-paste slip.
        assert not re.search(r"[ЫыЭэЪъЁё]", name.uk), f"{where}.uk has Russian letters"
        assert not re.search(r"[ІіЇїЄєҐґ]", name.ru), f"{where}.ru has Ukrainian letters"


def test_labels_fit_on_a_phone(settings: Settings) -> None:
    for where, name in _labels(settings):
        for lang in LANGUAGES:
            label = getattr(name, lang)
            assert len(label) <= LABEL_MAX_CHARS, f"{where}.{lang}: {label!r} is too long"


def test_categories_have_emoji(settings: Settings) -> None:
    for cat in settings.categories:
        assert cat.emoji, cat.code
        assert not cat.emoji.isascii(), cat.code


def test_button_payloads_fit_in_64_bytes(settings: Settings) -> None:
    for cat in settings.categories:
        payload = f"cat:{cat.code}"
        assert len(payload.encode("utf-8")) <= CALLBACK_DATA_MAX_BYTES, payload
        for sub in cat.subcategories:
            payload = f"sub:{cat.code}:{sub.code}"
            assert len(payload.encode("utf-8")) <= CALLBACK_DATA_MAX_BYTES, payload


def test_longest_possible_codes_still_fit_in_64_bytes() -> None:
    payload = f"sub:{'c' * 24}:{'s' * 24}"
    assert len(payload.encode("utf-8")) <= CALLBACK_DATA_MAX_BYTES


def test_bbox_contains_the_whole_city(settings: Settings) -> None:
    bbox = settings.city.bbox
    inside = {
        "city centre": (47.909, 33.343),
        "Inhulets, far south": (47.72, 33.25),
        "Ternivskyi district, north": (48.04, 33.47),
    }
    for where, (lat, lon) in inside.items():
        assert bbox.contains(lat, lon), where
    outside = {"Kyiv": (50.45, 30.52), "Dnipro": (48.46, 35.04), "Odesa": (46.48, 30.72)}
    for where, (lat, lon) in outside.items():
        assert not bbox.contains(lat, lon), where


def test_contacts(settings: Settings) -> None:
    numbers = [p.number for p in settings.contacts.phones]
    assert numbers[0] == "1520"
    assert "112" in numbers
    assert "103" in numbers
    assert len(set(numbers)) == len(numbers)


def test_departments_have_no_invented_chat_ids(settings: Settings) -> None:
    for dep in settings.departments:
        # Group ids are filled in by the city IT team; a positive id would be a user, not a group.
        assert dep.telegram_chat_id is None or dep.telegram_chat_id < 0, dep.code
        assert all(uid > 0 for uid in dep.head_telegram_ids), dep.code


def test_bot_toml_holds_no_secrets() -> None:
    text = BOT_TOML.read_text(encoding="utf-8")
    assert not re.search(r"\b\d{6,12}:[A-Za-z0-9_-]{30,}\b", text), "looks like a bot token"
    assert not re.search(r"\w+://[^\s/@\"]+:[^\s/@\"]+@", text), "URL with a password"


# --- broken configurations -------------------------------------------------------------------

MINIMAL: dict[str, Any] = {
    "city": {"name": {"uk": "Місто"}},
    "contacts": {
        "phones": [{"number": "1520", "label": {"uk": "Контакт-центр"}}],
        "hours": {"uk": "цілодобово"},
    },
    "departments": [{"code": "roads", "name": {"uk": "Дороги"}}],
    "categories": [{"code": "pothole", "name": {"uk": "Яма"}, "department": "roads"}],
}


def _broken(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(MINIMAL)
    data.update(changes)
    return data


def _error(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as exc_info:
        parse_settings(data)
    return str(exc_info.value)


def test_minimal_config_is_valid() -> None:
    s = parse_settings(copy.deepcopy(MINIMAL))
    assert s.route("pothole", None) == "roads"
    assert s.category("pothole") is not None


def test_the_city_and_its_contacts_must_be_configured() -> None:
    """No placeholder city or phone number: a bot.toml without them does not start."""
    data = _broken()
    del data["city"], data["contacts"]
    msg = _error(data)
    assert "city" in msg and "contacts" in msg


def test_unknown_department_in_category() -> None:
    data = _broken()
    data["categories"][0]["department"] = "roadz"
    msg = _error(data)
    assert "categories.0.department" in msg
    assert "roadz" in msg


def test_unknown_department_in_subcategory() -> None:
    data = _broken()
    data["categories"][0]["subcategories"] = [
        {"code": "deep", "name": {"uk": "Глибока"}, "department": "nowhere"}
    ]
    msg = _error(data)
    assert "categories.0.subcategories.0.department" in msg
    assert "nowhere" in msg


def test_every_mistake_of_a_file_is_reported_at_once() -> None:
    """Issue 14, point 9: a field error used to hide the cross-reference errors (the model's
    last check runs only once every field is valid), so a file with three mistakes took three
    runs to fix."""
    data = _broken()
    data["categories"][0]["department"] = "roadz"
    data["limits"] = {"description_max": 99999}
    data["staff"] = {"language": "fr"}
    lines = _error(data).splitlines()[1:]
    assert len(lines) == 3, lines
    assert any("categories.0.department" in x and "roadz" in x for x in lines)
    assert any(x.strip().startswith("limits.description_max") for x in lines)
    assert any(x.strip().startswith("staff.language") for x in lines)


def test_check_config_warns_when_nobody_can_use_the_staff_desk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.__main__ import main

    config = tmp_path / "bot.toml"
    config.write_text(BOT_TOML.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setenv("BOT_CONFIG", str(config))
    for name in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET", "VIBER_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    assert main(["check-config"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ok:") and "warning: [staff] admins is empty" in out


def test_empty_categories_list() -> None:
    msg = _error(_broken(categories=[]))
    assert "categories:" in msg


def test_missing_categories() -> None:
    data = _broken()
    del data["categories"]
    assert "categories:" in _error(data)


def test_bbox_min_lat_above_max_lat() -> None:
    bbox = {"min_lat": 48.1, "max_lat": 47.7, "min_lon": 33.2, "max_lon": 33.6}
    msg = _error(_broken(city={"bbox": bbox}))
    assert "city.bbox" in msg
    assert "min_lat" in msg


def test_bbox_latitude_out_of_range() -> None:
    bbox = {"min_lat": 47.7, "max_lat": 148.1, "min_lon": 33.2, "max_lon": 33.6}
    assert "city.bbox.max_lat" in _error(_broken(city={"bbox": bbox}))


def test_unknown_top_level_key_and_secret_not_echoed() -> None:
    secret = "123456789:AAFakeTokenForTestsOnly_abcdefghijklmn"
    msg = _error(_broken(telegram_bot_token=secret))
    assert "telegram_bot_token" in msg
    assert secret not in msg


def test_unknown_nested_key() -> None:
    assert "telegram.mod" in _error(_broken(telegram={"mod": "webhook"}))


def test_bad_codes() -> None:
    data = _broken()
    data["departments"][0]["code"] = "Roads"
    assert "departments.0.code" in _error(data)

    data = _broken()
    data["categories"][0]["code"] = "c" * 25
    assert "categories.0.code" in _error(data)


def test_duplicate_codes() -> None:
    data = _broken()
    data["departments"].append(copy.deepcopy(data["departments"][0]))
    assert "duplicate department code(s): roads" in _error(data)

    data = _broken()
    data["categories"].append(copy.deepcopy(data["categories"][0]))
    assert "duplicate category code(s): pothole" in _error(data)

    data = _broken()
    sub = {"code": "deep", "name": {"uk": "Глибока"}}
    data["categories"][0]["subcategories"] = [sub, copy.deepcopy(sub)]
    msg = _error(data)
    assert "categories.0.subcategories" in msg
    assert "deep" in msg


def test_name_without_ukrainian() -> None:
    data = _broken()
    data["departments"][0]["name"] = {"en": "Roads"}
    assert "departments.0.name.uk" in _error(data)


def test_bad_limits_and_mode() -> None:
    assert "limits.photos_max" in _error(_broken(limits={"photos_max": 11}))
    assert "telegram.mode" in _error(_broken(telegram={"mode": "longpoll"}))


def test_load_settings_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml")


def test_load_settings_bad_toml(tmp_path: Path) -> None:
    path = tmp_path / "bot.toml"
    path.write_text("default_language = \n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(path)


def test_load_settings_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bot.toml"
    path.write_text(
        BOT_TOML.read_text(encoding="utf-8").replace(
            'department = "roads"', 'department = "roadz"', 1
        ),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as exc_info:
        load_settings(path)
    msg = str(exc_info.value)
    assert str(path) in msg
    assert "unknown department 'roadz'" in msg
