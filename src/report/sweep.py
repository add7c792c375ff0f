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
import sys
from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from src import PROJECT_ROOT
from src.report.grid_figure import DPI
from src.report.heatmaps import heatmap_figure
from src.report.kinds import KINDS, heatmap_grids, heatmap_metrics, run_kind
from src.report.labels import sweep_dimensions
from src.report.runs import ChildRun, find_parent, load_children, skipped
from src.report.tables import (
    SWEEP,
    compare_rows,
    latex,
    markdown,
    markdown_table,
    seed_rows,
    summary_rows,
    write_csv,
)
from src.tracking import store as tracking

DEFAULT_URI = f"sqlite:///{PROJECT_ROOT}/mlflow.db"
DEFAULT_EXPERIMENT = None  # the latest sweep of any experiment (each preset has its own)


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
        fig.savefig(folder / name, dpi=DPI)
        fig.set_layout_engine("none")
    return names


def draw(runs: Sequence[ChildRun], dims: Sequence[str], folder: Path) -> list[str]:
    """Each kind's figure and heatmaps of `runs` into `folder`; the files' names."""
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for kind in KINDS:
        members = [run for run in runs if run.kind is kind]
        if not members:
            continue
        files += save(kind.figure(members, dims), folder, kind.figure_name, ("png", "pdf"))
        for metric in heatmap_metrics(kind, members):
            grids = heatmap_grids(members, dims, metric)
            if grids:
                files += save(heatmap_figure(grids, metric), folder, f"heatmap_{metric}")
    return files


def write_report(client: MlflowClient, parent: Run, folder: Path) -> Path:
    """Write the sweep's report into `folder`, log it to the parent run (`report/`); returns the
    folder. SystemExit if the sweep has no child run."""
    runs = load_children(client, parent, run_kind)
    if not runs:
        raise SystemExit(f"sweep {parent.info.run_id} has no child runs")
    notes = skipped(runs)  # arrays it cannot read (a disk that filled): said, and left out
    for line in notes:
        print(f"warning: {line}", file=sys.stderr)
    dims = sweep_dimensions(runs, parent.data.params.get("overrides", ""))
    files = draw(runs, dims, folder)
    rows, seeds = summary_rows(runs, dims), seed_rows(runs, dims)
    write_csv(rows, folder / "summary.csv")
    (folder / "summary.tex").write_text(latex(rows, parent.info.run_name or ""))
    tables = ["summary.csv", "summary.tex"]
    if seeds:
        write_csv(seeds, folder / "summary_seeds.csv")
        tables.append("summary_seeds.csv")
    (folder / "summary.md").write_text(
        markdown(parent, rows, [*files, *tables], seeds) + "".join(f"- {line}\n" for line in notes)
    )
    try:  # the files are written: a store that cannot take them (a full disk) is one line
        tracking.log_folder(client, parent.info.run_id, folder, "report")
    except tracking.StoreError as error:
        print(f"warning: report not logged on the parent run: {error}", file=sys.stderr)
    return folder


def sweep_labels(client: MlflowClient, parents: Sequence[Run]) -> list[str]:
    """A short name per compared sweep: its experiment's (each preset has its own), else its
    start (`2026-12-06 07:02`), else its id's first 8 characters."""
    names = [
        tracking.retry(lambda p=p: client.get_experiment(p.info.experiment_id)).name
        for p in parents
    ]
    starts = [(p.info.run_name or "").split(" · ")[0] for p in parents]
    for labels in (names, starts, [f"{n} {s}" for n, s in zip(names, starts, strict=True)]):
        if len(set(labels)) == len(labels) and all(labels):
            return labels
    return [p.info.run_id[:8] for p in parents]


def write_comparison(client: MlflowClient, parents: Sequence[Run], folder: Path) -> Path:
    """Sweeps side by side in `folder`: one figure (a line per job and sweep), `compare.csv`,
    `compare.md`, `compare.tex` (a row per job, a column per sweep and metric), and the runs of
    all in `summary.*` with a `sweep` column."""
    labels = sweep_labels(client, parents)
    runs: list[ChildRun] = []
    own: list[str] = []  # what varies within each sweep: a row of the comparison each
    for parent, label in zip(parents, labels, strict=True):
        found = load_children(client, parent, run_kind)
        if not found:
            raise SystemExit(f"sweep {parent.info.run_id} has no child runs")
        for run in found:
            run.params[SWEEP] = label
        runs += found
        for line in skipped(found):
            print(f"warning: {line}", file=sys.stderr)
        own += sweep_dimensions(found, parent.data.params.get("overrides", ""))
    dims = [SWEEP, *dict.fromkeys(own)]
    files = draw(runs, dims, folder)
    rows = summary_rows(runs, dims)
    write_csv(rows, folder / "summary.csv")
    (folder / "summary.tex").write_text(latex(rows, " vs ".join(labels)))
    table = compare_rows(runs, dims, labels)
    write_csv(table, folder / "compare.csv")
    (folder / "compare.tex").write_text(latex(table, " vs ".join(labels)))
    lines = [f"# {' vs '.join(labels)}", ""]
    lines += [f"- {label}: parent run `{p.info.run_id}` ({p.info.run_name})"
              for label, p in zip(labels, parents, strict=True)]  # fmt: skip
    lines += ["", *markdown_table(table), "", "Files: " + ", ".join(
        [*files, "compare.csv", "compare.tex", "summary.csv", "summary.tex"]), ""]  # fmt: skip
    (folder / "compare.md").write_text("\n".join(lines))
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
    parser.add_argument(
        "--parent",
        action="append",
        help="the sweep's parent run id (default: the latest sweep); twice or more: the sweeps "
        "side by side, in OUT/compare_<id>_<id>/",
    )
    parser.add_argument("--tracking-uri", default=DEFAULT_URI, help="the MLflow store")
    parser.add_argument(
        "--experiment",
        default=DEFAULT_EXPERIMENT,
        help="where to look for the latest sweep (default: every experiment)",
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
    names = [args.experiment] if args.experiment else None
    for experiment in tracking.retry(client.search_experiments):
        if names is None or experiment.name in names:  # runs whose process is gone: KILLED
            tracking.reap_stale_runs(client, experiment.experiment_id)
    parents = [find_parent(client, parent, args.experiment) for parent in args.parent or [None]]
    for experiment in dict.fromkeys(p.info.experiment_id for p in parents):
        tracking.warn_misplaced_artifacts(client, experiment, args.tracking_uri)
    if len(parents) > 1:
        name = "compare_" + "_".join(p.info.run_id[:8] for p in parents)
        folder = write_comparison(client, parents, args.out / name)
    else:
        folder = write_report(client, parents[0], args.out / report_name(parents[0]))
    print(folder)
    return folder
