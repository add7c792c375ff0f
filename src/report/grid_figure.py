"""A figure of many panels that stays readable: a grid of small multiples bounded to a screen
(at most `MAX_PX` pixels a side at the report's `DPI`), titles wrapped to their panel, and one
legend outside the axes — or, for more lines than a legend can name, a colour scale over the
swept value (`ColorScale`) in its place.

Plain matplotlib on the Agg canvas, from the `Panel`s of `src.report.figures`; knows nothing of
runs or MLflow."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import BoundaryNorm, LogNorm, Normalize
from matplotlib.figure import Figure

from src.report.figures import Panel, draw_panel, letter, new_figure, wrapped

DPI = 150  # the report's PNGs (src.report.sweep.save)
MAX_PX = 3000  # a side: a screen
MAX_INCHES = MAX_PX / DPI
PANEL = (4.2, 3.0)  # a panel's size in inches when there is room
MIN_PANEL = (2.4, 1.9)  # ... and the least it shrinks to
MAX_LEGEND = 8  # more lines than this in a panel: a colour scale, not a legend
DISCRETE = 8  # up to this many values: one colour each, the colour bar ticked with the values


@dataclass
class ColorScale:
    """Colours over a swept value: one colour per value (up to `DISCRETE` values, ticks at the
    values), else a continuous scale (logarithmic when positive and spanning ≥ 20×)."""

    label: str  # the swept key in words (β₂, C)
    values: list[float]  # every value the lines take
    cmap: str = "viridis"

    def __post_init__(self) -> None:
        self.distinct = sorted(set(self.values))

    @property
    def discrete(self) -> bool:
        return len(self.distinct) <= DISCRETE

    def norm(self) -> Normalize:
        if self.discrete:
            n = len(self.distinct)
            return BoundaryNorm(np.arange(n + 1) - 0.5, n)
        low, high = self.distinct[0], self.distinct[-1]
        if low > 0 and high / low >= 20:
            return LogNorm(low, high)
        return Normalize(low, high if high > low else low + 1)

    def color(self, value: float) -> tuple:
        norm, cmap = self.norm(), colormaps[self.cmap]
        if self.discrete:
            n = len(self.distinct)
            return tuple(cmap(self.distinct.index(value) / max(n - 1, 1)))
        return tuple(cmap(norm(value)))

    def colorbar(self, fig: Figure, axes: Any) -> None:
        cmap = colormaps[self.cmap]
        if self.discrete:  # one colour per value, as `color` picks them
            cmap = cmap.resampled(len(self.distinct))
        mappable = ScalarMappable(self.norm(), cmap)
        bar = fig.colorbar(mappable, ax=axes, label=self.label, shrink=0.9, aspect=40)
        if self.discrete:
            bar.set_ticks(range(len(self.distinct)), labels=[f"{v:g}" for v in self.distinct])


def bounded_size(columns: int, rows: int, extra: tuple[float, float] = (0, 0)) -> tuple:
    """(width, height) in inches of `columns` × `rows` panels plus `extra` (a legend, a colour
    bar, a title): `PANEL` each while that fits in `MAX_INCHES`, else shrunk to fit."""
    width = min(MAX_INCHES, max(MIN_PANEL[0] * columns, PANEL[0] * columns) + extra[0])
    height = min(MAX_INCHES, max(MIN_PANEL[1] * rows, PANEL[1] * rows) + extra[1])
    return width, height


def grid_figure(
    rows: Sequence[Sequence[Panel | None]],
    title: str | None = None,
    scale: ColorScale | None = None,
) -> Figure:
    """Rows of panels (None: an empty cell), lettered (a), (b), … in reading order; one legend
    of every line label below the panels (if no `scale`), else `scale`'s colour bar beside them.
    At most `MAX_PX` pixels a side at `DPI`."""
    columns = max((len(row) for row in rows), default=1) or 1
    labels = {c.label for row in rows for p in row if p for c in p.curves}
    legend_rows = 0 if scale else -(-len(labels) // 4)
    extra = (1.2 if scale else 0.0, 0.3 * legend_rows + (0.6 if title else 0.0))
    width, height = bounded_size(columns, max(len(rows), 1), extra)
    fig = new_figure(width, height)
    axes = fig.subplots(max(len(rows), 1), columns, squeeze=False)
    panel_inches = (width - extra[0]) / columns
    n = 0
    for ax_row, row in zip(axes, rows, strict=False):
        for ax, panel in zip(ax_row, row, strict=False):
            if panel is None:
                ax.set_axis_off()
                continue
            draw_panel(ax, panel, legend=False)
            letter(ax, n)
            ax.set_title(wrapped(ax.get_title(), panel_inches), fontsize=9)
            n += 1
        for ax in ax_row[len(row) :]:
            ax.set_axis_off()
    if scale is not None:
        scale.colorbar(fig, axes)
    elif labels:
        handles: dict[str, Any] = {}
        for ax in axes.flat:
            for line in ax.get_lines():
                handles.setdefault(line.get_label(), line)
        fig.legend(
            list(handles.values()),
            list(handles),
            loc="outside lower center",
            ncols=min(len(handles), 4),
            frameon=False,
        )
    if title:
        fig.suptitle(wrapped(title, width), fontsize=10)
    return fig
