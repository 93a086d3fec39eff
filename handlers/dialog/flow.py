"""The dialog as a table of steps: each step knows how to ask, and how to take an answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from handlers.dialog.context import Context, Step
from handlers.types import Incoming

Ask = Callable[[Context], Awaitable[None]]
Handle = Callable[[Context, Incoming], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class StepSpec:
    ask: Ask
    handle: Handle


STEPS: dict[Step, StepSpec] = {}


def step(name: Step, ask: Ask) -> Callable[[Handle], Handle]:
    """Register the handler of a step together with the function that asks for it."""

    def register(handle: Handle) -> Handle:
        STEPS[name] = StepSpec(ask, handle)
        return handle

    return register


async def goto(ctx: Context, name: Step) -> None:
    ctx.step = name
    await STEPS[name].ask(ctx)


async def reask(ctx: Context) -> None:
    await STEPS[ctx.step].ask(ctx)
