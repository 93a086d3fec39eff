"""The page's chart: requests filed and resolved per month as an inline SVG drawn on the server
(no script, no image request), with the same numbers in a table beside it for screen readers."""

from __future__ import annotations

from datetime import date
from html import escape

FILED_COLOUR = "#1f4e8c"  # 8.6:1 on white
RESOLVED_COLOUR = "#2e6b30"  # 6.5:1 on white


def bar_chart(
    months: list[tuple[date, int, int]],
    labels: list[str],
    *,
    title: str,
    filed: str,
    resolved: str,
) -> str:
    width, height, pad, top = 480, 200, 36, 16
    peak = max([f for _, f, _ in months] + [1])
    slot = (width - pad) / max(len(months), 1)
    bar = max(min(slot / 2 - 2, 24), 2)
    parts = [
        f'<svg viewBox="0 0 {width} {height + 40}" role="img" aria-labelledby="chart-title" '
        f'class="chart" preserveAspectRatio="xMidYMid meet">',
        f'<title id="chart-title">{escape(title)}</title>',
        f'<line x1="{pad}" y1="{top + height}" x2="{width}" y2="{top + height}" '
        f'stroke="#555" stroke-width="1"/>',
        f'<text x="{pad - 6}" y="{top + 4}" text-anchor="end" font-size="14" '
        f'fill="#222">{peak}</text>',
        f'<text x="{pad - 6}" y="{top + height}" text-anchor="end" font-size="14" '
        f'fill="#222">0</text>',
    ]
    for i, ((_, n_filed, n_resolved), label) in enumerate(zip(months, labels, strict=True)):
        x = pad + i * slot + slot / 2
        for offset, value, colour in (
            (-bar - 1, n_filed, FILED_COLOUR),
            (1, n_resolved, RESOLVED_COLOUR),
        ):
            h = height * value / peak
            parts.append(
                f'<rect x="{x + offset:.1f}" y="{top + height - h:.1f}" width="{bar:.1f}" '
                f'height="{h:.1f}" fill="{colour}"/>'
            )
        parts.append(
            f'<text x="{x:.1f}" y="{top + height + 16}" text-anchor="middle" font-size="14" '
            f'fill="#222">{escape(label)}</text>'
        )
    legend_y = top + height + 34
    parts += [
        f'<rect x="{pad}" y="{legend_y - 10}" width="12" height="12" fill="{FILED_COLOUR}"/>',
        f'<text x="{pad + 16}" y="{legend_y}" font-size="14" fill="#222">{escape(filed)}</text>',
        f'<rect x="{pad + 140}" y="{legend_y - 10}" width="12" height="12" '
        f'fill="{RESOLVED_COLOUR}"/>',
        f'<text x="{pad + 156}" y="{legend_y}" font-size="14" fill="#222">'
        f"{escape(resolved)}</text>",
        "</svg>",
    ]
    return "\n".join(parts)
