"""The resident's dialog as a Mermaid state diagram, drawn from the step table
(handlers/dialog/flow.py) and the commands that reach a step from anywhere
(handlers/dialog/conversation.py). ``python -m handlers.dialog.diagram`` prints it; the
README shows exactly this, and a test keeps the two equal."""

from __future__ import annotations

from handlers.dialog.context import Step
from handlers.dialog.conversation import COMMAND_STEPS
from handlers.dialog.flow import STEPS


def state(step: Step) -> str:
    return "".join(part.capitalize() for part in step.value.split("_"))


def diagram() -> str:
    lines = ["stateDiagram-v2", f"    [*] --> {state(Step.LANGUAGE)}: /start"]
    for name in Step:
        for target, label in STEPS[name].leads_to.items():
            edge = f"    {state(name)} --> {state(target)}"
            lines.append(f"{edge}: {label}" if label else edge)
    commands = ", ".join(f"/{c} → {state(s)}" for c, s in COMMAND_STEPS.items())
    lines.append(f"    note right of {state(Step.MENU)}: from any step {commands}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(diagram(), end="")
