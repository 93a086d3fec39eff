"""The one place a photo reference is turned into something a messenger can show.

A request's photos are stored as references, whatever channel they came from:

* ``<channel>:<channel>/<name>`` — a picture a channel downloaded and saved here (Viber's media
  URLs expire, so the Viber channel keeps a copy under ``[viber] media_dir``);
* ``file:<path>`` — a file the bot made itself, e.g. the digest's chart;
* anything else without a scheme — a messenger's own id (a Telegram ``file_id``) or a URL,
  passed through as it is.

Every sender asks the store, so a photo a resident sent in one messenger reaches the staff in
another however the media folders are configured. A messenger that can only show a public URL
(Viber) asks for a ``local_copy`` of a reference: a messenger id is then fetched once through
``fetch_foreign`` (the Telegram channel sets it: a department's photo of the fix is a Telegram
file id) and kept in that channel's folder.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

log = logging.getLogger(__name__)

FILE_SCHEME = "file"
_SAFE_NAME = re.compile(r"[^0-9A-Za-z_.-]")


class MediaStore:
    """Files kept by channels, each channel in the folder its settings name."""

    def __init__(self, roots: Mapping[str, str | Path] | None = None) -> None:
        self.roots = {channel: Path(root) for channel, root in (roots or {}).items()}
        # A messenger's own id (no scheme, not a URL) → its bytes, or None when it cannot be had.
        self.fetch_foreign: Callable[[str], Awaitable[bytes | None]] | None = None

    def root(self, channel: str) -> Path:
        try:
            return self.roots[channel]
        except KeyError:
            raise LookupError(f"no media folder configured for {channel!r}") from None

    async def save(self, channel: str, name: str, data: bytes) -> str:
        """Keep ``data`` as ``name`` for ``channel``; its reference. Saving the same name again
        overwrites (a retried callback never makes a second file)."""
        safe = _SAFE_NAME.sub("", name).lstrip(".") or "photo"
        relative = Path(channel) / safe
        await asyncio.to_thread(_write, self.root(channel) / relative, data)
        return f"{channel}:{relative.as_posix()}"

    def path(self, ref: str) -> Path | None:
        """The local file behind a reference, when it is one and exists."""
        scheme, sep, rest = ref.partition(":")
        if not sep or not rest:
            return None
        if scheme == FILE_SCHEME:
            path = Path(rest)
        elif scheme in self.roots and rest.startswith(f"{scheme}/"):
            path = self.roots[scheme] / rest
        else:
            return None
        return path if path.is_file() else None

    def resolve(self, ref: str) -> Path | str | None:
        """A local file to upload, a messenger id or URL to pass on, or None when there is
        nothing to show (a missing file, the terminal's or a test's made-up reference)."""
        if ref.startswith(("https://", "http://")):
            return ref
        if ":" in ref.split("/", 1)[0]:
            return self.path(ref)
        return ref

    async def local_copy(self, ref: str, channel: str) -> Path | None:
        """A file in this store for ``ref``: the store's own, or a messenger id downloaded
        once into ``channel``'s folder (kept, so the next send reuses it). None for a URL
        (already public) or what cannot be had."""
        if ref.startswith(("https://", "http://")):
            return None
        if ":" in ref.split("/", 1)[0]:
            return self.path(ref)
        name = f"m-{hashlib.sha256(ref.encode()).hexdigest()[:32]}.jpeg"
        kept = self.root(channel) / channel / name
        if await asyncio.to_thread(kept.is_file):
            return kept
        if self.fetch_foreign is None:
            log.warning("no channel can fetch %s for %s", ref[:40], channel)
            return None
        data = await self.fetch_foreign(ref)
        if not data:
            return None
        return self.path(await self.save(channel, name, data))


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".part")
    tmp.write_bytes(data)
    tmp.replace(path)
