"""Pictures for Viber: Viber shows a picture only from a public URL it fetches itself, so the
photos the bot keeps (and a department's Telegram photos of a fix, fetched once) are served by
the bot's own web server under ``[viber] media_path``, each URL signed with the bot's token so
that nobody can walk the folder by guessing names.

Viber's REST Bot API, "Send message" → "Picture message": the URL's last path segment must end
in .jpeg, .png or .gif; the picture is at most 1 MB for iOS.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re

from aiohttp import web

from bot.channels.viber.callbacks import CHANNEL
from bot.channels.viber.settings import ViberSettings
from bot.media import MediaStore

log = logging.getLogger(__name__)

# <channel>/<file>: the media store's own layout (bot/media.py); nothing else is served.
_NAME = re.compile(r"[A-Za-z0-9_-]+/[A-Za-z0-9_-][A-Za-z0-9_.-]*\.(?:jpeg|png|gif)")
_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif"}


class ViberMedia:
    def __init__(self, store: MediaStore, settings: ViberSettings, key: bytes) -> None:
        self.store = store
        self.settings = settings
        self.key = key

    def signature(self, name: str) -> str:
        return hmac.new(self.key, name.encode(), hashlib.sha256).hexdigest()[:32]

    async def url(self, ref: str) -> str | None:
        """A URL Viber can fetch ``ref`` from, or None (no public address set, or no file)."""
        if ref.startswith(("https://", "http://")):
            return ref
        base = self.settings.webhook_url.rstrip("/")
        if not base:
            log.warning("viber.webhook_url is not set: a photo cannot be shown in Viber")
            return None
        path = await self.store.local_copy(ref, CHANNEL)
        if path is None:
            return None
        try:
            name = path.relative_to(self.store.root(CHANNEL)).as_posix()
        except ValueError:
            return None  # a file of the bot's own elsewhere (the digest chart): not for Viber
        if not _NAME.fullmatch(name):
            log.warning("Viber cannot show %s: only .jpeg, .png and .gif", name)
            return None
        return f"{base}{self.settings.media_path}/{self.signature(name)}/{name}"

    def mount(self, web_app: web.Application) -> None:
        web_app.router.add_get(self.settings.media_path + "/{sig}/{name:.+}", self.handle)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        sig, name = request.match_info["sig"], request.match_info["name"]
        if not _NAME.fullmatch(name) or not hmac.compare_digest(sig, self.signature(name)):
            raise web.HTTPNotFound()
        path = self.store.root(CHANNEL) / name
        if not path.is_file():
            raise web.HTTPNotFound()
        kind = _TYPES[name.rsplit(".", 1)[1]]
        return web.FileResponse(
            path, headers={"Content-Type": kind, "Cache-Control": "public, max-age=604800"}
        )
