"""The report of one sweep: Figure 1 (or 2), heatmaps over a two-parameter grid, a summary table.

    python -m src.report [--parent RUN_ID] [--tracking-uri URI] [--experiment NAME] [--out DIR]

Reads the sweep's parent run and its child runs through `MlflowClient` only (params, final metrics,
metric histories, the `trajectory.npz` artifact), writes into `DIR/<sweep name or parent id>/`

- `figure1.png`, `figure1.pdf`: one panel group per problem (`fn`), one line per optimizer (the
  logged history, the mean over replicates), a min–max band over replicates when R > 1;
- `figure2.png`, `figure2.pdf` for task runs (`task=logreg|mlp|cifarnet`), as the paper's
  Figure 2: a row per task setting (model, dataset, and any swept value besides the optimizer),
  its training loss and test loss against the iterations, one line per optimizer;
- `heatmap_tail_x_mean.png`, `heatmap_final_avg_regret.png` (task runs:
  `heatmap_final_test_loss.png`, `heatmap_final_test_accuracy.png`): when the sweep varies two
  parameters;
- `summary.csv`, `summary.md`: one row per child run, FAILED ones included;

and logs every file as an artifact of the parent run, in folder `report`.
"""

from __future__ import annotations

import argparse
import csv
import math
import re
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from src import PROJECT_ROOT
from src.report.figures import (
    REGRET_T,
    TEST_LOSS,
    TRAIN_LOSS,
    X_T,
    Curve,
    Grid,
    Panel,
    heatmap_figure,
    line_colors,
    panels_figure,
    rows_figure,
)
from src.tracking import store as tracking

DEFAULT_URI = f"sqlite:///{PROJECT_ROOT}/mlflow.db"
DEFAULT_EXPERIMENT = "breaking-adam"
FINAL_METRICS = (
    "final_x",
    "final_regret",
    "final_avg_regret",
    "tail_x_mean",  # x over the last 10% of steps: its mean and range (a cycle's end can mislead)
    "tail_x_min",
    "tail_x_max",
    "steps_per_second",
)
HEATMAP_METRICS = ("tail_x_mean", "final_avg_regret")
FN_NAMES = {
    "src.problems.functions.Periodic": "online",
    "src.problems.functions.Bernoulli": "stochastic",
}
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
MODEL_NAMES = {
    "src.tasks.models.LogisticRegression": "logistic regression",
    "src.tasks.models.MLP": "1-hidden-layer network",
    "src.tasks.models.CifarNet": "CIFARNET",
}
DATA_NAMES = {
    "src.tasks.datasets.Digits": "digits",
    "src.tasks.datasets.MNIST": "MNIST",
    "src.tasks.datasets.CIFAR10": "CIFAR-10",
}
# a run's identity dimension -> its config group
SYMBOLS = {"optim.betas.0": "β₁", "optim.betas.1": "β₂", "optim.lr": "lr"}  # axis labels
IDENTITY = {"optimizer": "optim", "fn": "fn", "task": "task", "data": "data"}
MAX_RUNS = 50_000


@dataclass
class ChildRun:
    """What the report needs of one child run."""

    run_id: str
    name: str
    status: str
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    histories: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    trajectory: dict[str, np.ndarray] | None = None

    @property
    def failed(self) -> bool:
        return self.status != "FINISHED"

    @property
    def kind(self) -> RunKind:
        """What the report does with this run: a synthetic fn's, or a task's (`KINDS`)."""
        return run_kind(self.params)


# ---------------------------------------------------------------------------- reading MLflow


