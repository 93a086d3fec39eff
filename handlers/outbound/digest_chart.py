"""The chart of the administrators' daily digest: open requests by department, as horizontal
stacked bars (new, in progress, waiting for the resident) with the overdue ones taken out of
their group and drawn in red, so the eye goes to them first.

Drawn with matplotlib's Agg backend through its object API (no pyplot, no global figure
state), so it is safe in a worker thread and needs no display. DejaVu Sans, which ships with
matplotlib, has the Cyrillic letters. The picture is always WIDTH × HEIGHT pixels.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from models.storage.digest_queries import DepartmentFigures

WIDTH, HEIGHT, DPI = 1000, 600, 100
COLORS = {
    "new": "#4e79a7",
    "in_progress": "#59a14f",
    "needs_info": "#bab0ac",
    "overdue": "#d62728",
}


@dataclass(frozen=True)
class ChartLabels:
    """The chart's words, in the staff's language."""

    title: str
    new: str
    in_progress: str
    needs_info: str
    overdue: str
    axis: str
    empty: str


def segments(fig: DepartmentFigures) -> dict[str, int]:
    """A department's bar: the groups without their overdue requests, then the overdue."""
    return {
        "new": fig.new - fig.overdue_new,
        "in_progress": fig.in_progress - fig.overdue_in_progress,
        "needs_info": fig.needs_info,
        "overdue": fig.overdue,
    }


def render_chart(rows: Sequence[tuple[str, DepartmentFigures]], labels: ChartLabels) -> bytes:
    """Draw ``rows`` (department name, figures; the first is drawn at the top) as a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(WIDTH / DPI, HEIGHT / DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    ax.set_title(labels.title, fontsize=13, loc="left")
    names = [textwrap.fill(name, 30) for name, _ in rows]
    ys = list(range(len(rows)))
    left = [0] * len(rows)
    for key in ("new", "in_progress", "needs_info", "overdue"):
        widths = [segments(fig)[key] for _, fig in rows]
        ax.barh(
            ys,
            widths,
            left=left,
            color=COLORS[key],
            label=getattr(labels, key),
            height=0.7,
            edgecolor="white",
            linewidth=0.5,
        )
        left = [a + b for a, b in zip(left, widths, strict=True)]
    most = max(left, default=0)
    for y, (total, (_, fig)) in enumerate(zip(left, rows, strict=True)):
        if not total:
            continue
        # Offsets in points, so the labels sit right of the bar whatever the scale.
        ax.annotate(
            str(total),
            (total, y),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=9,
        )
        if fig.overdue:
            ax.annotate(
                f"({fig.overdue})",
                (total, y),
                xytext=(10 + 6 * len(str(total)), 0),
                textcoords="offset points",
                va="center",
                fontsize=9,
                color=COLORS["overdue"],
                fontweight="bold",
            )
    ax.set_yticks(ys, names, fontsize=9)
    ax.invert_yaxis()
    ax.set_xlim(0, max(1, most) * 1.15)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(labels.axis)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if rows:
        figure.legend(loc="outside lower center", ncols=4, fontsize=9, frameon=False)
    else:
        ax.set_yticks([])
        ax.text(0.5, 0.5, labels.empty, transform=ax.transAxes, ha="center", va="center")
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=DPI)
    return out.getvalue()
