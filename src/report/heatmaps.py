"""Heatmaps of a final metric over a grid of two swept parameters: one annotated panel per
combination of the rest, bounded to a screen (`src.report.grid_figure.MAX_PX`).

The distance to the best point in hindsight (`final_distance`, and the worst coordinate's
`final_distance_max` of a d-dimensional run) and x on F = [−1, 1] have fixed colour scales, so the
same colour means the same thing in every panel and every sweep."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from src.report.figures import letter, new_figure
from src.report.grid_figure import MAX_INCHES

# metric -> (colour map, low, high): fixed scales, the same colour for the same value everywhere
FIXED_SCALES = {
    "final_x": ("coolwarm", -1.0, 1.0),  # x in F = [−1, 1]
    "tail_x_mean": ("coolwarm", -1.0, 1.0),
    "final_distance": ("viridis", 0.0, 1.0),  # 0 at x*, 1 at the far end of F
    "final_distance_max": ("viridis", 0.0, 1.0),
}
CELL = (0.9, 0.55)  # a cell's size in inches when there is room


@dataclass
class Grid:
    """A heatmap's cells: `values[i, j]` at (rows[i], cols[j]); NaN where no value."""

    values: np.ndarray
    rows: list[str]
    cols: list[str]
    row_key: str
    col_key: str
    title: str = ""
    notes: dict[tuple[int, int], str] = field(default_factory=dict)  # text for a cell, e.g. FAILED


def _cell_text(value: float, note: str | None) -> str:
    if note:
        return note
    if np.isnan(value):
        return "–"
    return f"{value:.3g}"


def draw_grid(fig: Figure, ax: Any, grid: Grid, metric: str) -> None:
    """One heatmap, cells annotated: `final_x` on the fixed diverging scale of F = [−1, 1] (the
    same colour for the same x in every panel), else diverging colours around 0 if any value is
    negative, else viridis."""
    shown = np.where(np.isfinite(grid.values), grid.values, np.nan)
    finite = shown[np.isfinite(shown)]
    if metric in FIXED_SCALES:
        name, low, high = FIXED_SCALES[metric]
        cmap, norm = colormaps[name], Normalize(low, high)
    elif finite.size and finite.min() < 0:
        bound = float(np.abs(finite).max()) or 1.0
        cmap, norm = colormaps["coolwarm"], Normalize(-bound, bound)
    else:
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        cmap, norm = colormaps["viridis"], Normalize(low, high if high > low else low + 1.0)
    image = ax.imshow(
        np.ma.masked_invalid(shown), cmap=cmap, norm=norm, aspect="auto", origin="lower"
    )
    for i in range(len(grid.rows)):
        for j in range(len(grid.cols)):
            value = float(grid.values[i, j])
            rgba = cmap(norm(value)) if np.isfinite(value) else (1, 1, 1, 1)
            dark = 0.299 * rgba[0] + 0.587 * rgba[1] + 0.114 * rgba[2] < 0.5
            ax.text(
                j,
                i,
                _cell_text(value, grid.notes.get((i, j))),
                ha="center",
                va="center",
                color="white" if dark else "black",
                fontsize=9 if len(grid.cols) <= 10 else 6,
            )
    ax.set_xticks(range(len(grid.cols)), grid.cols)
    ax.set_yticks(range(len(grid.rows)), grid.rows)
    ax.set_xlabel(grid.col_key)
    ax.set_ylabel(grid.row_key)
    ax.set_title(grid.title or metric)
    fig.colorbar(image, ax=ax, label=metric)


def heatmap_figure(grids: Sequence[Grid], metric: str) -> Figure:
    """One annotated heatmap of `metric` per grid, side by side."""
    columns = min(len(grids), 3)
    rows = -(-len(grids) // columns)
    fig = new_figure(
        min(MAX_INCHES, max(4.2, CELL[0] * max(len(g.cols) for g in grids) + 2.6) * columns),
        min(MAX_INCHES, max(3.4, CELL[1] * max(len(g.rows) for g in grids) + 2.0) * rows),
    )
    axes = list(fig.subplots(rows, columns, squeeze=False).flat)
    for ax in axes[len(grids) :]:
        ax.set_axis_off()
    for n, (ax, grid) in enumerate(zip(axes, grids, strict=False)):
        draw_grid(fig, ax, grid, metric)
        if len(grids) > 1:
            letter(ax, n)
    return fig
