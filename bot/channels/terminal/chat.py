"""The terminal chat: play the resident in a shell, against the same core and database."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TextIO

from handlers.i18n import Translator, to_plain
from handlers.types import Button, ButtonKind, Incoming, Kind, Reply

CHANNEL = "terminal"

Handler = Callable[[Incoming], Awaitable[list[Reply]]]
# A button is chosen by its number, and no reply has 100 buttons: a longer run of digits is
# typed text (a phone number at the phone step).
BUTTON_DIGITS = 2
# Linux terminals in line mode keep at most 4,095 characters of a line and drop the rest.
TERMINAL_LINE_MAX = 4095


class TerminalChat:
    def __init__(
        self,
        handle: Handler,
        tr: Translator,
        *,
        user_id: str = "local",
        lang: str = "uk",
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
    ) -> None:
        self.handle = handle
        self.tr = tr
        self.user_id = user_id
        self.lang = lang
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.buttons: list[Button] = []

    def write(self, text: str) -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def render(self, replies: list[Reply]) -> None:
        for reply in replies:
            self.lang = reply.lang or self.lang  # the terminal's own hints follow the resident
            self.write(to_plain(reply.text))
            if reply.buttons:
                self.buttons = [b for row in reply.buttons for b in row]
                for i, b in enumerate(self.buttons, 1):
                    self.write(f"  [{i}] {b.label}")
        self.write("")

    def parse(self, line: str) -> Incoming | str | None:
        """An event to send, a message to print instead, or None to quit."""
        line = line.strip()
        base = Incoming(CHANNEL, self.user_id, Kind.OTHER)
        if line in ("/quit", "/exit"):
            return None
        if line.isdigit() and len(line) <= BUTTON_DIGITS and self.buttons:
            i = int(line) - 1
            if not 0 <= i < len(self.buttons):
                return self.tr.t(self.lang, "terminal.no_such_button")
            b = self.buttons[i]
            if b.kind is ButtonKind.REQUEST_LOCATION:
                return self.tr.t(self.lang, "terminal.bad_location")
            if b.kind is ButtonKind.REQUEST_CONTACT:
                return self.tr.t(self.lang, "terminal.contact_usage")
            return replace(base, kind=Kind.BUTTON, payload=b.payload)
        cmd, _, rest = line.partition(" ")
        if cmd == "/location":
            try:
                lat, lon = (float(x) for x in rest.replace(",", " ").split())
            except ValueError:
                return self.tr.t(self.lang, "terminal.bad_location")
            return replace(base, kind=Kind.LOCATION, latitude=lat, longitude=lon)
        if cmd == "/photo":
            name, _, caption = rest.strip().partition(" ")
            return replace(base, kind=Kind.PHOTO, photo=f"terminal:{name or 'photo'}", text=caption)
        if cmd == "/contact":
            return replace(base, kind=Kind.CONTACT, phone=rest.strip())
        if line.startswith("/") and len(line) > 1:
            return replace(base, kind=Kind.COMMAND, command=cmd[1:].lower(), text=rest)
        return replace(base, kind=Kind.TEXT, text=line)

    async def run(self) -> None:
        self.write(self.tr.t(self.lang, "terminal.intro") + "\n")
        self.render(
            await self.handle(Incoming(CHANNEL, self.user_id, Kind.COMMAND, command="start"))
        )
        lines = self._lines()
        while True:
            self.stdout.write("> ")
            self.stdout.flush()
            line = await lines.get()
            if not line:  # end of input
                return
            if len(line.rstrip("\n")) >= TERMINAL_LINE_MAX:
                self.write(self.tr.t(self.lang, "terminal.line_cut", limit=TERMINAL_LINE_MAX))
            parsed = self.parse(line)
            if parsed is None:
                return
            if isinstance(parsed, str):
                self.write(parsed)
                continue
            if parsed.kind is Kind.TEXT and not parsed.text:
                continue
            self.render(await self.handle(parsed))

    def _lines(self) -> asyncio.Queue[str]:
        """Lines of input, read by a daemon thread: a thread of asyncio's executor blocked in
        readline() kept the process alive after Ctrl-C until Enter was pressed."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str] = asyncio.Queue()

        def read() -> None:
            while True:
                try:
                    line = self.stdin.readline()
                except (OSError, ValueError):
                    line = ""
                try:
                    loop.call_soon_threadsafe(queue.put_nowait, line)
                except RuntimeError:
                    return  # the loop is closed: the chat is over
                if not line:
                    return

        threading.Thread(target=read, name="terminal-input", daemon=True).start()
        return queue
