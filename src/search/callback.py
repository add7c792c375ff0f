"""`SearchReport`: at the end of a search sweep, report the study on the sweep's parent run.

Registered only by the search presets (`hydra.callbacks.search_report` in conf/search/*.yaml),
after the project's `sweep`: Hydra calls end hooks in reverse order, so this runs while
the parent is still open. It reads the trials back from the store (children tagged
`search.role=trial` with metric `search_objective`), then

- tags the best trial `best_trial=true` (and its reference run, if any);
- logs on the parent: `best_objective`, the best trial's `final_distance` (and the reference's),
  `trials`, and params `best.<key>` for every swept key and `best.run_id`;
- logs on the parent `search/history.png` (objective per trial and best so far),
  `search/trials.csv`, and `search/best_problem.png` (the best problem's Figure 1: x_t and R_t/t
  of the searched optimizer and its reference on that problem).
"""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from mlflow.entities import Run
from omegaconf import DictConfig, OmegaConf

from src.search.objective import OBJECTIVE_METRIC
from src.tracking import store as tracking
from src.tracking.sweep import parent_run_id


class SearchReport(Callback):
    """Listed by the search presets after the project's `sweep` callback, so that its end hook
    runs first (Hydra calls them in reverse), while the parent is still open."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        parent = parent_run_id(Path(str(config.hydra.sweep.dir)).resolve())
        if parent is None:
            return
        client, experiment = tracking.connect(
            str(config.tracking.uri), str(config.tracking.experiment)
        )
        report(client, experiment, parent, swept_keys(config))


def swept_keys(config: DictConfig) -> list[str]:
    """The keys the sweeper searches over (params with a distribution: interval/range/choice)."""
    params = OmegaConf.to_container(config.hydra.sweeper.get("params") or {}, resolve=False)
    return [k for k, v in params.items() if any(w in str(v) for w in ("interval", "range", ","))]


def trials(client: Any, experiment: str, parent: str) -> list[Run]:
    """The parent's trial runs with an objective, in Hydra's job order."""
    from src.report.runs import job_number

    runs = client.search_runs(
        [experiment],
        f"tags.`{tracking.PARENT_TAG}` = '{parent}' and tags.`search.role` = 'trial'",
        max_results=50000,
    )
    runs = [r for r in runs if OBJECTIVE_METRIC in r.data.metrics]
    return sorted(runs, key=job_number)


def report(client: Any, experiment: str, parent: str, keys: list[str]) -> Run | None:
    """Tag the best trial and log the study on the parent; returns the best trial's run."""
    runs = trials(client, experiment, parent)
    if not runs:
        return None
    values = [r.data.metrics[OBJECTIVE_METRIC] for r in runs]
    best = runs[max(range(len(runs)), key=values.__getitem__)]
    reference_id = best.data.tags.get("search.reference_run")
    tracking.set_tags(client, best.info.run_id, {"best_trial": "true"})
    finals = {
        "best_objective": best.data.metrics[OBJECTIVE_METRIC],
        "trials": float(len(runs)),
    }
    if "final_distance" in best.data.metrics:
        finals["best_final_distance"] = best.data.metrics["final_distance"]
    reference = client.get_run(reference_id) if reference_id else None
    if reference is not None:
        tracking.set_tags(client, reference_id, {"best_trial_reference": "true"})
        if "final_distance" in reference.data.metrics:
            finals["best_reference_final_distance"] = reference.data.metrics["final_distance"]
    tracking.log_metrics(client, parent, finals, step=0)
    params = {f"best.{k}": best.data.params.get(k, "") for k in keys}
    params["best.run_id"] = best.info.run_id
    tracking.log_params(client, parent, params)
    with tempfile.TemporaryDirectory() as folder:
        files = [
            (history_png(values, Path(folder) / "history.png"), "search"),
            (trials_csv(runs, keys, Path(folder) / "trials.csv"), "search"),
        ]
        png = best_problem_png(client, best, reference, keys, Path(folder) / "best_problem.png")
        if png is not None:
            files.append((png, "search"))
        tracking.log_files(client, parent, files)
    return best


def history_png(values: list[float], path: Path) -> Path:
    """The objective of each trial (dots) and the best so far (line)."""
    import numpy as np

    from src.report.figures import new_figure

    fig = new_figure(6.0, 3.5)
    ax = fig.subplots()
    trial = np.arange(len(values))
    ax.plot(trial, values, "o", ms=3, color="0.4", label="trial")
    ax.plot(trial, np.maximum.accumulate(values), color="tab:red", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel("objective")
    ax.legend()
    fig.savefig(path, dpi=120)
    return path


def trials_csv(runs: list[Run], keys: list[str], path: Path) -> Path:
    columns = ["run_id", "run_name", *keys, OBJECTIVE_METRIC, "final_distance"]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for r in runs:
            row = [r.info.run_id, r.info.run_name, *(r.data.params.get(k, "") for k in keys)]
            row += [r.data.metrics.get(OBJECTIVE_METRIC), r.data.metrics.get("final_distance")]
            writer.writerow(row)
    return path


def best_problem_png(
    client: Any, best: Run, reference: Run | None, keys: list[str], path: Path
) -> Path | None:
    """`best_problem_figure` saved at `path`; None if neither run has a trajectory."""
    fig = best_problem_figure(client, best, reference, keys)
    if fig is None:
        return None
    fig.savefig(path, dpi=120)
    return path


def best_problem_figure(client: Any, best: Run, reference: Run | None, keys: list[str]) -> Any:
    """Figure 1 of the best problem: R_t/t (from t = 2) and x_t (its envelope between logged
    steps as a band) of the searched optimizer (blue) and its reference (red), titled by the
    problem's own words (tag `problem`); None if neither run has a trajectory."""
    from src.report.figures import (
        REGRET_T,
        X_T,
        Panel,
        envelope_curve,
        panels_figure,
        replicate_curve,
    )
    from src.report.labels import optimizer_label
    from src.report.runs import load_trajectory

    regret, x = Panel("average regret", REGRET_T), Panel("iterate", X_T)
    for run, color in ((best, "tab:blue"), (reference, "tab:red")):
        data = load_trajectory(client, run.info.run_id) if run is not None else None
        if data is None:
            continue
        label = optimizer_label(dict(run.data.params))
        steps = data["log_steps"]
        regret.curves.append(replicate_curve(label, steps, data["avg_regret"], color))
        low, high = data.get("x_min"), data.get("x_max")
        x.curves.append(envelope_curve(label, steps, data["x"], low, high, color))
    if not regret.curves:
        return None
    words = best.data.tags.get("problem") or ", ".join(
        f"{k}={best.data.params.get(k)}" for k in keys
    )
    return panels_figure([regret, x], f"best problem: {words}")
