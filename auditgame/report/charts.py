"""The leaderboard heatmap (auditors x organisms, suites or tool sets) as PNG or SVG bytes."""

from __future__ import annotations

import io
import math

import numpy as np
from matplotlib.figure import Figure

from auditgame.numbers import number
from auditgame.report.board import Leaderboard
from auditgame.report.stats import Estimate, is_known

PANELS = (
    ("found_at_k", "found@K\n(quirky organisms)", "Greens"),
    ("false_alarm", "false alarms\n(controls)", "Reds"),
)
CELL_WIDTH, CELL_HEIGHT = 1.15, 0.62
"""Inches per heatmap cell: room for the value, its interval and n."""


def _panel(board: Leaderboard, metric: str) -> tuple[list[str], list[list[Estimate | None]]]:
    """The groups with a value for ``metric`` and the auditors x groups estimates."""
    frame = board.cells[metric]
    measured = frame.map(is_known)
    groups = [g for g in board.groups if measured[g].any()]
    return groups, [
        [frame.at[a, g] if measured.at[a, g] else None for g in groups] for a in frame.index
    ]


def cell_label(estimate: Estimate | None) -> str:
    """``0.50`` / ``[0.15, 0.85]`` / ``n=4`` on three lines; ``–`` when not measured."""
    if estimate is None:
        return "–"
    interval = f"[{number(estimate.lo, 2)}, {number(estimate.hi, 2)}]"
    return f"{number(estimate.value, 2)}\n{interval}\nn={estimate.n}"


def heatmap_figure(board: Leaderboard) -> Figure:
    """Two heatmaps side by side: found@K (quirky groups) and false alarms (control groups);
    rows are auditors (short names) in ranking order; each cell shows its value, 95% interval
    and run count; a colour bar under each panel is its legend."""
    panels = [(m, t, c, *_panel(board, m)) for m, t, c in PANELS] if not board.empty else []
    panels = [p for p in panels if p[3]]
    names = board.names if not board.empty else {}
    auditors = [names[a] for a in board.ranking.index]
    figure = Figure(layout="constrained")
    if not panels:
        axis = figure.subplots()
        axis.text(0.5, 0.5, "no audit runs", ha="center", va="center")
        axis.axis("off")
        figure.set_size_inches(4, 1.5)
        return figure
    columns = [max(len(p[3]), 1.4) for p in panels]  # at least room for the title
    axes = figure.subplots(1, len(panels), squeeze=False, gridspec_kw={"width_ratios": columns})
    label_width = 0.075 * max(len(a) for a in auditors) + 0.4
    figure.set_size_inches(
        label_width + sum(CELL_WIDTH * c + 0.3 for c in columns),
        1.6 + CELL_HEIGHT * len(auditors),
    )
    for axis, (_metric, title, colours, groups, cells) in zip(axes[0], panels):
        values = np.array([[e.value if e else math.nan for e in row] for row in cells], dtype=float)
        image = axis.imshow(
            np.ma.masked_invalid(values), cmap=colours, vmin=0, vmax=1, aspect="auto"
        )
        axis.set_title(title, fontsize=9)
        axis.set_xticks(range(len(groups)), [str(g) for g in groups], rotation=20, ha="right",
                        fontsize=8)
        axis.set_yticks(range(len(auditors)), auditors if axis is axes[0, 0] else [], fontsize=8)
        axis.tick_params(length=0)
        for i, row in enumerate(cells):
            for j, estimate in enumerate(row):
                dark = estimate is not None and estimate.value > 0.6
                axis.text(j, i, cell_label(estimate), ha="center", va="center", fontsize=6.5,
                          linespacing=1.25, color="white" if dark else "black")
        bar = figure.colorbar(image, ax=axis, orientation="horizontal", fraction=0.08,
                              pad=0.02, aspect=25, shrink=0.9)
        bar.ax.tick_params(labelsize=7)
        bar.set_label("share of runs (0–1)", fontsize=7)
    return figure


def _save(figure: Figure, format: str, dpi: int) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format=format, dpi=dpi, metadata={"Date": None} if format == "svg" else None)
    return buffer.getvalue()


def heatmap_png(board: Leaderboard, dpi: int = 150) -> bytes:
    return _save(heatmap_figure(board), "png", dpi)


def heatmap_svg(board: Leaderboard) -> tuple[bytes, float]:
    """The heatmap as SVG (sharp at any size and in print; text drawn as paths) and its width
    in inches."""
    figure = heatmap_figure(board)
    return _save(figure, "svg", 72), float(figure.get_size_inches()[0])
