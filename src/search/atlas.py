"""`AtlasReport`: where each optimizer breaks, one row per optimizer (`+search=atlas`, issue 25).

The atlas preset (conf/search/atlas.yaml) runs one study per optimizer (`optim=adam,rmsprop,...`, a
plain list: the sweeper's studies) over one problem family — periodic and bernoulli, with their own
keys — with the same budget and seed. At the end of the sweep this callback reads the parent's
trials back from the store (`search.role=trial`, metric `search_objective`), and for each optimizer
takes its worst problem: the trial of largest objective, final_distance(optimizer) −
final_distance(comparator) on the same problem (the comparator is `search.reference`, AMSGrad).
It tags that trial `atlas_worst=true` and logs on the parent:

- `atlas.csv` and `atlas.md`: optimizer, problem (the fn and its parameters, as the run logged
  them), objective, the optimizer's final_distance, the comparator's on that problem, trials;
- `atlas.png`: both final_distances per optimizer on its worst problem.
"""

from __future__ import annotations

import csv
import math
import tempfile
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from mlflow.entities import Run
from omegaconf import DictConfig

from src.search.callback import trials
from src.search.objective import OBJECTIVE_METRIC
from src.tracking import store as tracking
from src.tracking.sweep import parent_run_id

COLUMNS = ("optimizer", "problem", "objective", "final_distance", "comparator",
           "comparator_final_distance", "trials", "run_id")  # fmt: skip


class AtlasReport(Callback):
    """Listed by the atlas preset after the project's `sweep` callback, so that its end hook runs
    while the parent is still open (Hydra calls end hooks in reverse)."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        parent = parent_run_id(Path(str(config.hydra.sweep.dir)).resolve())
        if parent is None:
            return
        client, experiment = tracking.connect(
            str(config.tracking.uri), str(config.tracking.experiment)
        )
        rows = atlas(client, experiment, parent)
        if rows:
            print(markdown(rows))


def problem(run: Run) -> str:
    """`bernoulli · C=12.3 · p=0.0041 · scale=0.52`: the run's fn and its logged parameters."""
    params = run.data.params
    values = [
        f"{key.removeprefix('fn.')}={_short(value)}"
        for key, value in sorted(params.items())
        if key.startswith("fn.") and key not in ("fn._target_", "fn.class")
    ]
    return " · ".join([params.get("fn", "?"), *values])


def _short(value: str) -> str:
    try:
        number = float(value)
    except ValueError:
        return value
    return f"{number:.4g}"


def atlas(client: Any, experiment: str, parent: str) -> list[dict[str, Any]]:
    """One row per optimizer (in the order the sweep ran them), logged on the parent."""
    groups: dict[str, list[Run]] = {}
    for run in trials(client, experiment, parent):
        groups.setdefault(run.data.params.get("optim", "?"), []).append(run)
    rows = []
    for optimizer, runs in groups.items():
        scored = [r for r in runs if not math.isnan(r.data.metrics[OBJECTIVE_METRIC])]
        if not scored:
            continue
        worst = max(scored, key=lambda r: r.data.metrics[OBJECTIVE_METRIC])
        reference_id = worst.data.tags.get("search.reference_run")
        reference = client.get_run(reference_id) if reference_id else None
        tracking.set_tags(client, worst.info.run_id, {"atlas_worst": "true"})
        rows.append(
            {
                "optimizer": optimizer,
                "problem": problem(worst),
                "objective": worst.data.metrics[OBJECTIVE_METRIC],
                "final_distance": worst.data.metrics.get("final_distance"),
                "comparator": reference.data.params.get("optim", "?") if reference else "",
                "comparator_final_distance": (
                    reference.data.metrics.get("final_distance") if reference else None
                ),
                "trials": len(runs),
                "run_id": worst.info.run_id,
            }
        )
    if not rows:
        return rows
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        with (folder / "atlas.csv").open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
        (folder / "atlas.md").write_text(markdown(rows) + "\n")
        figure_png(rows, folder / "atlas.png")
        names = ("atlas.csv", "atlas.md", "atlas.png")
        tracking.log_files(client, parent, [(folder / f, None) for f in names])
    return rows


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.3g}"


def markdown(rows: list[dict[str, Any]]) -> str:
    """The atlas as a Markdown table."""
    comparator = rows[0]["comparator"] or "comparator"
    lines = [
        f"| optimizer | worst problem found | final_distance | {comparator}'s "
        "| objective | trials |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        lines.append(
            f"| {row['optimizer']} | {row['problem']} | {_number(row['final_distance'])} | "
            f"{_number(row['comparator_final_distance'])} | {_number(row['objective'])} | "
            f"{row['trials']} |"
        )
    return "\n".join(lines)


def figure_png(rows: list[dict[str, Any]], path: Path) -> Path:
    """Per optimizer, its final_distance (blue) and the comparator's (red) on its worst problem."""
    import numpy as np

    from src.report.figures import new_figure

    fig = new_figure(8.0, 1.0 + 0.6 * len(rows))
    ax = fig.subplots()
    y = np.arange(len(rows))
    own = [row["final_distance"] or 0.0 for row in rows]
    other = [row["comparator_final_distance"] or 0.0 for row in rows]
    ax.barh(y - 0.2, own, height=0.4, color="tab:blue", label="optimizer")
    ax.barh(
        y + 0.2, other, height=0.4, color="tab:red", label=rows[0]["comparator"] or "comparator"
    )
    ax.set_yticks(y, [f"{row['optimizer']}\n{row['problem']}" for row in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("final_distance on the optimizer's worst problem found")
    ax.legend(loc="lower right")
    fig.savefig(path, dpi=120)
    return path