def find_parent(client: MlflowClient, parent_id: str | None, experiment: str) -> Run:
    """The run `parent_id`, or the latest run tagged role=sweep in `experiment`."""
    if parent_id:
        return tracking.retry(lambda: client.get_run(parent_id))
    found = tracking.retry(lambda: client.get_experiment_by_name(experiment))
    if found is None:
        raise SystemExit(f"no experiment {experiment!r} in the store")
    runs = tracking.retry(
        lambda: client.search_runs(
            [found.experiment_id],
            "tags.role = 'sweep'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
    )
    if not runs:
        raise SystemExit(f"no sweep (a run tagged role=sweep) in experiment {experiment!r}")
    return runs[0]


def load_history(client: MlflowClient, run_id: str, key: str) -> tuple[np.ndarray, np.ndarray]:
    """A metric's history as (steps, values), sorted by step."""
    points = sorted(
        tracking.retry(lambda: client.get_metric_history(run_id, key)), key=lambda m: m.step
    )
    return (
        np.array([m.step for m in points], dtype=np.int64),
        np.array([m.value for m in points], dtype=float),
    )


def load_trajectory(client: MlflowClient, run_id: str) -> dict[str, np.ndarray] | None:
    """The run's `trajectory.npz` (every replicate), or None if it has none."""
    names = {a.path for a in tracking.retry(lambda: client.list_artifacts(run_id))}
    if "trajectory.npz" not in names:
        return None
    with tempfile.TemporaryDirectory() as folder:
        path = tracking.download(client, run_id, "trajectory.npz", folder)
        with np.load(path) as npz:
            return {key: npz[key] for key in npz.files}


def job_number(run: Run) -> tuple[int, int]:
    """Sort key: Hydra's job number (tag `job`, or an older run's name `N: overrides`), then the
    start time."""
    number = run.data.tags.get("job", "")
    match = re.match(r"(\d+):", run.info.run_name or "")
    found = int(number) if number.isdigit() else int(match.group(1)) if match else sys.maxsize
    return (found, run.info.start_time or 0)


def load_children(client: MlflowClient, parent: Run) -> list[ChildRun]:
    """The parent's child runs in job order, with histories and trajectories."""
    runs = tracking.retry(
        lambda: client.search_runs(
            [parent.info.experiment_id],
            f"tags.`{tracking.PARENT_TAG}` = '{parent.info.run_id}'",
            max_results=MAX_RUNS,
        )
    )
    children = []
    for run in sorted(runs, key=job_number):
        run_id, kind = run.info.run_id, run_kind(run.data.params)
        children.append(
            ChildRun(
                run_id,
                run.info.run_name or run_id,
                run.info.status,
                with_list_items(dict(run.data.params)),
                dict(run.data.metrics),
                dict(run.data.tags),
                {key: load_history(client, run_id, key) for key in kind.histories},
                load_trajectory(client, run_id) if kind.trajectory else None,
            )
        )
    return children


# ---------------------------------------------------------------------------- what varies


def with_list_items(params: dict[str, str]) -> dict[str, str]:
    """params plus one entry per item of a list-valued param: `optim.betas` = '[0.9, 0.99]' adds
    `optim.betas.0` = '0.9' and `optim.betas.1` = '0.99' (a sweep over `optim.betas.1=…`)."""
    items = {}
    for key, value in params.items():
        if value.startswith("[") and value.endswith("]") and "[" not in value[1:]:
            for i, item in enumerate(v.strip() for v in value[1:-1].split(",") if v.strip()):
                items[f"{key}.{i}"] = item
    return {**params, **items}


def optimizer_label(params: dict[str, str]) -> str:
    """'Adam', 'AMSGrad', or the optimizer's class name with its variant flag."""
    name = params.get("optim.class") or params.get("optim._target_", "?").rsplit(".", 1)[-1]
    if params.get("optim.amsgrad") == "True":
        return "AMSGrad" if name == "Adam" else f"{name} (AMSGrad)"
    if params.get("optim.nesterov") == "True":
        return f"{name} (Nesterov)"
    return name


def fn_label(params: dict[str, str]) -> str:
    """'online', 'stochastic', or the fn's class name."""
    target = params.get("fn._target_", "?")
    return FN_NAMES.get(target, target.rsplit(".", 1)[-1])


def model_label(params: dict[str, str]) -> str:
    """'logistic regression', '1-hidden-layer network', 'CIFARNET' or the model's class name."""
    target = params.get("task.model._target_", "")
    return MODEL_NAMES.get(target, target.rsplit(".", 1)[-1])


def data_label(params: dict[str, str]) -> str:
    """'digits', 'MNIST', 'CIFAR-10' or the data source's class name."""
    target = params.get("data._target_", "")
    return DATA_NAMES.get(target, target.rsplit(".", 1)[-1])


def task_label(params: dict[str, str]) -> str:
    """'logistic regression on MNIST'."""
    return f"{model_label(params)} on {data_label(params)}"


def dim_value(run: ChildRun, dim: str) -> str:
    """A run's value along a dimension: an identity label or a param ('' if missing)."""
    if dim == "optimizer":
        return optimizer_label(run.params)
    if dim in IDENTITY:  # fn, task, data: a label if this kind of run has that dimension
        label = run.kind.labels.get(dim)
        return label(run.params) if label else ""
    return run.params.get(dim, "")


def _determined(runs: Sequence[ChildRun], key: str, dim: str) -> bool:
    """Whether param `key` takes one value per value of identity dimension `dim`."""
    seen: dict[str, str | None] = {}
    for run in runs:
        if seen.setdefault(dim_value(run, dim), run.params.get(key)) != run.params.get(key):
            return False
    return True


def _override_order(overrides: str) -> list[str]:
    """The keys of a sweep's overrides, in the order given (`optim=adam,amsgrad lr=…`)."""
    keys = [item.split("=", 1)[0].lstrip("+~") for item in overrides.split() if "=" in item]
    return [{"optim": "optimizer"}.get(k, k) for k in keys]


def sweep_dimensions(runs: Sequence[ChildRun], overrides: str = "") -> list[str]:
    """The dimensions the sweep varies: 'optimizer' and 'fn' (labels, standing for every param of
    their group they determine), then every other varying param, in the sweep's override order."""
    logged = [r for r in runs if r.params]
    keys = sorted({k for r in logged for k in r.params})
    varying = [k for k in keys if len({r.params.get(k) for r in logged}) > 1]
    varying = [k for k in varying if not any(v.startswith(f"{k}.") for v in varying)]  # the items
    dims = []
    for dim, group in IDENTITY.items():
        if len({dim_value(r, dim) for r in logged}) > 1:
            dims.append(dim)
        varying = [
            k for k in varying if not (k.startswith(f"{group}.") and _determined(logged, k, dim))
        ]
    order = _override_order(overrides)
    varying.sort(key=lambda k: (order.index(k) if k in order else len(order), k))
    return dims + varying


def _sort_key(text: str) -> tuple[int, float, str]:
    try:
        return (0, float(text), text)
    except ValueError:
        return (1, 0.0, text)


def short(key: str) -> str:
    """'optim.lr' -> 'lr', 'optim.betas.1' -> 'β₂', 'optim.eps.1' -> 'eps[1]', for labels."""
    if key in SYMBOLS:
        return SYMBOLS[key]
    parts = key.split(".")
    if len(parts) > 1 and parts[-1].isdigit():
        return f"{parts[-2]}[{parts[-1]}]"
    return parts[-1]


# ---------------------------------------------------------------------------- Figure 1


def _fn_dims(dims: Sequence[str]) -> list[str]:
    return [d for d in dims if d == "fn" or d.startswith("fn.")]


def _line_label(run: ChildRun, dims: Sequence[str]) -> str:
    extra = [
        f"{short(d)}={dim_value(run, d)}" for d in dims if d not in ("optimizer", *_fn_dims(dims))
    ]
    label = ", ".join([optimizer_label(run.params), *extra])
    return f"{label} ({run.status})" if run.failed else label


def _panel_title(run: ChildRun, dims: Sequence[str]) -> str:
    return fn_words(run.params)


def _num(params: dict[str, str], key: str, default: float = 1.0) -> float:
    try:
        return float(params.get(key, default))
    except ValueError:
        return math.nan


def fn_words(params: dict[str, str]) -> str:
    """The problem in words with its parameters, e.g. 'online: 1010x once every 101 steps, else
    −10x' (its option name, then f_t as in `src.problems.functions`)."""
    name, scale = fn_label(params), _num(params, "fn.scale")
    big, small = f"{scale * _num(params, 'fn.C'):g}x", f"−{scale:g}x".replace("−1x", "−x")
    if "fn.period" in params:
        rule = f"{big} once every {params['fn.period']} steps, else {small}"
    elif "fn.delta" in params:
        rule = f"{big} w.p. (1+δ)/(C+1), δ={params['fn.delta']}, else {small}"
    elif "fn.p" in params:
        rule = f"{big} w.p. {params['fn.p']}, else {small}"
    elif "fn.curvature" in params:
        rule = (
            f"{params['fn.curvature']}/2·(x − c_t)², "
            f"c_t ~ N({params.get('fn.center')}, {params.get('fn.noise')}²)"
        )
    else:
        return name
    return f"{name}: {rule}"


def run_curve(run: ChildRun, key: str, label: str, color: object) -> Curve:
    """The run's logged history of `key` as a line, with the replicates' min–max band."""
    steps, values = run.histories.get(key, (np.zeros(0, np.int64), np.zeros(0)))
    curve = Curve(label, steps, values, color=color, failed=run.failed)
    traj = run.trajectory
    if traj is not None and traj[key].ndim == 2 and traj[key].shape[1] > 1 and len(traj[key]):
        curve.low, curve.high = traj[key].min(1), traj[key].max(1)
        curve.band_steps = traj["log_steps"]
    return curve


def _fn_order(title: str) -> tuple[int, str]:
    names = list(FN_NAMES.values())
    head = title.split(",", 1)[0]
    return (names.index(head) if head in names else len(names), title)


def figure1_panels(runs: Sequence[ChildRun], dims: Sequence[str]) -> list[Panel]:
    """Figure 1's panels: R_t/t and x_t for the first problem, x_t for each further one
    (the paper: online R_t/t, online x_t, stochastic x_t); one curve per run of that problem."""
    groups: dict[str, list[ChildRun]] = {}
    for run in runs:
        groups.setdefault(_panel_title(run, dims), []).append(run)
    labels = {run.run_id: _line_label(run, dims) for run in runs}
    colors = line_colors(list(labels.values()), [optimizer_label(r.params) for r in runs])
    panels = []
    for n, title in enumerate(sorted(groups, key=_fn_order)):
        keys = [("avg_regret", REGRET_T), ("x", X_T)] if n == 0 else [("x", X_T)]
        for key, ylabel in keys:
            curves = [
                run_curve(r, key, labels[r.run_id], colors[labels[r.run_id]]) for r in groups[title]
            ]
            panels.append(Panel(title, ylabel, curves))
    return panels


SHARED = {
    "optim.lr": "lr",
    "optim.betas": "betas",
    "steps": "steps",
    "replicates": "replicates",
    "dtype": "dtype",
    "projection._target_": "projection",
}  # param -> its subtitle name


TASK_SHARED = {"schedule.name": "schedule", "task.batch_size": "batch"}  # and for tasks


def shared_settings(runs: Sequence[ChildRun], keys: dict[str, str] = SHARED) -> str:
    """The settings every run shares, for a subtitle: 'lr=0.001, betas=[0.9, 0.99], …'."""
    parts = []
    for key, name in keys.items():
        values = {r.params.get(key) for r in runs if r.params}
        if len(values) == 1 and None not in values:
            text = str(values.pop())
            if key.endswith("._target_"):  # the class name
                text = text.rsplit(".", 1)[-1]
            elif text.isdigit() and len(text) > 4:  # 6,000,000
                text = f"{int(text):,}"
            parts.append(f"{name}={text}")
    return ", ".join(parts)


def figure1(runs: Sequence[ChildRun], dims: Sequence[str]) -> Figure:
    """The paper's Figure 1 for these runs, titled with the settings they share."""
    return panels_figure(figure1_panels(runs, dims), shared_settings(runs) or None)


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
    {"fn": fn_label},
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
    """A run's kind from its logged params: a task run logs its model."""
    return TASK if "task.model._target_" in params else SYNTHETIC


# ---------------------------------------------------------------------------- heatmaps


def heatmap_axes(dims: Sequence[str]) -> tuple[str, str] | None:
    """(rows, cols) of the heatmaps: the two varying params besides optimizer and problem, else
    one such param against the other dimension if there are exactly two; None otherwise (an
    optimizer × problem grid would only repeat the summary table)."""
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
    facets = [d for d in dims if d not in axes]
    rows = sorted({dim_value(r, row_key) for r in runs}, key=_sort_key)
    cols = sorted({dim_value(r, col_key) for r in runs}, key=_sort_key)
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


def summary_rows(runs: Sequence[ChildRun], dims: Sequence[str]) -> list[dict[str, object]]:
    """One row per run: its name, id, status, varying params, final metrics ('' if missing): the
    synthetic runs' (final_x, ...) and/or the task runs' (final_train_loss, ...)."""
    present = {run.kind for run in runs}
    metrics = list(dict.fromkeys(m for kind in KINDS if kind in present for m in kind.finals))
    rows = []
    for run in runs:
        row: dict[str, object] = {"run": run.name, "run_id": run.run_id, "status": run.status}
        row.update({dim: dim_value(run, dim) for dim in dims})
        row.update({m: run.metrics.get(m, "") for m in (*metrics, "steps_done")})
        row["failure"] = run.tags.get("failure.reason") or run.tags.get("error", "")
        rows.append(row)
    return rows


def write_csv(rows: Sequence[dict[str, object]], path: Path) -> None:
    """The rows as CSV; floats written exactly (repr), so they read back equal."""
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(
            [{k: repr(v) if isinstance(v, float) else v for k, v in row.items()} for row in rows]
        )


def _md_cell(v: object) -> str:
    """A table cell: large floats with thousands separators, others to 6 significant digits."""
    if isinstance(v, float):
        text = f"{v:,.0f}" if math.isfinite(v) and abs(v) >= 1e4 else f"{v:.6g}"
    else:
        text = str(v)
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(parent: Run, rows: Sequence[dict[str, object]], files: Sequence[str]) -> str:
    """summary.md: the sweep, its table, and the report's files."""
    params = parent.data.params
    lines = [
        f"# {parent.info.run_name or parent.info.run_id}",
        "",
        f"- parent run: `{parent.info.run_id}` ({parent.info.status})",
        f"- sweep folder: `{parent.data.tags.get('sweep_dir', '?')}`",
        f"- overrides: `{params.get('overrides', '?')}`",
        *[f"- {k}: `{v}`" for k, v in sorted(params.items()) if k.startswith("sweep.")],
        f"- runs: {len(rows)}, "
        + ", ".join(
            f"{status}: {sum(r['status'] == status for r in rows)}"
            for status in ("FINISHED", "FAILED", "KILLED", "RUNNING")
        ),
        "",
    ]
    header = list(rows[0])
    lines += ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(_md_cell(row[k]) for k in header) + " |" for row in rows]
    lines += ["", "Files: " + ", ".join(f"[{name}]({name})" for name in files), ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- the report


def report_name(parent: Run) -> str:
    """The sweep's folder under `multirun/` (e.g. 2026-11-28_09-31-49), else the parent's id."""
    sweep_dir = Path(parent.data.tags.get("sweep_dir", "/"))
    try:
        relative = sweep_dir.relative_to(PROJECT_ROOT / "multirun")
    except ValueError:
        return parent.info.run_id
    return "_".join(relative.parts) or parent.info.run_id


def save(fig: Figure, folder: Path, stem: str, formats: Sequence[str] = ("png",)) -> list[str]:
    """`fig` as `stem.<format>` for each format. The layout engine places the axes once, for the
    first format; the others keep that placement (a second pass: ~0.1 s a figure)."""
    names = [f"{stem}.{fmt}" for fmt in formats]
    for name in names:
        fig.savefig(folder / name, dpi=150)
        fig.set_layout_engine("none")
    return names


def write_report(client: MlflowClient, parent: Run, folder: Path) -> Path:
    """Write the sweep's report into `folder`, log it to the parent run (`report/`); returns the
    folder. SystemExit if the sweep has no child run."""
    runs = load_children(client, parent)
    if not runs:
        raise SystemExit(f"sweep {parent.info.run_id} has no child runs")
    dims = sweep_dimensions(runs, parent.data.params.get("overrides", ""))
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for kind in KINDS:
        members = [run for run in runs if run.kind is kind]
        if not members:
            continue
        files += save(kind.figure(members, dims), folder, kind.figure_name, ("png", "pdf"))
        for metric in kind.heatmaps:
            grids = heatmap_grids(members, dims, metric)
            if grids:
                files += save(heatmap_figure(grids, metric), folder, f"heatmap_{metric}")
    rows = summary_rows(runs, dims)
    write_csv(rows, folder / "summary.csv")
    (folder / "summary.md").write_text(markdown(parent, rows, [*files, "summary.csv"]))
    tracking.retry(lambda: client.log_artifacts(parent.info.run_id, str(folder), "report"))
    return folder


def check_exists(uri: str) -> None:
    """A SQLite store must exist: MLflow would otherwise create an empty one."""
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        if not path.is_file():
            raise SystemExit(f"no MLflow store at {path} (run a sweep first: make sweep)")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m src.report",
        description=__doc__.split("\n", 1)[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--parent", help="the sweep's parent run id (default: the latest sweep)")
    parser.add_argument("--tracking-uri", default=DEFAULT_URI, help="the MLflow store")
    parser.add_argument(
        "--experiment", default=DEFAULT_EXPERIMENT, help="where to look for the latest sweep"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=PROJECT_ROOT / "reports",
        help="reports go in OUT/<sweep name or parent id>/",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> Path:
    args = parse_args(argv)
    check_exists(args.tracking_uri)
    client = MlflowClient(tracking_uri=args.tracking_uri)
    experiment = client.get_experiment_by_name(args.experiment)
    if experiment is not None:  # runs whose process is gone are KILLED, not left RUNNING
        tracking.warn_misplaced_artifacts(client, experiment.experiment_id, args.tracking_uri)
        tracking.reap_stale_runs(client, experiment.experiment_id)
    parent = find_parent(client, args.parent, args.experiment)
    folder = write_report(client, parent, args.out / report_name(parent))
    print(folder)
    return folder
