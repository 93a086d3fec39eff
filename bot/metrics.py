"""What the bot counts for Prometheus (``/metrics`` on its web server, bot/web/health.py).

One registry per process, as prometheus_client intends: each worker is scraped on its own and
Prometheus adds them up. Counters only grow; the outbox's backlog and this worker's role are
read when scraped (bot/web/health.py ``state``), not kept up to date between scrapes.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

UPDATES = Counter(
    "citybot_updates",
    "Messenger updates handled, by who handled them (dialog, desk) and their kind",
    ["handler", "kind"],
    registry=REGISTRY,
)
DIALOG_STEP = Histogram(
    "citybot_dialog_step_seconds",
    "Time to answer one resident's event (database work included, sending not)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0),
    registry=REGISTRY,
)
OUTBOX_SENT = Counter(
    "citybot_outbox_sent", "Outbox messages delivered", ["channel"], registry=REGISTRY
)
OUTBOX_FAILED = Counter(
    "citybot_outbox_failed",
    "Outbox messages given up (failed, or the recipient is gone)",
    ["channel", "status"],
    registry=REGISTRY,
)
OUTBOX_RETRIED = Counter(
    "citybot_outbox_retried",
    "Sends put off: throttled (the messenger's 429) or error (a 5xx, the network, a timeout)",
    ["channel", "reason"],
    registry=REGISTRY,
)
OUTBOX_PENDING = Gauge(
    "citybot_outbox_pending",
    "Messages waiting in the outbox (read when scraped)",
    registry=REGISTRY,
)
OUTBOX_OLDEST = Gauge(
    "citybot_outbox_oldest_pending_seconds",
    "Age of the oldest message waiting in the outbox (read when scraped)",
    registry=REGISTRY,
)
SCHEDULER_CLAIMS = Counter(
    "citybot_scheduler_claims",
    "Requests (or digests) the scheduler's scans took, by step",
    ["step"],
    registry=REGISTRY,
)
SENDER = Gauge(
    "citybot_sender_leader",
    "1 when this worker is the deployment's sender and scheduler",
    registry=REGISTRY,
)


def dialog_handled(kind: str, seconds: float) -> None:
    UPDATES.labels("dialog", kind).inc()
    DIALOG_STEP.observe(seconds)


def desk_handled(kind: str, seconds: float) -> None:
    UPDATES.labels("desk", kind).inc()


def scanned(done: dict[str, int]) -> None:
    for step, count in done.items():
        if count:
            SCHEDULER_CLAIMS.labels(step).inc(count)


def exposition() -> bytes:
    return generate_latest(REGISTRY)
