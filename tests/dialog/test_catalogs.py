"""The message catalogs (locales/<lang>/LC_MESSAGES/citybot.po): every key the code uses exists
in every language, the languages agree on keys and placeholders, plurals are right, and no
resident-facing text hides in the Python code instead."""

from __future__ import annotations

import ast
import io
import re
import string
import tokenize
from functools import cache
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from handlers.i18n import LANGUAGES, Translator, po_path
from models.domain.status import Status

ROOT = Path(__file__).resolve().parent.parent.parent
CODE_DIRS = ("handlers", "bot")
KEY = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
KEY_PREFIX = re.compile(r"^[a-z][a-z0-9_]*\.([a-z0-9_]+\.)*$")  # "status.", "staff.usage."
CALLS = {"t", "n", "hint", "button", "label", "plain"}
CYRILLIC = re.compile(r"[\u0400-\u04ff\u0500-\u052f]")


@cache
def catalog(lang: str) -> Catalog:
    with po_path(lang).open("rb") as f:
        return read_po(f, locale=lang)


def messages(lang: str) -> dict[str, list[str]]:
    """key → its text (one item, or one per plural form)."""
    out: dict[str, list[str]] = {}
    for msg in catalog(lang):
        if not msg.id:
            continue
        key = msg.id[0] if isinstance(msg.id, tuple | list) else msg.id
        texts = msg.string if isinstance(msg.string, tuple | list) else (msg.string,)
        out[key] = [str(t) for t in texts]
    return out


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


# --- which keys the code uses ---------------------------------------------------------------


def _code_files() -> list[Path]:
    return sorted(p for d in CODE_DIRS for p in (ROOT / d).rglob("*.py"))


def _call_name(node: ast.Call) -> str | None:
    fn = node.func
    if isinstance(fn, ast.Attribute):
        return fn.attr
    return fn.id if isinstance(fn, ast.Name) else None


def _key_arguments(node: ast.Call) -> list[ast.expr]:
    """The catalog-key argument: the first (ctx.t("k")) or, after a language, the second."""
    return list(node.args[:2])


def _prefix(node: ast.expr) -> str | None:
    """The constant start of a key built at run time: f"status.{x}" or "staff.usage." + x."""
    if isinstance(node, ast.JoinedStr):
        head = node.values[0] if node.values else None
        return head.value if isinstance(head, ast.Constant) and isinstance(head.value, str) else ""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left = node.left
        if isinstance(left, ast.Constant) and isinstance(left.value, str):
            return left.value
    return None


def used_keys() -> tuple[set[str], set[str]]:
    """(keys written out in calls, prefixes of keys built at run time)."""
    static: set[str] = set()
    dynamic: set[str] = set()
    for path in _code_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or _call_name(node) not in CALLS:
                continue
            for arg in _key_arguments(node):
                options = [arg.body, arg.orelse] if isinstance(arg, ast.IfExp) else [arg]
                for opt in options:
                    if isinstance(opt, ast.Constant) and isinstance(opt.value, str):
                        if KEY.match(opt.value):
                            static.add(opt.value)
                    elif (prefix := _prefix(opt)) is not None and KEY_PREFIX.match(prefix):
                        dynamic.add(prefix)
    return static, dynamic


def invalid_codes() -> dict[str, set[str]]:
    """validate_address → {"too_short", …}: the Invalid codes each validator can return."""
    tree = ast.parse((ROOT / "handlers" / "validation.py").read_text(encoding="utf-8"))
    codes: dict[str, set[str]] = {}
    for fn in tree.body:
        if not isinstance(fn, ast.FunctionDef):
            continue
        for node in ast.walk(fn):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "Invalid"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                codes.setdefault(fn.name, set()).add(str(node.args[0].value))
    return codes


def dynamic_family_keys() -> set[str]:
    codes = invalid_codes()
    keys = {f"status.{s.value}" for s in Status}
    for field in ("address", "description", "comment"):
        keys |= {f"error.{field}.{code}" for code in codes[f"validate_{field}"]}
    keys |= {f"error.phone.{code}" for code in codes["normalize_phone"]}
    return keys


def test_the_scan_finds_keys() -> None:
    static, dynamic = used_keys()
    assert {"menu.prompt", "new.summary", "hint.flood", "tg.choose", "language.name"} <= static
    assert {"status.", "error."} <= dynamic
    assert invalid_codes()["validate_address"] == {
        "too_short",
        "too_long",
        "no_letters",
        "bad_chars",
    }


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_key_used_in_the_code_exists(lang: str) -> None:
    static, _ = used_keys()
    missing = sorted((static | dynamic_family_keys()) - set(messages(lang)))
    assert not missing, f"{lang}: missing {missing}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_key_family_built_at_run_time_exists(lang: str) -> None:
    _, dynamic = used_keys()
    keys = set(messages(lang))
    missing = sorted(p for p in dynamic if not any(k.startswith(p) for k in keys))
    assert not missing, f"{lang}: no keys at all for {missing}"


