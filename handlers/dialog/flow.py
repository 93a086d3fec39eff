"""The dialog as a table of steps: each step knows how to ask, how to take an answer, and which
steps it may lead to. The last is data, so the diagram in the README is drawn from this table
(``python -m handlers.dialog.diagram``) and a move the table does not declare is logged (the
test suite fails on it)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from handlers.dialog.context import Context, Step
from handlers.types import Incoming

log = logging.getLogger(__name__)

Ask = Callable[[Context], Awaitable[None]]
Handle = Callable[[Context, Incoming], Awaitable[None]]
# The steps a step may lead to, each with what takes the resident there ("" when the step is
# simply answered); the step itself (asked again) is always allowed.
Moves = Mapping[Step, str]


@dataclass(frozen=True, slots=True)
class StepSpec:
    ask: Ask
    handle: Handle
    leads_to: Moves


STEPS: dict[Step, StepSpec] = {}


def step(name: Step, ask: Ask, *, leads_to: Moves) -> Callable[[Handle], Handle]:
    """Register the handler of a step with the function that asks for it and where it leads."""

    def register(handle: Handle) -> Handle:
        STEPS[name] = StepSpec(ask, handle, dict(leads_to))
        return handle

    return register


async def goto(ctx: Context, name: Step) -> None:
    if ctx.handling and name is not ctx.step and name not in STEPS[ctx.step].leads_to:
        log.warning("undeclared move in the dialog: %s -> %s", ctx.step.value, name.value)
    ctx.step = name
    await STEPS[name].ask(ctx)


async def reask(ctx: Context) -> None:
    await STEPS[ctx.step].ask(ctx)
