"""Figures from plain arrays: one job's trajectory or training history, the paper's Figures 1 and
2, heatmaps over a grid.

Every function returns a `matplotlib.figure.Figure` drawn on the Agg canvas without pyplot: no
global state, nothing to close, safe in any process (a Hydra job, a test, a headless server).
Knows nothing of MLflow; `src.report` turns runs into the `Curve`, `Panel` and `Grid` given here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

# Reddi et al. (2018), Figure 1: ADAM in blue, AMSGRAD in red.
PAPER_COLORS = {"Adam": "tab:blue", "AMSGrad": "tab:red"}
SHADES = {"Adam": "Blues", "AMSGrad": "Reds"}
OTHER_COLORS = [
    "tab:green",
    "tab:orange",
    "tab:purple",
    "tab:brown",
    "tab:pink",
    "tab:olive",
    "tab:cyan",
    "tab:gray",
]
X_LABEL, X_T, REGRET_T = "iterations", "$x_t$", "$R_t/t$"
TRAIN_LOSS, TEST_LOSS, TEST_ACCURACY = "training loss", "test loss", "test accuracy"
RUN_LAYOUT = "fixed"  # a run's own figure: drawn in every job, so its cost counts (new_figure)
FIXED_SCALES = {"final_x": (-1.0, 1.0), "tail_x_mean": (-1.0, 1.0)}  # x in F = [−1, 1]


@dataclass
class Curve:
    """One line: `values` at `steps`, optionally a [low, high] band (min–max over replicates)."""

    label: str
    steps: np.ndarray
    values: np.ndarray
    low: np.ndarray | None = None
    high: np.ndarray | None = None
    band_steps: np.ndarray | None = None  # the band's steps, if not `steps`
    color: str | tuple | None = None
    failed: bool = False  # drawn dashed, and left out of the axis limits


@dataclass
class Panel:
    """One axes: a title, the y label ($x_t$ or $R_t/t$) and its curves."""

    title: str
    ylabel: str
    curves: list[Curve] = field(default_factory=list)


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


def new_figure(width: float, height: float, layout: str = "constrained") -> Figure:
    """An empty Figure on the Agg canvas (no pyplot). `layout="fixed"`: no layout engine, the
    margins set once by `fixed_margins` (a run's figure: about 3× faster to save than
    constrained, which measures every label at every draw)."""
    fig = Figure(figsize=(width, height), layout=None if layout == "fixed" else layout)
    FigureCanvasAgg(fig)
    return fig


def fixed_margins(fig: Figure, columns: int, titled: bool) -> None:
    """Margins in inches that fit one row of `columns` panels with tick labels, axis labels,
    panel titles and (if `titled`) the figure's title."""
    width, height = fig.get_size_inches()
    left, right, gap = 0.75, 0.15, 0.8  # y tick labels and label; the edge; between panels
    panel = (width - left - right - gap * (columns - 1)) / columns
    fig.subplots_adjust(
        left=left / width,
        right=1 - right / width,
        bottom=0.55 / height,
        top=1 - (0.75 if titled else 0.35) / height,
        wspace=gap / panel,
    )