# --- the catalogs agree with each other -----------------------------------------------------


@pytest.mark.parametrize("lang", ["uk", "ru"])
def test_same_keys_as_english(lang: str) -> None:
    en, other = set(messages("en")), set(messages(lang))
    assert sorted(en - other) == [], f"missing in {lang}"
    assert sorted(other - en) == [], f"only in {lang}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_no_empty_messages(lang: str) -> None:
    empty = sorted(k for k, texts in messages(lang).items() if not all(t.strip() for t in texts))
    assert not empty


@pytest.mark.parametrize("lang", ["uk", "ru"])
def test_same_placeholders_as_english(lang: str) -> None:
    en, other = messages("en"), messages(lang)
    wrong = []
    for key, texts in other.items():
        expected = set().union(*(placeholders(t) for t in en.get(key, [])))
        for i, text in enumerate(texts):
            if placeholders(text) != expected:
                wrong.append(f"{key}[{i}]: {sorted(placeholders(text))} != {sorted(expected)}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_message_can_be_filled(lang: str) -> None:
    """A stray brace or a mistyped placeholder would crash the bot when it says that message."""
    for texts in messages(lang).values():
        for text in texts:
            text.format(**{name: "x" for name in placeholders(text)})  # no error


TAG = re.compile(r"<(/?)([a-zA-Z]+)[^>]*>")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_markup_is_what_telegram_accepts(lang: str) -> None:
    """Only <b>, <i>, <code>, properly closed: Telegram refuses a message with anything else."""
    for key, texts in messages(lang).items():
        for text in texts:
            stack: list[str] = []
            for closing, tag in TAG.findall(text):
                assert tag in ("b", "i", "code"), f"{lang} {key}: <{tag}>"
                if closing:
                    assert stack and stack.pop() == tag, f"{lang} {key}: </{tag}>"
                else:
                    stack.append(tag)
            assert not stack, f"{lang} {key}: <{stack[-1]}> not closed"


# --- plurals --------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["uk", "ru"])
def test_three_plural_forms(lang: str) -> None:
    assert catalog(lang).num_plurals == 3
    plural = [msg for msg in catalog(lang) if msg.pluralizable]
    assert plural
    for msg in plural:
        forms = list(msg.string) if isinstance(msg.string, tuple | list) else [msg.string]
        assert len(forms) == 3, msg.id
        assert all(str(s).strip() for s in forms), msg.id


def test_english_has_two_plural_forms() -> None:
    assert catalog("en").num_plurals == 2


def _east_slavic_form(n: int) -> int:
    if n % 10 == 1 and n % 100 != 11:
        return 0
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return 1
    return 2


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("uk", ("звернення", "звернення", "звернень")),
        ("ru", ("обращение", "обращения", "обращений")),
    ],
)
@pytest.mark.parametrize("count", [1, 2, 5, 11, 12, 14, 21, 22, 25, 101, 111])
def test_plural_form_chosen_for_a_count(lang: str, words: tuple[str, ...], count: int) -> None:
    text = Translator().n(lang, "my.list", count, page=1, pages=1)
    form = _east_slavic_form(count)
    assert text == messages(lang)["my.list"][form].format(count=count, page=1, pages=1)
    assert f"{count} {words[form]} " in text


# --- no resident-facing text in the code ----------------------------------------------------


def _cyrillic_outside_catalogs(path: Path) -> list[str]:
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    # Settings defaults for what bot.toml names in three languages are data, not messages.
    allowed: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "LocalizedName":
            allowed |= {id(n) for n in ast.walk(node)}
    found = [
        f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and CYRILLIC.search(node.value)
        and id(node) not in allowed
    ]
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT and CYRILLIC.search(tok.string):
            found.append(f"{path.relative_to(ROOT)}:{tok.start[0]}: {tok.string}")
    return found


def test_no_cyrillic_in_the_code() -> None:
    files = sorted(p for d in ("bot", "handlers", "models") for p in (ROOT / d).rglob("*.py"))
    assert files
    found = [line for path in files for line in _cyrillic_outside_catalogs(path)]
    assert not found, "text for residents belongs in locales/*.po:\n" + "\n".join(found)
