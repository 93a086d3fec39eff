"""The terminal chat: `python -m bot chat` against a real database, and how it reads a line."""

from __future__ import annotations

import io
import os
import re
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.channels.terminal.chat import CHANNEL, TerminalChat
from bot.config import Settings
from handlers.dialog.conversation import Conversation
from handlers.i18n import to_plain, translator
from handlers.types import Button, ButtonKind, Incoming, Kind, Reply
from models.domain.tables import Request
from tests.chat import say

ROOT = Path(__file__).resolve().parent.parent.parent


def run_chat(db: Path, lines: list[str], user: str = "t1") -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELEGRAM_")}
    env |= {"BOT_CONFIG": str(ROOT / "bot.toml"), "DATABASE_URL": f"sqlite:///{db}"}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "chat", "--user", user],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return done.stdout


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


DIALOG = [
    "3",  # 🇬🇧 English
    "1",  # 📝 New request
    "5",  # 💡 Street lighting
    "1",  # Street light is off
    "/location 47.91 33.39",
    "The street light by house 12 has been off for a week",
    "/photo pic",
    "1",  # ✅ Done
    "/contact 0671234567",
    "1",  # ✅ Send the request
    "/quit",
]


@pytest.mark.slow
def test_a_whole_dialog(tmp_path: Path) -> None:
    db = tmp_path / "terminal.sqlite3"
    out = run_chat(db, DIALOG)
    assert to_plain(translator().t("uk", "terminal.intro")).splitlines()[0] in out
    assert "[3] 🇬🇧 English" in out
    match = re.search(r"registered under number (\d{4}-\d{6})", out)
    assert match, out
    [row] = rows(
        db,
        "SELECT number, channel, category, subcategory, department, latitude, longitude,"
        " description, phone, status FROM requests",
    )
    assert row == (
        match.group(1),
        CHANNEL,
        "lighting",
        "light_off",
        "lighting",
        47.91,
        33.39,
        "The street light by house 12 has been off for a week",
        "+380671234567",
        "new",
    )
    assert rows(db, "SELECT file_ref FROM photos") == [("terminal:pic",)]
    assert rows(db, "SELECT channel, external_id, language FROM residents") == [
        (CHANNEL, "t1", "en")
    ]


async def test_the_same_dialog_in_process(conversation: Conversation, settings: Settings) -> None:
    """The terminal chat on the core directly (both backends); the draft outlives a /quit."""

    async def session(lines: list[str]) -> str:
        out = io.StringIO()
        chat = TerminalChat(
            conversation.handle,
            conversation.tr,
            user_id="t2",
            lang=settings.default_language,
            stdin=io.StringIO("\n".join(lines) + "\n"),
            stdout=out,
        )
        await chat.run()
        return out.getvalue()

    await session([*DIALOG[:5], "/quit"])  # up to the location pin, then leave
    out = await session(["1", DIALOG[5], "1", "2", "1", "/quit"])  # ▶️ Continue … skip phone
    assert f"[1] {say('menu.continue')}" in out
    assert say("new.description", min=10, max=2000) in out
    assert re.search(r"registered under number \d{4}-\d{6}", out)
    async with conversation.sessions() as db:
        [req] = (await db.execute(select(Request))).scalars()
    assert (req.channel, req.description, req.phone, req.latitude) == (
        CHANNEL,
        DIALOG[5],
        None,
        47.91,
    )


# --- reading one line ---------------------------------------------------------------------


async def _no_handler(ev: Incoming) -> list[Reply]:
    raise AssertionError("not called")


@pytest.fixture
def terminal() -> TerminalChat:
    chat = TerminalChat(
        _no_handler,
        translator(),
        user_id="u1",
        lang="en",
        stdin=io.StringIO(),
        stdout=io.StringIO(),
    )
    chat.buttons = [
        Button("Yes", "yes"),
        Button("Send my location", "loc", ButtonKind.REQUEST_LOCATION),
        Button("Share my phone", "contact", ButtonKind.REQUEST_CONTACT),
    ]
    return chat


def ev(kind: Kind, **kw: object) -> Incoming:
    return Incoming(CHANNEL, "u1", kind, **kw)  # type: ignore[arg-type]


