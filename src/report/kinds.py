"""What the report does with each kind of run (a synthetic fn's, a task's): which histories it
reads, which finals it tabulates, which paper figure it draws, how it names the problem; and the
figures and heatmaps themselves, assembled from the runs."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from src.report.figure1 import SHARED, figure1, run_curve, shared_settings
from src.report.figures import (
    TEST_LOSS,
    TRAIN_LOSS,
    Panel,
    line_colors,
    rows_figure,
)
from src.report.heatmaps import Grid
from src.report.labels import (
    IDENTITY,
    SEED,
    SYMBOLS,
    class_name,
    data_label,
    dim_value,
    fn_label,
    model_label,
    optimizer_label,
    projection_label,
    short,
    sort_key,
    task_label,
)
from src.report.runs import ChildRun

FINAL_METRICS = (
    "final_x",
    "final_regret",
    "final_avg_regret",
    "tail_x_mean",  # x over the last 10% of steps: its mean and range (a cycle's end can mislead)
    "tail_x_min",
    "tail_x_max",
    "final_distance",
    "steps_per_second",
)
# the distance to the best point in hindsight (0 converged … 1 the worst point; a d-dim run's worst
# coordinate `final_distance_max` where it logged one: `heatmap_metrics`), and R_T/T
HEATMAP_METRICS = ("final_distance", "final_avg_regret")
# task runs (src.engines.training): their histories, final metrics and heatmaps; their names in
# figures
TASK_HISTORIES = ("train_loss", "test_loss", "test_accuracy")
TASK_FINAL_METRICS = (
    "final_train_loss",
    "final_test_loss",
    "final_test_accuracy",
    "steps_per_second",
)
TASK_HEATMAP_METRICS = ("final_test_loss", "final_test_accuracy")


TASK_SHARED = {"schedule.name": "schedule", "task.batch_size": "batch"}  # and for tasks


# ---------------------------------------------------------------------------- Figure 2


def figure2_rows(runs: Sequence[ChildRun], dims: Sequence[str]) -> list[list[Panel]]:
    """The paper's Figure 2 for task runs: one row per task setting (model on dataset, and every
    swept value besides the optimizer), its training loss and its test loss against the
    iterations; one line per optimizer."""
    groups: dict[str, list[ChildRun]] = {}
    for run in runs:
        extra = [f"{short(d)}={dim_value(run, d)}" for d in dims if d not in IDENTITY]
        groups.setdefault(", ".join([task_label(run.params), *extra]), []).append(run)
    labels = {
        run.run_id: optimizer_label(run.params) + (f" ({run.status})" if run.failed else "")
        for run in runs
    }
    colors = line_colors(list(labels.values()), [optimizer_label(r.params) for r in runs])
    return [
        [
            Panel(
                title,
                ylabel,
                [run_curve(r, key, labels[r.run_id], colors[labels[r.run_id]]) for r in members],
            )
            for key, ylabel in (("train_loss", TRAIN_LOSS), ("test_loss", TEST_LOSS))
        ]
        for title, members in groups.items()
    ]


def figure2(runs: Sequence[ChildRun], dims: Sequence[str]) -> Figure:
    """The paper's Figure 2 for these task runs, titled with the settings they share."""
    title = shared_settings(runs, {**SHARED, **TASK_SHARED})
    return rows_figure(figure2_rows(runs, dims), title or None)


# ---------------------------------------------------------------------------- kinds of run


@dataclass(frozen=True, eq=False)
class RunKind:
    """What the report does with one kind of run — read, label, draw, summarise — so the report
    itself never asks which kind a run is."""

    histories: tuple[str, ...]  # metric histories read back
    finals: tuple[str, ...]  # final metrics in the summary
    heatmaps: tuple[str, ...]  # metrics drawn as heatmaps over swept parameters
    figure: Callable[[Sequence[ChildRun], Sequence[str]], Figure]  # the paper's figure
    figure_name: str
    labels: dict[str, Callable[[dict[str, str]], str]]  # identity dimension -> its label
    describe: Callable[[dict[str, str]], str]  # the problem in words, for titles
    trajectory: bool  # whether the run logged `trajectory.npz`


