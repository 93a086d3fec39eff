"""Running the bot: the enabled channels, the outbox worker and the scheduler, one web server
for every channel that takes webhooks and for the public page and Open311 API (bot/web) when
``[web] enabled``. It knows channels only through ``bot.channels.base``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable, Iterator, Sequence

from aiohttp import web

from bot import metrics
from bot.app import App
from bot.channels.base import Channel
from bot.channels.registry import CHANNELS, channel_problems, enabled_specs
from bot.cluster import Cluster
from bot.config import ConfigError
from bot.delivery import Delivery, Sender
from bot.media import MediaStore
from bot.scheduler import scheduling
from bot.voice import make_transcriber, transcribing
from bot.web import mount_web
from bot.web.health import mount_health
from handlers.outbound.jobs import Jobs

log = logging.getLogger(__name__)


def media_store(app: App) -> MediaStore:
    """Every channel's media folder, whether or not the channel runs now: a photo kept by a
    channel switched off since is still shown to the staff."""
    roots = {spec.name: spec.media_root(app.settings) for spec in CHANNELS if spec.media_root}
    return MediaStore(roots)


def build_channels(app: App, media: MediaStore | None = None) -> list[Channel]:
    problems = channel_problems(app.env, app.settings)
    if problems:  # e.g. a webhook without its secret: refused, not started with a warning
        raise ConfigError("\n".join(problems))
    media = media or media_store(app)
    return [spec.build(app, media) for spec in enabled_specs(app.env)]


@contextlib.asynccontextmanager
async def delivering(app: App, senders: dict[str, Sender]) -> AsyncIterator[Delivery]:
    """The outbox worker, running beside the channels for as long as the bot runs."""
    delivery = app.delivery(senders)
    stop = asyncio.Event()
    worker = asyncio.create_task(delivery.run(stop), name="delivery")
    try:
        yield delivery
    finally:
        stop.set()
        delivery.kick()
        await worker


def jobs(app: App, delivery: Delivery) -> Jobs:
    """Reminders, escalations, follow-ups and the digest; what they queue is sent at once."""
    return Jobs(app.sessions, app.settings, app.conversation.tr, on_enqueued=delivery.kick)


@contextlib.asynccontextmanager
async def sending(app: App, senders: dict[str, Sender]) -> AsyncIterator[Cluster | None]:
    """The outbox worker and the scheduler. On SQLite (one process) they simply run; on
    PostgreSQL only in the worker elected by bot/cluster.py, which may change while the bot
    runs; the cluster is yielded (for /healthz)."""
    if app.engine.dialect.name != "postgresql":
        async with (
            delivering(app, senders) as delivery,
            scheduling(jobs(app, delivery), app.settings),
        ):
            app.sending = True
            try:
                yield None
            finally:
                app.sending = False
        return
    cluster = Cluster(
        app.engine.url.render_as_string(hide_password=False),
        retry_seconds=app.settings.delivery.leader_retry_seconds,
    )
    app.cluster = cluster
    cluster.attach(app.desk)
    app.conversation.on_commit = app.desk.on_commit = cluster.notify_outbox
    stop = asyncio.Event()
    connection = asyncio.create_task(cluster.run(stop), name="cluster")
    lead = asyncio.create_task(_lead(app, senders, cluster, stop), name="lead")
    try:
        yield cluster
    finally:
        stop.set()
        await lead  # the sender's last sends finish before the lock is let go
        await connection


async def _lead(
    app: App, senders: dict[str, Sender], cluster: Cluster, stop: asyncio.Event
) -> None:
    """Send and schedule whenever this worker is the elected one."""
    while await _first(cluster.leading, stop):
        async with (
            delivering(app, senders) as delivery,
            scheduling(jobs(app, delivery), app.settings),
        ):
            cluster.on_outbox = delivery.kick
            try:
                await _first(cluster.stepped_down, stop)
            finally:
                cluster.on_outbox = lambda: None


async def _first(event: asyncio.Event, stop: asyncio.Event) -> bool:
    """Wait for ``event`` or ``stop``; whether it was the event (and not a stop)."""
    if not stop.is_set() and not event.is_set():
        waits = {asyncio.ensure_future(event.wait()), asyncio.ensure_future(stop.wait())}
        _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for wait in pending:
            wait.cancel()
    return event.is_set() and not stop.is_set()


@contextlib.asynccontextmanager
async def receiving(
    app: App, channels: Sequence[Channel]
) -> AsyncIterator[list[asyncio.Task[None]]]:
    """The channels receiving: the web server up when one of them mounts routes, each started,
    each one's loop running; the loops are yielded. Everything is stopped on the way out."""
    web_app = web.Application()
    mount_health(web_app, app)  # served wherever the server runs (see below)
    mounted = [channel.name for channel in channels if channel.mount(web_app)]
    where = app.settings.web_server()
    if app.settings.web.enabled:
        mount_web(web_app, app)
        if not mounted:  # polling only: the public side on an address of its own
            where = app.settings.web.listen_host, app.settings.web.listen_port
        mounted.append("the public page and Open311")
    server: web.AppRunner | None = None
    loops: list[asyncio.Task[None]] = []
    try:
        if mounted:
            server = web.AppRunner(web_app)
            await server.setup()
            await web.TCPSite(server, *where).start()
            log.info("web server on %s:%s for %s", *where, ", ".join(mounted))
        for channel in channels:
            await channel.start()
        loops = [asyncio.create_task(c.run(), name=f"{c.name}-receive") for c in channels]
        yield loops
    finally:
        if server is not None:
            await server.cleanup()  # no new webhook calls; those under way are answered
        for channel in channels:
            try:
                await channel.stop()
            except Exception:
                log.exception("%s did not stop cleanly", channel.name)
        for loop in loops:
            if loop.done():
                continue  # its end is what stopped the bot: the caller has its outcome
            try:
                await asyncio.wait_for(loop, 5)
            except (asyncio.CancelledError, TimeoutError):
                pass
            except Exception:
                log.exception("%s failed while stopping", loop.get_name())