def test_parse(terminal: TerminalChat) -> None:
    tr = translator()
    assert terminal.parse("/quit") is None
    assert terminal.parse("  /exit \n") is None
    assert terminal.parse("1") == ev(Kind.BUTTON, payload="yes")
    assert terminal.parse("2") == tr.t("en", "terminal.bad_location")
    assert terminal.parse("3") == tr.t("en", "terminal.contact_usage")
    assert terminal.parse("0") == tr.t("en", "terminal.no_such_button")
    assert terminal.parse("4") == tr.t("en", "terminal.no_such_button")
    assert terminal.parse("/location 47.91 33.39") == ev(
        Kind.LOCATION, latitude=47.91, longitude=33.39
    )
    assert terminal.parse("/location 47.91, 33.39") == ev(
        Kind.LOCATION, latitude=47.91, longitude=33.39
    )
    assert terminal.parse("/location north") == tr.t("en", "terminal.bad_location")
    assert terminal.parse("/location 47.91") == tr.t("en", "terminal.bad_location")
    assert terminal.parse("/photo pic") == ev(Kind.PHOTO, photo="terminal:pic")
    assert terminal.parse("/photo pic вул. Лермонтова, 3") == ev(
        Kind.PHOTO, photo="terminal:pic", text="вул. Лермонтова, 3"
    )
    assert terminal.parse("/photo") == ev(Kind.PHOTO, photo="terminal:photo")
    assert terminal.parse("/contact +380 67 123 45 67") == ev(
        Kind.CONTACT, phone="+380 67 123 45 67"
    )
    assert terminal.parse("/START") == ev(Kind.COMMAND, command="start")
    assert terminal.parse("/new now") == ev(Kind.COMMAND, command="new", text="now")
    assert terminal.parse("  Не горить ліхтар  ") == ev(Kind.TEXT, text="Не горить ліхтар")
    assert terminal.parse("/") == ev(Kind.TEXT, text="/")


def test_parse_numbers_are_text_without_buttons(terminal: TerminalChat) -> None:
    terminal.buttons = []
    assert terminal.parse("12") == ev(Kind.TEXT, text="12")


async def test_run_renders_buttons_and_presses_them() -> None:
    seen: list[Incoming] = []

    async def handle(event: Incoming) -> list[Reply]:
        seen.append(event)
        return [Reply("<b>Ready?</b> &amp; go", [[Button("Yes", "yes"), Button("No", "no")]])]

    out = io.StringIO()
    chat = TerminalChat(
        handle, translator(), user_id="u1", lang="en", stdin=io.StringIO("\n2\n9\n"), stdout=out
    )
    await chat.run()  # ends at the end of input
    assert [e.kind for e in seen] == [Kind.COMMAND, Kind.BUTTON]
    assert seen[1].payload == "no"
    text = out.getvalue()
    assert "Ready? & go" in text and "<b>" not in text
    assert "  [1] Yes\n  [2] No" in text
    assert translator().t("en", "terminal.no_such_button") in text


def test_a_phone_number_typed_as_digits_is_text(terminal: TerminalChat) -> None:
    """Issue 14, point 8: at the phone step "0671234567" was taken for button number 671234567."""
    assert terminal.buttons  # as at the phone step: share, skip, back, cancel
    assert terminal.parse("0671234567") == ev(Kind.TEXT, text="0671234567")
    assert terminal.parse("12") == tr_no_such_button()


def tr_no_such_button() -> str:
    return translator().t("en", "terminal.no_such_button")


async def test_a_line_the_terminal_cut_is_reported() -> None:
    async def handle(event: Incoming) -> list[Reply]:
        return [Reply("ok")]

    out = io.StringIO()
    stdin = io.StringIO("я" * 4095 + "\n")
    chat = TerminalChat(handle, translator(), user_id="u1", lang="en", stdin=stdin, stdout=out)
    await chat.run()
    assert translator().t("en", "terminal.line_cut", limit=4095) in out.getvalue()


@pytest.mark.slow
def test_ctrl_c_leaves_the_chat_at_once_and_cleanly(tmp_path: Path) -> None:
    """Issue 14, point 8: after Ctrl-C the chat stayed alive until Enter, then exited 130."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELEGRAM_")}
    env |= {
        "BOT_CONFIG": str(ROOT / "bot.toml"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'ctrl-c.sqlite3'}",
    }
    errors = tmp_path / "stderr.txt"
    with errors.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "chat", "--user", "c1"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,  # a file, not a pipe nobody reads until the end: it cannot fill up
            cwd=ROOT,
            env=env,
            # As in a terminal: Ctrl-C is not inherited as ignored from whatever ran the tests.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        try:
            assert proc.stdout is not None
            seen = b""
            while b"> " not in seen:  # the first prompt: the chat waits for a line
                chunk = os.read(proc.stdout.fileno(), 4096)
                assert chunk, errors.read_bytes()
                seen += chunk
            proc.send_signal(signal.SIGINT)  # what Ctrl-C sends; stdin open, nothing typed
            try:
                code = proc.wait(timeout=20)  # at once; a loaded CI machine may take seconds
            except subprocess.TimeoutExpired:
                pytest.fail(f"alive 20 s after Ctrl-C; its log:\n{errors.read_text()[-3000:]}")
            assert code == 0, errors.read_text()[-3000:]
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert "Traceback" not in errors.read_text()
