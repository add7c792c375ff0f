"""A sweep read back from MLflow: its parent run, its child runs with their params, final metrics,
metric histories and `trajectory.npz` (`ChildRun`), through `MlflowClient` only."""

from __future__ import annotations

import re
import sys
import tempfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from src.tracking import store as tracking

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
    kind: Any = None  # what the report does with it (`src.report.kinds.run_kind`)
    unreadable: str | None = None  # why its `trajectory.npz` could not be read (then None)

    @property
    def failed(self) -> bool:
        return self.status != "FINISHED"


# ---------------------------------------------------------------------------- reading MLflow


def with_list_items(params: dict[str, str]) -> dict[str, str]:
    """params plus one entry per item of a list-valued param: `optim.betas` = '[0.9, 0.99]' adds
    `optim.betas.0` = '0.9' and `optim.betas.1` = '0.99' (a sweep over `optim.betas.1=…`)."""
    items = {}
    for key, value in params.items():
        if value.startswith("[") and value.endswith("]") and "[" not in value[1:]:
            for i, item in enumerate(v.strip() for v in value[1:-1].split(",") if v.strip()):
                items[f"{key}.{i}"] = item
    return {**params, **items}


def find_parent(client: MlflowClient, parent_id: str | None, experiment: str | None) -> Run:
    """The run `parent_id`, or the latest run tagged role=sweep in `experiment` (None: in any
    experiment of the store: each preset has its own)."""
    if parent_id:
        return tracking.retry(lambda: client.get_run(parent_id))
    if experiment is None:
        ids = [e.experiment_id for e in tracking.retry(client.search_experiments)]
        where = "the store"
    else:
        found = tracking.retry(lambda: client.get_experiment_by_name(experiment))
        if found is None:
            raise SystemExit(f"no experiment {experiment!r} in the store")
        ids, where = [found.experiment_id], f"experiment {experiment!r}"
    runs = (
        tracking.retry(
            lambda: client.search_runs(
                ids, "tags.role = 'sweep'", order_by=["attributes.start_time DESC"], max_results=1
            )
        )
        if ids
        else []
    )
    if not runs:
        raise SystemExit(f"no sweep (a run tagged role=sweep) in {where}")
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


class Unreadable(ValueError):
    """A run's `trajectory.npz` that np.load cannot read (cut short: a disk that filled)."""


def load_trajectory(client: MlflowClient, run_id: str) -> dict[str, np.ndarray] | None:
    """The run's `trajectory.npz` (every replicate), or None if it has none; Unreadable
    if np.load cannot read it (EOFError, BadZipFile, ...)."""
    names = {a.path for a in tracking.retry(lambda: client.list_artifacts(run_id))}
    if "trajectory.npz" not in names:
        return None
    with tempfile.TemporaryDirectory() as folder:
        path = tracking.download(client, run_id, "trajectory.npz", folder)
        try:
            with np.load(path) as npz:
                return {key: npz[key] for key in npz.files}
        except (EOFError, OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
            reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
            raise Unreadable(reason or type(error).__name__) from error


def skipped(runs: Sequence[ChildRun]) -> list[str]:
    """One line per run whose `trajectory.npz` could not be read (the report left it out)."""
    return [
        f"could not read trajectory.npz of run {run.run_id} ({run.name}): {run.unreadable}; "
        "its figure band left out"
        for run in runs
        if run.unreadable is not None
    ]


def job_number(run: Run) -> tuple[int, int]:
    """Sort key: Hydra's job number (tag `job`, or an older run's name `N: overrides`), then the
    start time."""
    number = run.data.tags.get("job", "")
    match = re.match(r"(\d+):", run.info.run_name or "")
    found = int(number) if number.isdigit() else int(match.group(1)) if match else sys.maxsize
    return (found, run.info.start_time or 0)


def load_children(
    client: MlflowClient, parent: Run, kind_of: Callable[[Mapping[str, str]], Any]
) -> list[ChildRun]:
    """The parent's child runs in job order, with the histories and trajectories their kind
    (`kind_of(params)`: what it reads back) asks for."""
    runs = tracking.retry(
        lambda: client.search_runs(
            [parent.info.experiment_id],
            f"tags.`{tracking.PARENT_TAG}` = '{parent.info.run_id}'",
            max_results=MAX_RUNS,
        )
    )
    children = []
    for run in sorted(runs, key=job_number):
        run_id, kind = run.info.run_id, kind_of(run.data.params)
        trajectory, unreadable = None, None
        if kind.trajectory:
            try:
                trajectory = load_trajectory(client, run_id)
            except Unreadable as error:  # the report goes on without it, and says so
                unreadable = str(error)
        children.append(
            ChildRun(
                run_id,
                run.info.run_name or run_id,
                run.info.status,
                with_list_items(dict(run.data.params)),
                dict(run.data.metrics),
                dict(run.data.tags),
                {key: load_history(client, run_id, key) for key in kind.histories},
                trajectory,
                kind,
                unreadable,
            )
        )
    return children


# ---------------------------------------------------------------------------- what varies
