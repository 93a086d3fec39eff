"""The one status table: every set the bot uses is derived from it, and the derived sets agree
with each other and with what a resident and staff see."""

from __future__ import annotations

import importlib.util

from handlers.i18n import LANGUAGES, translator
from models.domain.status import (
    BUCKETS,
    CLOCK_RUNNING,
    FINAL_STATUSES,
    OPEN_STATUS_SQL,
    OPEN_STATUSES,
    REASSIGN_ACTION,
    RULE,
    RULES,
    STATUS_WORDS,
    TRANSITIONS,
    Clock,
    Status,
    card_actions,
)
from models.storage.migrate import MIGRATIONS_DIR


def test_every_status_has_one_row_and_only_known_successors() -> None:
    statuses = [r.status for r in RULES]
    assert sorted(statuses) == sorted(Status) and len(set(statuses)) == len(statuses)
    for rule in RULES:
        assert set(rule.next) <= set(Status)
        assert rule.status not in rule.next


def test_open_and_final_never_overlap_and_every_final_status_is_a_dead_end() -> None:
    assert not OPEN_STATUSES & FINAL_STATUSES
    for status in FINAL_STATUSES:
        assert TRANSITIONS[status] == frozenset()
        assert card_actions(status) == []
    # Resolved waits for the resident's "Is it fixed?": neither open nor final.
    assert Status.RESOLVED not in OPEN_STATUSES | FINAL_STATUSES


def test_every_open_status_is_counted_in_the_digest_and_can_reach_an_end() -> None:
    assert set(BUCKETS) == OPEN_STATUSES
    for status in OPEN_STATUSES:
        seen, todo = set(), [status]
        while todo:
            s = todo.pop()
            if s not in seen:
                seen.add(s)
                todo += TRANSITIONS[s]
        assert seen & FINAL_STATUSES, status


def test_the_clock_runs_only_while_the_department_has_the_request() -> None:
    assert set(CLOCK_RUNNING) <= OPEN_STATUSES
    assert RULE[Status.NEEDS_INFO].clock is Clock.PAUSED
    assert all(RULE[s].clock is Clock.STOPPED for s in FINAL_STATUSES | {Status.RESOLVED})


def test_a_card_offers_exactly_the_changes_the_table_allows() -> None:
    everything = ["accept", "progress", "needinfo", "resolve", "reject", REASSIGN_ACTION, "dup"]
    assert card_actions(Status.NEW) == everything
    assert card_actions(Status.IN_PROGRESS) == [
        "needinfo",
        "resolve",
        "reject",
        REASSIGN_ACTION,
        "dup",
    ]
    # What the desk refuses is not offered: a resolved request is not reassigned.
    assert card_actions(Status.RESOLVED) == []


def test_staff_may_type_every_status_by_its_value() -> None:
    for status in Status:
        assert STATUS_WORDS[status.value] is status
    assert STATUS_WORDS["progress"] is Status.IN_PROGRESS


def test_the_open_requests_indexes_name_the_open_statuses_of_the_table() -> None:
    """The partial indexes of migration 0005 repeat the open statuses in their WHERE; a status
    that becomes open needs a migration that rebuilds them (this test says so)."""
    path = MIGRATIONS_DIR / "versions" / "0005_open_queue_indexes_and_address_search.py"
    spec = importlib.util.spec_from_file_location("migration_0005", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.OPEN == OPEN_STATUS_SQL


def test_every_status_and_card_action_has_its_words_in_every_language() -> None:
    tr = translator()
    for lang in LANGUAGES:
        for status in Status:
            assert tr.t(lang, f"status.{status.value}") != f"status.{status.value}"
        for action in {a for s in Status for a in card_actions(s)}:
            assert tr.t(lang, f"card.{action}") != f"card.{action}"