async def run(app: App, channels: Sequence[Channel] | None = None) -> None:
    """Until a channel's loop ends (the terminal chat's /quit) or the process is stopped."""
    media = media_store(app)
    channels = build_channels(app, media) if channels is None else channels
    if not channels:
        raise ConfigError("no channel is enabled")
    senders = {channel.name: channel.sender() for channel in channels}
    app.conversation.on_handled = metrics.dialog_handled
    app.desk.on_handled = metrics.desk_handled
    # Receiving is entered first so that it ends last: the outbox's last sends go out before
    # the channels close their HTTP sessions.
    transcriber = make_transcriber(app.sessions, app.settings.voice, app.settings.desk_chats, media)
    async with (
        receiving(app, channels) as loops,
        sending(app, senders),
        transcribing(transcriber),
    ):
        terminated = asyncio.Event()
        with _on_sigterm(terminated.set):
            stop = asyncio.create_task(terminated.wait(), name="sigterm")
            done, _ = await asyncio.wait([*loops, stop], return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
        if terminated.is_set():
            # A service manager or a rolling restart: stop as on Ctrl-C, and say so.
            log.info("SIGTERM: stopping (answers under way finish, the outbox is handed back)")
        for loop in done - {stop}:
            loop.result()  # a channel that failed stops the bot with its error


@contextlib.contextmanager
def _on_sigterm(callback: Callable[[], None]) -> Iterator[None]:
    """SIGTERM ends the bot the way Ctrl-C does, instead of killing it mid-send with nothing
    logged (where the platform lets the event loop handle signals: the main thread on Unix)."""
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGTERM, callback)
    except (NotImplementedError, RuntimeError, ValueError):
        yield
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