def line_colors(labels: Sequence[str], optimizers: Sequence[str]) -> dict[str, Any]:
    """A colour per line label: the paper's colour for a lone Adam/AMSGrad line, shades if several
    lines share an optimizer, a distinct colour for any other optimizer."""
    colors: dict[str, Any] = {}
    others = iter(OTHER_COLORS * (1 + len(labels) // len(OTHER_COLORS)))
    by_opt: dict[str, list[str]] = {}
    for label, opt in zip(labels, optimizers, strict=True):
        if label not in by_opt.setdefault(opt, []):
            by_opt[opt].append(label)
    for opt, group in by_opt.items():
        if len(group) == 1:
            colors[group[0]] = PAPER_COLORS.get(opt) or next(others)
        elif opt in SHADES:
            shades = colormaps[SHADES[opt]](np.linspace(0.45, 0.95, len(group)))
            colors.update({label: tuple(c) for label, c in zip(group, shades, strict=True)})
        else:
            colors.update({label: next(others) for label in group})
    return colors


def draw_curve(ax: Any, curve: Curve) -> None:
    """The curve's line (always one Line2D, even if empty) and its band if it has one."""
    style = "--" if curve.failed else "-"
    ax.plot(curve.steps, curve.values, style, color=curve.color, lw=1.4, label=curve.label)
    if curve.low is not None and curve.high is not None:
        steps = curve.steps if curve.band_steps is None else curve.band_steps
        ax.fill_between(steps, curve.low, curve.high, color=curve.color, alpha=0.2, lw=0)


def _series(curve: Curve) -> list[tuple[np.ndarray, np.ndarray]]:
    """(steps, values) pairs of a curve: its line and, if any, its band's edges."""
    band_steps = curve.steps if curve.band_steps is None else curve.band_steps
    edges = [(band_steps, y) for y in (curve.low, curve.high) if y is not None]
    return [(curve.steps, curve.values), *edges]


def robust_limits(curves: Sequence[Curve], skip: float = 0.01) -> tuple[float, float] | None:
    """y limits over the curves' finite values after the first `skip` of the steps (R_t/t starts
    at C·scale), from the curves that did not fail if any; None if there is nothing to bound."""
    chosen = [c for c in curves if not c.failed] or list(curves)
    parts = []
    for raw_steps, raw_ys in (pair for c in chosen for pair in _series(c)):
        steps, ys = np.asarray(raw_steps, dtype=float), np.asarray(raw_ys, dtype=float)
        if len(ys):
            keep = ys[steps >= skip * steps.max()]
            parts.append(keep[np.isfinite(keep)])
    values = np.concatenate(parts) if parts else np.zeros(0)
    if values.size == 0:
        return None
    low, high = float(values.min()), float(values.max())
    pad = 0.08 * (high - low) if high > low else max(abs(high), 1.0) * 0.1
    return low - pad, high + pad


def draw_panel(ax: Any, panel: Panel) -> None:
    """One Figure 1 panel: curves, labels, legend and limits that show the long-run behaviour."""
    for curve in panel.curves:
        draw_curve(ax, curve)
    ax.set_title(panel.title)
    ax.set_xlabel(X_LABEL)
    ax.set_ylabel(panel.ylabel)
    ax.grid(True, alpha=0.3)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: iterations(v)))
    limits = robust_limits(panel.curves)
    if panel.ylabel == X_T and limits and limits[0] >= -1.2 and limits[1] <= 1.2:
        ax.set_ylim(-1.1, 1.1)
    elif limits:
        low = min(limits[0], 0.0) if panel.ylabel == REGRET_T else limits[0]
        ax.set_ylim(low, limits[1])
    if panel.curves:
        ax.legend(loc="best", frameon=False)


def iterations(value: float) -> str:
    """An iteration tick without offset text: 0, 500, 20k, 2M, 1.5M."""
    for size, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"


def letter(ax: Any, n: int) -> None:
    """The panel's letter, (a), (b), ..., before its title as in the paper."""
    ax.set_title(f"({chr(ord('a') + n)}) {ax.get_title()}".rstrip())


def panels_figure(
    panels: Sequence[Panel], title: str | None = None, layout: str = "constrained"
) -> Figure:
    """Panels side by side, one axes each (Figure 1 is three: online R_t/t, online x_t,
    stochastic x_t). `layout="fixed"` for a run's own figure (see `new_figure`)."""
    fig = new_figure(4.6 * max(len(panels), 1), 3.6, layout)
    axes = fig.subplots(1, max(len(panels), 1), squeeze=False)[0]
    for n, (ax, panel) in enumerate(zip(axes, panels, strict=False)):
        draw_panel(ax, panel)
        letter(ax, n)
    if title:
        fig.suptitle(title)
    if layout == "fixed":
        fixed_margins(fig, max(len(panels), 1), bool(title))
    return fig


def rows_figure(rows: Sequence[Sequence[Panel]], title: str | None = None) -> Figure:
    """Rows of panels, one axes each (Figure 2: a row per task setting, its training loss and
    test loss side by side)."""
    columns = max((len(row) for row in rows), default=1) or 1
    fig = new_figure(4.6 * columns, 3.4 * max(len(rows), 1))
    axes = fig.subplots(max(len(rows), 1), columns, squeeze=False)
    n = 0
    for ax_row, row in zip(axes, rows, strict=False):
        for ax, panel in zip(ax_row, row, strict=False):
            draw_panel(ax, panel)
            letter(ax, n)
            n += 1
        for ax in ax_row[len(row) :]:
            ax.set_axis_off()
    if title:
        fig.suptitle(title)
    return fig


def training_figure(result: Any, title: str | None = None) -> Figure:
    """One training run's losses (training and test) and test accuracy over the iterations, from
    a TrainResult-like object with `log_steps`, `train_loss`, `test_loss` and `test_accuracy`."""
    steps = np.asarray(result.log_steps)
    panels = [
        Panel(
            "loss",
            "cross-entropy",
            [
                Curve(TRAIN_LOSS, steps, np.asarray(result.train_loss), color="tab:blue"),
                Curve(TEST_LOSS, steps, np.asarray(result.test_loss), color="tab:red"),
            ],
        ),
        Panel(
            TEST_ACCURACY,
            TEST_ACCURACY,
            [Curve(TEST_ACCURACY, steps, np.asarray(result.test_accuracy), color="tab:green")],
        ),
    ]
    return panels_figure(panels, title, RUN_LAYOUT)