SYNTHETIC = RunKind(
    ("x", "avg_regret"),
    FINAL_METRICS,
    HEATMAP_METRICS,
    figure1,
    "figure1",
    {"fn": fn_label, "projection": projection_label},
    fn_label,
    trajectory=True,
)
TASK = RunKind(  # a model trained on a dataset (src.engines.training)
    TASK_HISTORIES,
    TASK_FINAL_METRICS,
    TASK_HEATMAP_METRICS,
    figure2,
    "figure2",
    {"task": model_label, "data": data_label},
    task_label,
    trajectory=False,
)
KINDS = (SYNTHETIC, TASK)  # in report order


def run_kind(params: Mapping[str, str]) -> RunKind:
    """A run's kind from its logged params: a task run logs its model (`task.model.class`; a run
    logged before issue 28, `task.model._target_`)."""
    return TASK if class_name(params, "task.model") else SYNTHETIC


# ---------------------------------------------------------------------------- heatmaps


def heatmap_metrics(kind: RunKind, runs: Sequence[ChildRun]) -> list[str]:
    """The kind's heatmap metrics, `final_distance` replaced by the worst coordinate's
    `final_distance_max` when the runs logged it (a d-dimensional x)."""
    worst = any("final_distance_max" in run.metrics for run in runs)
    return ["final_distance_max" if worst and m == "final_distance" else m for m in kind.heatmaps]


def heatmap_axes(dims: Sequence[str]) -> tuple[str, str] | None:
    """(rows, cols) of the heatmaps: the two varying params besides optimizer and problem, else
    one such param against the other dimension if there are exactly two; None otherwise (an
    optimizer × problem grid would only repeat the summary table)."""
    dims = [d for d in dims if d != SEED]  # a cell: the mean over its seeds
    extra = [d for d in dims if d not in IDENTITY]
    if len(extra) == 2:
        return extra[0], extra[1]
    if len(extra) == 1 and len(dims) >= 2:  # against the optimizer (or the problem)
        return extra[0], next(d for d in dims if d != extra[0])
    return None


def _metric(run: ChildRun, metric: str) -> float:
    return float(run.metrics.get(metric, math.nan))


def heatmap_grids(runs: Sequence[ChildRun], dims: Sequence[str], metric: str) -> list[Grid]:
    """One grid of `metric` over the heatmap axes per combination of the other dimensions
    (cells with several runs show their mean; failed cells are marked)."""
    axes = heatmap_axes(dims)
    if axes is None:
        return []
    row_key, col_key = axes
    facets = [d for d in dims if d not in axes and d != SEED]
    rows = sorted({dim_value(r, row_key) for r in runs}, key=sort_key)
    cols = sorted({dim_value(r, col_key) for r in runs}, key=sort_key)
    grids: dict[str, list[ChildRun]] = {}
    for run in runs:
        facet = ", ".join(
            dim_value(run, d) if d in IDENTITY else f"{short(d)}={dim_value(run, d)}"
            for d in facets
        )
        grids.setdefault(facet, []).append(run)
    out = []
    for title, members in grids.items():
        cells: dict[tuple[int, int], list[ChildRun]] = {}
        for run in members:
            cell = (rows.index(dim_value(run, row_key)), cols.index(dim_value(run, col_key)))
            cells.setdefault(cell, []).append(run)
        grid = Grid(
            np.full((len(rows), len(cols)), np.nan),
            rows,
            cols,
            SYMBOLS.get(row_key, row_key),
            SYMBOLS.get(col_key, col_key),
            title=f"{metric}: {title}" if title else metric,
        )
        for cell, cell_runs in cells.items():
            grid.values[cell] = np.mean([_metric(r, metric) for r in cell_runs])
            if any(r.failed for r in cell_runs) and not np.isfinite(grid.values[cell]):
                grid.notes[cell] = next(r.status for r in cell_runs if r.failed)
        out.append(grid)
    return out


# ---------------------------------------------------------------------------- summary
