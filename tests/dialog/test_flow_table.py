"""The dialog's step table is the truth the README's diagram is drawn from, and the moves the
handlers make are the ones it declares (tests/conftest.py fails any test in which a step
moves somewhere its row does not name)."""

from __future__ import annotations

import contextlib
import logging
import re

import pytest

from handlers.dialog.context import Context, Step
from handlers.dialog.conversation import COMMAND_STEPS
from handlers.dialog.diagram import diagram
from handlers.dialog.flow import STEPS, goto
from tests.conftest import ROOT


def test_every_step_has_a_row_leading_only_to_steps() -> None:
    assert set(STEPS) == set(Step)
    for spec in STEPS.values():
        assert set(spec.leads_to) <= set(Step)
    assert set(COMMAND_STEPS.values()) <= set(Step)


def test_the_readme_shows_the_diagram_the_table_draws() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```mermaid\n(stateDiagram-v2\n.*?)```", readme, re.S)
    assert block is not None
    assert block.group(1) == diagram(), "run: python -m handlers.dialog.diagram > README block"


def test_every_step_can_be_reached_from_the_menu() -> None:
    seen, todo = set(), [Step.MENU]
    while todo:
        s = todo.pop()
        if s not in seen:
            seen.add(s)
            todo += STEPS[s].leads_to
    assert seen == set(Step)


@pytest.mark.undeclared_moves
async def test_a_move_the_table_does_not_declare_is_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The guard itself: a step that moved somewhere its row does not name is logged."""
    ctx = Context.__new__(Context)
    ctx.step, ctx.handling = Step.ADD_INFO, True
    with (
        caplog.at_level(logging.WARNING, logger="handlers.dialog.flow"),
        contextlib.suppress(AttributeError),  # asking needs a whole context
    ):
        await goto(ctx, Step.CONFIRM)
    assert "undeclared move in the dialog: add_info -> confirm" in caplog.text
