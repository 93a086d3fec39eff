"""The scheduler: one APScheduler 3 interval job that runs ``Jobs.scan()`` every
``[deadlines] scan_seconds`` (and once right at start, so a bot that was down catches up at
once).

No persistent job store: APScheduler keeps only this one job, in memory, and everything that
must survive a restart is in our own tables (``requests.reminded_at`` / ``escalated_at`` /
``followup_at``, ``job_runs`` for the digest). Nothing is pickled, so an upgrade of the code
can never meet a stale pickled job.

One scheduler per deployment: it runs inside the bot process, beside the delivery worker, and a
deployment runs one bot process (Telegram allows one poller per token; with webhooks, one
process behind the proxy). Nothing breaks if two run anyway, e.g. for a moment during a
rolling restart, or a second copy started by mistake: every scan is a set of atomic claims
(``UPDATE … WHERE <not done yet> … RETURNING``, ``claim_slot`` for the digest) committed
together with the messages they cause, so whichever scheduler claims a reminder, an
escalation, a follow-up or the day's digest sends it, and the other finds nothing to do. Two
schedulers never send anything twice; they only do the looking twice.

Timing: ``coalesce`` folds runs missed while the event loop was busy into one (a scan catches
up on everything due anyway); ``max_instances=1`` never lets a slow scan overlap the next; a
run late by less than one interval still runs (``misfire_grace_time``), a later one is simply
replaced by the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from zoneinfo import ZoneInfo

from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.config import Settings
from bot.metrics import scanned
from handlers.outbound.jobs import Jobs

log = logging.getLogger(__name__)

SCAN_JOB_ID = "scan"
STOP_WAIT_SECONDS = 30.0


def make_scheduler(jobs: Jobs, settings: Settings) -> AsyncIOScheduler:
    """The scheduler with its one job; not started."""
    tz = ZoneInfo(settings.city.timezone)
    every = settings.deadlines.scan_seconds
    # In memory on purpose: all the state is in our tables (see above).
    scheduler = AsyncIOScheduler(timezone=tz, jobstores={"default": MemoryJobStore()})

    async def scan() -> None:
        scanned(await jobs.scan())

    scheduler.add_job(
        scan,
        IntervalTrigger(seconds=every, timezone=tz),
        id=SCAN_JOB_ID,
        name="reminders, escalations, follow-ups, digest",
        next_run_time=datetime.now(tz),  # once at start, then every interval
        coalesce=True,
        max_instances=1,
        misfire_grace_time=max(1, int(every)),
        replace_existing=True,
    )
    return scheduler


@contextlib.asynccontextmanager
async def scheduling(jobs: Jobs, settings: Settings) -> AsyncIterator[AsyncIOScheduler]:
    """The scheduler, running for as long as the bot runs. On the way out no new scan starts,
    a scan in progress is let finish (briefly), then the scheduler stops."""
    scheduler = make_scheduler(jobs, settings)
    # APScheduler logs every run at INFO; Jobs.scan logs what it did, and failures still show.
    logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)
    scheduler.start()
    log.info("scheduler: scanning every %ss", settings.deadlines.scan_seconds)
    try:
        yield scheduler
    finally:
        scheduler.pause()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(jobs.idle(), STOP_WAIT_SECONDS)
        scheduler.shutdown(wait=False)
        await asyncio.sleep(0)  # AsyncIOScheduler shuts down on the loop's next turn
