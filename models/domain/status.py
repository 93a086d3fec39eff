"""The one table of a request's statuses. Every set the bot needs — which statuses are open,
which are final, where the deadline clock runs, how the digest groups them, which status may
follow which, what the desk may do on a card — is derived from it. Adding a status is one row
here plus its catalog strings (``status.<value>`` in locales/), and a migration only where an
index names the open statuses (``OPEN_STATUS_SQL``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Status(enum.StrEnum):
    NEW = "new"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    NEEDS_INFO = "needs_info"
    RESOLVED = "resolved"
    REJECTED = "rejected"
    CLOSED = "closed"
    REOPENED = "reopened"
    CANCELLED = "cancelled"


class Clock(enum.StrEnum):
    """What the deadline clock does while a request is in a status."""

    RUNNING = "running"  # the department has it: time counts, reminders and escalations
    PAUSED = "paused"  # the city waits for the resident: the time left is kept
    STOPPED = "stopped"  # done (or waiting for the resident's confirmation): nothing counts


class Bucket(enum.StrEnum):
    """How the digest, its chart and the figures group the open statuses."""

    NEW = "new"
    IN_PROGRESS = "in_progress"
    NEEDS_INFO = "needs_info"


@dataclass(frozen=True, slots=True)
class Rule:
    status: Status
    next: tuple[Status, ...]  # the statuses a change may lead to
    clock: Clock
    bucket: Bucket | None  # None: not open, so not in the digest's open figures
    waits_for_resident: bool = False  # follow-ups go to the resident after a while
    fresh_deadline: bool = False  # entering it starts the deadline anew
    reassigned_to: Status | None = None  # the status a reassigned request gets
    words: tuple[str, ...] = ()  # other names staff may type in /status and /queue

    @property
    def open(self) -> bool:
        """Still the city's (or the resident's) to act on: in queues, counted as open."""
        return self.bucket is not None

    @property
    def final(self) -> bool:
        """Nothing can follow: no change, no reassignment."""
        return not self.next


S = Status
RULES: tuple[Rule, ...] = (
    Rule(
        S.NEW,
        (S.ASSIGNED, S.IN_PROGRESS, S.NEEDS_INFO, S.RESOLVED, S.REJECTED),
        Clock.RUNNING,
        Bucket.NEW,
        reassigned_to=S.ASSIGNED,
    ),
    Rule(
        S.ASSIGNED,
        (S.IN_PROGRESS, S.NEEDS_INFO, S.RESOLVED, S.REJECTED),
        Clock.RUNNING,
        Bucket.IN_PROGRESS,
        words=("accepted",),
    ),
    Rule(
        S.IN_PROGRESS,
        (S.NEEDS_INFO, S.RESOLVED, S.REJECTED),
        Clock.RUNNING,
        Bucket.IN_PROGRESS,
        reassigned_to=S.ASSIGNED,
        words=("progress",),
    ),
    Rule(
        S.NEEDS_INFO,
        (S.IN_PROGRESS, S.RESOLVED, S.REJECTED, S.CLOSED),
        Clock.PAUSED,
        Bucket.NEEDS_INFO,
        waits_for_resident=True,
        words=("needinfo",),
    ),
    Rule(S.RESOLVED, (S.CLOSED, S.REOPENED), Clock.STOPPED, None, waits_for_resident=True),
    Rule(
        S.REOPENED,
        (S.ASSIGNED, S.IN_PROGRESS, S.NEEDS_INFO, S.RESOLVED, S.REJECTED),
        Clock.RUNNING,
        Bucket.IN_PROGRESS,
        fresh_deadline=True,
        reassigned_to=S.ASSIGNED,
    ),
    Rule(S.REJECTED, (), Clock.STOPPED, None),
    Rule(S.CLOSED, (), Clock.STOPPED, None),
    Rule(S.CANCELLED, (), Clock.STOPPED, None),
)
RULE: dict[Status, Rule] = {r.status: r for r in RULES}
assert set(RULE) == set(Status), "every status needs its row"

TRANSITIONS: dict[Status, frozenset[Status]] = {r.status: frozenset(r.next) for r in RULES}
OPEN_STATUSES: frozenset[Status] = frozenset(r.status for r in RULES if r.open)
FINAL_STATUSES: frozenset[Status] = frozenset(r.status for r in RULES if r.final)
CLOCK_RUNNING: tuple[Status, ...] = tuple(r.status for r in RULES if r.clock is Clock.RUNNING)
BUCKETS: dict[Status, Bucket] = {r.status: r.bucket for r in RULES if r.bucket is not None}
# The words staff may type for a status: its value and its other names.
STATUS_WORDS: dict[str, Status] = {r.status.value: r.status for r in RULES} | {
    word: r.status for r in RULES for word in r.words
}

# The condition of the partial indexes over the open requests (migration 0005), sorted;
# models.storage.desk_queries.open_clause() repeats it in queries so that SQLite uses them.
OPEN_STATUS_SQL = "status IN (" + ", ".join(f"'{s.value}'" for s in sorted(OPEN_STATUSES)) + ")"

# What a card's buttons do, in the order they are shown: each moves the request to a status,
# and is offered only where the table allows that change. Reassign moves it elsewhere and is
# offered while the request is open.
CARD_ACTIONS: tuple[tuple[str, Status], ...] = (
    ("accept", S.ASSIGNED),
    ("progress", S.IN_PROGRESS),
    ("needinfo", S.NEEDS_INFO),
    ("resolve", S.RESOLVED),
    ("reject", S.REJECTED),
)
REASSIGN_ACTION = "reassign"
DUPLICATE_ACTION = "dup"  # "Duplicate of…": merge into another open request (/merge)


def card_actions(status: Status) -> list[str]:
    """The buttons a card shows for a request in ``status``."""
    actions = [name for name, target in CARD_ACTIONS if target in TRANSITIONS[status]]
    if RULE[status].open:
        actions += [REASSIGN_ACTION, DUPLICATE_ACTION]
    return actions
