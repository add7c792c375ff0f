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
from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from src import PROJECT_ROOT
from src.report.figures import (
    heatmap_figure,
)
from src.report.kinds import KINDS, heatmap_grids, run_kind
from src.report.labels import dim_value, sweep_dimensions
from src.report.runs import ChildRun, find_parent, load_children
from src.tracking import store as tracking

DEFAULT_URI = f"sqlite:///{PROJECT_ROOT}/mlflow.db"
DEFAULT_EXPERIMENT = "breaking-adam"


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
    runs = load_children(client, parent, run_kind)
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
