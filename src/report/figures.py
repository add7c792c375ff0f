"""Figures from plain arrays: one job's trajectory or training history, the panels of the paper's
Figures 1 and 2, a bisection's boundary (heatmaps: `src.report.heatmaps`; many panels:
`src.report.grid_figure`).

Every function returns a `matplotlib.figure.Figure` drawn on the Agg canvas without pyplot: no
global state, nothing to close, safe in any process (a Hydra job, a test, a headless server).
Knows nothing of MLflow; `src.report` turns runs into the `Curve` and `Panel` given here.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
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
CHARS_PER_INCH = 13  # a title's characters per inch of width at fontsize 9-10
MAX_WIDTH = 19.0  # inches: 2,850 px at the report's 150 dpi
RUN_LAYOUT = "fixed"  # a run's own figure: drawn in every job, so its cost counts (new_figure)


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


def new_figure(width: float, height: float, layout: str = "constrained") -> Figure:
    """An empty Figure on the Agg canvas (no pyplot). `layout="fixed"`: no layout engine, the
    margins set once by `fixed_margins` (a run's figure: about 3× faster to save than
    constrained, which measures every label at every draw)."""
    fig = Figure(figsize=(width, height), layout=None if layout == "fixed" else layout)
    FigureCanvasAgg(fig)
    return fig


def wrapped(text: str, inches: float) -> str:
    """`text` wrapped to lines that fit `inches` of width."""
    return textwrap.fill(text, max(20, int(inches * CHARS_PER_INCH)), break_long_words=False)


def fixed_margins(fig: Figure, columns: int, titled: int) -> None:
    """Margins in inches that fit one row of `columns` panels with tick labels, axis labels,
    panel titles and the figure's title of `titled` lines."""
    width, height = fig.get_size_inches()
    left, right, gap = 0.75, 0.15, 0.8  # y tick labels and label; the edge; between panels
    panel = (width - left - right - gap * (columns - 1)) / columns
    fig.subplots_adjust(
        left=left / width,
        right=1 - right / width,
        bottom=0.55 / height,
        top=1 - (0.35 + 0.3 * titled + (0.1 if titled else 0)) / height,
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


def after_first_step(curve: Curve) -> Curve:
    """The curve from t = 2 on: R_1/1 = f_1(x_1) − min f_1 is the first loss's whole range (1010
    on Figure 1's problem) and would flatten every later value."""
    keep = np.asarray(curve.steps) > 1
    band = np.asarray(curve.steps if curve.band_steps is None else curve.band_steps) > 1
    return Curve(
        curve.label,
        np.asarray(curve.steps)[keep],
        np.asarray(curve.values)[keep],
        None if curve.low is None else np.asarray(curve.low)[band],
        None if curve.high is None else np.asarray(curve.high)[band],
        None if curve.band_steps is None else np.asarray(curve.band_steps)[band],
        curve.color,
        curve.failed,
    )


def draw_panel(ax: Any, panel: Panel, legend: bool = True) -> None:
    """One Figure 1 panel: curves (R_t/t from t = 2), labels, its legend (unless the figure has
    one) and limits that show the long-run behaviour."""
    if panel.ylabel == REGRET_T:
        panel = Panel(panel.title, panel.ylabel, [after_first_step(c) for c in panel.curves])
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
    if panel.curves and legend:
        ax.legend(loc="best", frameon=False, fontsize=8)


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
    fig = new_figure(min(4.6 * max(len(panels), 1), MAX_WIDTH), 3.6, layout)
    axes = fig.subplots(1, max(len(panels), 1), squeeze=False)[0]
    for n, (ax, panel) in enumerate(zip(axes, panels, strict=False)):
        draw_panel(ax, panel)
        letter(ax, n)
    lines = 0
    if title:
        text = wrapped(title, fig.get_size_inches()[0])
        fig.suptitle(text, fontsize=10)
        lines = text.count("\n") + 1
    if layout == "fixed":
        fixed_margins(fig, max(len(panels), 1), lines)
    return fig


def rows_figure(rows: Sequence[Sequence[Panel]], title: str | None = None) -> Figure:
    """Rows of panels, one axes each (Figure 2: a row per task setting, its training loss and
    test loss side by side)."""
    columns = max((len(row) for row in rows), default=1) or 1
    fig = new_figure(min(4.6 * columns, MAX_WIDTH), min(3.4 * max(len(rows), 1), MAX_WIDTH))
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


def envelope_curve(
    label: str, steps: np.ndarray, x: np.ndarray, low: Any, high: Any, color: str
) -> Curve:
    """The mean over replicates of x [P, R] (as sampled), its band the envelope: the least
    `low` and the largest `high` [P, R] over the replicates (each logging window's min and max,
    `x_min`/`x_max`), else the replicates' min–max."""
    curve = replicate_curve(label, steps, x, color)
    if low is not None and high is not None and len(low):
        curve.low, curve.high = np.asarray(low).min(1), np.asarray(high).max(1)
    return curve


def envelope_label(result: Any) -> str:
    replicates = np.asarray(result.x).shape[1] if np.asarray(result.x).ndim > 1 else 1
    mean = "x" if replicates == 1 else f"mean of {replicates}"
    if getattr(result, "x_min", None) is not None:
        return f"{mean}; band: min–max of every step"
    return mean if replicates == 1 else f"{mean}; band: min–max"


def trajectory_figure(result: Any, title: str | None = None) -> Figure:
    """One job's x_t and R_t/t (mean over replicates) from a RunResult-like object with
    `log_steps` [P], `x` [P, R] and `avg_regret` [P, R]; x's band is its envelope between the
    logged steps (`x_min`, `x_max`, if any: a cycle shorter than the log's spacing shows as a
    band, not an oscillation), R_t/t's the replicates' min–max."""
    replicates = np.asarray(result.x).shape[-1]
    label = "mean" if replicates == 1 else f"mean of {replicates} (band: min–max)"
    x = envelope_curve(
        envelope_label(result), result.log_steps, result.x,
        getattr(result, "x_min", None), getattr(result, "x_max", None), "tab:blue",
    )  # fmt: skip
    panels = [
        Panel("iterate", X_T, [x]),
        Panel(
            "average regret",
            REGRET_T,
            [replicate_curve(label, result.log_steps, result.avg_regret, "tab:red")],
        ),
    ]
    return panels_figure(panels, title, RUN_LAYOUT)


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
    """A d-dimensional run: x_{t,i} per coordinate (one panel each, its envelope as the band),
    then R_t/t."""
    steps, d = result.log_steps, result.x.shape[2]
    low, high = getattr(result, "x_min", None), getattr(result, "x_max", None)
    label = envelope_label(result)
    panels = [
        Panel(
            f"coordinate {i}",
            f"$x_{{t,{i}}}$",
            [
                envelope_curve(
                    label,
                    steps,
                    result.x[:, :, i],
                    None if low is None else low[:, :, i],
                    None if high is None else high[:, :, i],
                    "tab:blue",
                )  # fmt: skip
            ],
        )
        for i in range(d)
    ]
    regret = replicate_curve("mean", steps, result.avg_regret, "tab:red")
    panels.append(Panel("average regret", REGRET_T, [regret]))
    return panels_figure(panels, title, RUN_LAYOUT)


def result_figure(result: Any, title: str | None = None) -> Figure:
    """A job's own figure (`<result.artifact>.png`): a task's losses and accuracy, a 1-D run's
    x_t and R_t/t, or a d-dimensional run's coordinates and R_t/t."""
    if result.artifact == "history":
        return training_figure(result, title)
    if result.x.ndim == 3:
        return vector_figure(result, title)
    return trajectory_figure(result, title)
