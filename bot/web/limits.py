"""What keeps the public side from loading the bot: a per-IP rate limit, a short cache of whole
answers (one computation however many readers ask at once), CORS for GETs, and the API keys
of the systems allowed to file requests."""

from __future__ import annotations

import asyncio
import hmac
import logging
import math
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
API_KEYS_ENV = "OPEN311_API_KEYS"


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


@dataclass
class RateLimiter:
    """A token bucket per client: ``burst`` requests at once, then ``per_minute``."""

    per_minute: int
    burst: int
    clock: Callable[[], float] = time.monotonic
    max_clients: int = 50_000  # beyond this, buckets full again are forgotten
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def take(self, client: str) -> float:
        """0 when the request may go ahead; otherwise the seconds to wait."""
        now = self.clock()
        rate = self.per_minute / 60
        b = self._buckets.get(client)
        if b is None:
            if len(self._buckets) >= self.max_clients:
                self._forget_full(now, rate)
            b = self._buckets[client] = _Bucket(float(self.burst), now)
        b.tokens = min(float(self.burst), b.tokens + (now - b.at) * rate)
        b.at = now
        if b.tokens >= 1:
            b.tokens -= 1
            return 0.0
        return (1 - b.tokens) / rate

    def _forget_full(self, now: float, rate: float) -> None:
        full = [k for k, b in self._buckets.items() if b.tokens + (now - b.at) * rate >= self.burst]
        for k in full:
            del self._buckets[k]


@dataclass(slots=True)
class _Entry:
    expires: float
    status: int
    body: bytes
    content_type: str


@dataclass
class AnswerCache:
    """Whole answers by URL for ``seconds``; concurrent misses of one URL compute it once."""

    seconds: float
    clock: Callable[[], float] = time.monotonic
    max_entries: int = 2_000
    _entries: dict[str, _Entry] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    def clear(self) -> None:
        self._entries.clear()

    async def get(self, key: str, compute: Handler, request: web.Request) -> web.Response:
        if self.seconds <= 0:
            return _as_response(await compute(request))
        hit = self._fresh(key)
        if hit is not None:
            return _replay(hit)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            hit = self._fresh(key)
            if hit is None:
                resp = _as_response(await compute(request))
                if resp.status != 200:
                    return resp  # errors are cheap and often personal to the query
                if len(self._entries) >= self.max_entries:
                    self._entries.clear()
                hit = self._entries[key] = _Entry(
                    self.clock() + self.seconds,
                    resp.status,
                    bytes(resp.body) if isinstance(resp.body, bytes | bytearray) else b"",
                    resp.headers.get("Content-Type", "text/plain"),
                )
        self._locks.pop(key, None)
        return _replay(hit)

    def _fresh(self, key: str) -> _Entry | None:
        entry = self._entries.get(key)
        return entry if entry is not None and entry.expires > self.clock() else None


def _as_response(resp: web.StreamResponse) -> web.Response:
    assert isinstance(resp, web.Response)
    return resp


def _replay(entry: _Entry) -> web.Response:
    return web.Response(
        body=entry.body, status=entry.status, headers={"Content-Type": entry.content_type}
    )


def client_ip(request: web.Request, *, trust_forwarded_for: bool) -> str:
    if trust_forwarded_for:
        forwarded = request.headers.get("X-Forwarded-For", "")
        first = forwarded.split(",")[0].strip()
        if first:
            return first
    return request.remote or "unknown"


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


def cors(resp: web.StreamResponse) -> web.StreamResponse:
    resp.headers["Access-Control-Allow-Origin"] = "*"
    return resp


# --- API keys ---------------------------------------------------------------------------------


def parse_api_keys(value: str) -> dict[str, str]:
    """``"crm:secret1,app:secret2"`` → {secret: client name}. Malformed items are skipped
    with a warning naming the item's position, never its text (it may be a key)."""
    keys: dict[str, str] = {}
    for i, item in enumerate(value.split(","), 1):
        item = item.strip()
        if not item:
            continue
        name, sep, secret = item.partition(":")
        if not sep or not name.strip() or not secret.strip():
            log.warning("%s: item %d is not name:key, ignored", API_KEYS_ENV, i)
            continue
        keys[secret.strip()] = name.strip()
    return keys


def api_keys_from_environ(environ: dict[str, str] | None = None) -> dict[str, str]:
    env = os.environ if environ is None else environ
    return parse_api_keys(env.get(API_KEYS_ENV, ""))


def client_for_key(keys: dict[str, str], given: str | None) -> str | None:
    """The client's name for a key, compared in constant time."""
    if not given:
        return None
    found = None
    for secret, name in keys.items():
        if hmac.compare_digest(secret.encode(), given.encode()):
            found = name
    return found
