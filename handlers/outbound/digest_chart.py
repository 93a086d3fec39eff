"""The chart of the administrators' daily digest. On the left, open requests by department, as
horizontal stacked bars (new, in progress, waiting for the resident) with the overdue ones taken
out of their group and drawn in red, so the eye goes to them first. On the right, each
department's on-time share over 30 days (open overdue requests counted as late) with the
residents' average rating beside it: the workload and how well it is handled, side by side.

Drawn with matplotlib's Agg backend through its object API (no pyplot, no global figure
state), so it is safe in a worker thread and needs no display. DejaVu Sans, which ships with
matplotlib, has the Cyrillic letters. The picture is always WIDTH × HEIGHT pixels.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from models.storage.digest_queries import DepartmentFigures
from models.storage.quality import Quality

if TYPE_CHECKING:
    from matplotlib.axes import Axes

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
    on_time_title: str
    on_time_axis: str


@dataclass(frozen=True)
class ChartRow:
    """One department's bar: its name, open requests now, and its 30 days' quality."""

    name: str
    figures: DepartmentFigures
    quality: Quality | None = None


def segments(fig: DepartmentFigures) -> dict[str, int]:
    """A department's bar: the groups without their overdue requests, then the overdue."""
    return {
        "new": fig.new - fig.overdue_new,
        "in_progress": fig.in_progress - fig.overdue_in_progress,
        "needs_info": fig.needs_info,
        "overdue": fig.overdue,
    }


def on_time_color(share: float) -> str:
    """Red below 60 %, amber below 85 %, green above: the thresholds a glance needs."""
    if share < 0.6:
        return COLORS["overdue"]
    return "#f28e2b" if share < 0.85 else COLORS["in_progress"]


def render_chart(rows: Sequence[ChartRow], labels: ChartLabels) -> bytes:
    """Draw ``rows`` (the first is drawn at the top) as a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH / DPI, HEIGHT / DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    ax, right = figure.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": (3, 1.3)})
    figure.suptitle(labels.title, fontsize=13, x=0.01, ha="left")
    ys = list(range(len(rows)))
    _open_requests(ax, rows, ys, labels)
    _on_time(right, rows, ys, labels)
    if rows:
        figure.legend(loc="outside lower center", ncols=4, fontsize=9, frameon=False)
    else:
        ax.set_yticks([])
        ax.text(0.5, 0.5, labels.empty, transform=ax.transAxes, ha="center", va="center")
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=DPI)
    return out.getvalue()


def _tidy(ax: Axes) -> None:
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _open_requests(ax: Axes, rows: Sequence[ChartRow], ys: list[int], labels: ChartLabels) -> None:
    from matplotlib.ticker import MaxNLocator

    left = [0] * len(rows)
    for key in ("new", "in_progress", "needs_info", "overdue"):
        widths = [segments(row.figures)[key] for row in rows]
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
    for y, (total, row) in enumerate(zip(left, rows, strict=True)):
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
        if row.figures.overdue:
            ax.annotate(
                f"({row.figures.overdue})",
                (total, y),
                xytext=(10 + 6 * len(str(total)), 0),
                textcoords="offset points",
                va="center",
                fontsize=9,
                color=COLORS["overdue"],
                fontweight="bold",
            )
    ax.set_yticks(ys, [textwrap.fill(row.name, 30) for row in rows], fontsize=9)
    ax.invert_yaxis()
    ax.set_xlim(0, max(1, most) * 1.15)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(labels.axis)
    _tidy(ax)


def _on_time(ax: Axes, rows: Sequence[ChartRow], ys: list[int], labels: ChartLabels) -> None:
    """The on-time share as a bar (0–100 %), the share and the rating written beside it."""
    ax.set_title(labels.on_time_title, fontsize=10, loc="left")
    for y, row in zip(ys, rows, strict=True):
        q = row.quality
        share = q.on_time_share if q is not None else None
        if share is not None:
            ax.barh([y], [100 * share], color=on_time_color(share), height=0.7)
        text = "—" if share is None else f"{round(100 * share)}%"
        if q is not None and q.average_rating is not None:
            text += f"  ★{q.average_rating:.1f}"
        ax.annotate(
            text,
            (100 * share if share is not None else 0, y),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=9,
        )
    ax.set_xlim(0, 140)  # room for the labels right of a full bar
    ax.set_xticks([0, 50, 100], ["0", "50%", "100%"])
    ax.set_xlabel(labels.on_time_axis)
    ax.tick_params(axis="y", left=False)
    _tidy(ax)