def replicate_curve(
    label: str, steps: np.ndarray, values: np.ndarray, color: str | None = None
) -> Curve:
    """The mean over replicates (columns of `values` [P, R]), with a min–max band when R > 1."""
    values = np.asarray(values, dtype=float)
    values = values[:, None] if values.ndim == 1 else values
    curve = Curve(label, np.asarray(steps), values.mean(1), color=color)
    if values.shape[1] > 1:
        curve.low, curve.high = values.min(1), values.max(1)
    return curve


def trajectory_figure(result: Any, title: str | None = None) -> Figure:
    """One job's x_t and R_t/t (mean over replicates, min–max band) from a RunResult-like object
    with `log_steps` [P], `x` [P, R] and `avg_regret` [P, R]."""
    replicates = np.asarray(result.x).shape[-1]
    label = "mean" if replicates == 1 else f"mean of {replicates} (band: min–max)"
    panels = [
        Panel("iterate", X_T, [replicate_curve(label, result.log_steps, result.x, "tab:blue")]),
        Panel(
            "average regret",
            REGRET_T,
            [replicate_curve(label, result.log_steps, result.avg_regret, "tab:red")],
        ),
    ]
    return panels_figure(panels, title, RUN_LAYOUT)


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
        cmap, norm = colormaps["coolwarm"], Normalize(*FIXED_SCALES[metric])
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
                fontsize=9,
            )
    ax.set_xticks(range(len(grid.cols)), grid.cols)
    ax.set_yticks(range(len(grid.rows)), grid.rows)
    ax.set_xlabel(grid.col_key)
    ax.set_ylabel(grid.row_key)
    ax.set_title(grid.title or metric)
    fig.colorbar(image, ax=ax, label=metric)


def heatmap_figure(grids: Sequence[Grid], metric: str) -> Figure:
    """One annotated heatmap of `metric` per grid, side by side."""
    fig = new_figure(
        max(4.2, 0.9 * max(len(g.cols) for g in grids) + 2.6) * len(grids),
        max(3.4, 0.55 * max(len(g.rows) for g in grids) + 2.0),
    )
    axes = fig.subplots(1, len(grids), squeeze=False)[0]
    for n, (ax, grid) in enumerate(zip(axes, grids, strict=True)):
        draw_grid(fig, ax, grid, metric)
        if len(grids) > 1:
            letter(ax, n)
    return fig


def boundary_figure(key: str, over: str, rows: Sequence[dict[str, Any]]) -> Figure:
    """A phase boundary over a second parameter: the bisected `key`'s boundary (dots) with its
    final bracket (bars) at each value of `over`; a value whose bracket held no boundary is
    marked on the axis (×). `rows`: {"value", "boundary", "bracket"} per value of `over`."""
    fig = new_figure(5.5, 3.8)
    ax = fig.subplots()
    found = [r for r in rows if r.get("boundary") is not None]
    if found:
        x = np.array([float(r["value"]) for r in found])
        y = np.array([float(r["boundary"]) for r in found])
        low, high = (np.array([float(r["bracket"][i]) for r in found]) for i in (0, 1))
        ax.errorbar(x, y, yerr=[y - low, high - y], fmt="o-", capsize=3, color="tab:blue")
    missing = [float(r["value"]) for r in rows if r.get("boundary") is None]
    if missing:
        ax.plot(missing, [ax.get_ylim()[0]] * len(missing), "x", color="tab:red",
                clip_on=False, label="no boundary in the bracket")  # fmt: skip
        ax.legend()
    values = [float(r["value"]) for r in rows]
    if min(values) > 0 and max(values) / min(values) >= 20:
        ax.set_xscale("log")
    ax.set_xlabel(over)
    ax.set_ylabel(f"boundary of {key}")
    ax.set_title(f"{key}: phase boundary over {over}")
    return fig


def vector_figure(result: Any, title: str | None = None) -> Figure:
    """A d-dimensional run: x_i per coordinate (one panel each, min–max band over replicates),
    then R_t/t."""
    steps, d = result.log_steps, result.x.shape[2]
    panels = [
        Panel(f"x_{i}", f"$x_{{t,{i}}}$", [replicate_curve("mean", steps, result.x[:, :, i])])
        for i in range(d)
    ]
    regret = replicate_curve("mean", steps, result.avg_regret, "tab:red")
    panels.append(Panel("average regret", "$R_t/t$", [regret]))
    return panels_figure(panels, title, RUN_LAYOUT)


def result_figure(result: Any, title: str | None = None) -> Figure:
    """A job's own figure (`<result.artifact>.png`): a task's losses and accuracy, a 1-D run's
    x_t and R_t/t, or a d-dimensional run's coordinates and R_t/t."""
    if result.artifact == "history":
        return training_figure(result, title)
    if result.x.ndim == 3:
        return vector_figure(result, title)
    return trajectory_figure(result, title)
