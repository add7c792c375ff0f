"""MLflow tracking through `MlflowClient`: runs, params, metric histories, artifacts, status
(`calls` bounds each call, `health` checks the store first, `owners` reaps runs whose process is
gone, `redaction` keeps passwords out).

Knows nothing of optimizers or problems: it logs the dictionaries, arrays and results it is
given (`chart_histories` knows R_t/t's histories by name only). A SQLite store's "database is
locked" is waited out with backoff; a server's transient errors are retried by MLflow itself
within one bounded budget (`HTTP_BUDGET`, under 30 s a call); then the call fails loudly, so a
metric history never has a silent gap.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
from mlflow.entities import Metric, Param, RunStatus
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from src.tracking.artifacts import log_whole
from src.tracking.calls import HTTP_BUDGET, StoreError, retry
from src.tracking.health import (
    artifact_location,
    check_store,
    misplaced_artifacts,
    sqlite_path,
    warn_misplaced_artifacts,
)
from src.tracking.new_store import open_store, schema_lock
from src.tracking.owners import (
    OWNER_HOST,
    OWNER_PID,
    OWNER_START,
    STALE_REASON,
    owner_gone,
    owner_tags,
    reap_stale_runs,
)
from src.tracking.redaction import carries_password, redact

# the tracking API the rest of the project calls as `store.<name>`, from the modules that own each
__all__ = [
    "HTTP_BUDGET", "OWNER_HOST", "OWNER_PID", "OWNER_START", "PARENT_ENV", "PARENT_TAG",
    "STALE_REASON", "StoreError", "artifact_location", "carries_password", "check_store",
    "connect", "download", "end_run", "flatten", "log_files", "log_folder", "log_histories",
    "log_metrics", "log_params", "log_text", "misplaced_artifacts", "owner_gone", "owner_tags",
    "reap_stale_runs", "redact", "retry", "schema_lock", "set_tags", "sqlite_path", "start_run",
    "warn_misplaced_artifacts",
]  # fmt: skip

T = TypeVar("T")
METRICS_PER_BATCH = 1000  # log_batch's limit
PARAMS_PER_BATCH = 100
PARENT_TAG = "mlflow.parentRunId"
PARENT_ENV = "BREAKING_ADAM_PARENT_RUN_ID"  # set in a sweep's jobs (src.tracking.sweep)


def experiment_id(client: MlflowClient, name: str, uri: str) -> str:
    """The id of experiment `name`, created if missing (safe when several processes race)."""
    found = retry(lambda: client.get_experiment_by_name(name))
    if found is None:
        try:
            created = retry(
                lambda: client.create_experiment(name, artifact_location(uri), EXPERIMENT_TAGS)
            )
            return created
        except MlflowException:
            found = retry(lambda: client.get_experiment_by_name(name))
            if found is None:
                raise
    for key, value in EXPERIMENT_TAGS.items():  # an experiment made before, or by another tool
        if key not in found.tags:
            retry(lambda k=key, v=value: client.set_experiment_tag(found.experiment_id, k, v))
    return found.experiment_id


# MLflow 3's UI opens an experiment on its GenAI pages unless it is marked as model development
EXPERIMENT_TAGS = {
    "mlflow.experimentKind": "custom_model_development",
    "mlflow.note.content": (
        "Breaking Adam: optimizers on the online problems of Reddi, Kale & Kumar (ICLR 2018). "
        "One parent run per sweep, one child run per job: metrics x and avg_regret over steps, "
        "final_x / final_regret / final_avg_regret, trajectory.npz and trajectory.png."
    ),
}


def connect(uri: str, experiment: str) -> tuple[MlflowClient, str]:
    """A client on `uri` and the experiment's id; StoreError naming the URI if unusable.

    Opened once per process (the basic launcher runs every job of a sweep in one process: the
    store's checks and schema are paid once). A new SQLite file gets its schema under a file lock,
    so that processes starting together create it once, whoever comes first."""
    if (uri, experiment) in _OPEN:
        return _OPEN[uri, experiment]
    check_store(uri)
    if redact(uri) != uri:  # MLflow prints "View run at <the URI>" on stdout: not with a password
        os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"
    try:
        client, found = open_store(uri, lambda: _open(uri, experiment))
    except Exception as error:  # any store failure becomes one line naming the store
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise StoreError(f"tracking.uri={redact(uri)}: {first[:300]}") from error
    _OPEN[uri, experiment] = (client, found)
    if not os.environ.get(PARENT_ENV):  # a sweep's launching process has said it already
        warn_misplaced_artifacts(client, found, uri)
    return client, found


_OPEN: dict[tuple[str, str], tuple[MlflowClient, str]] = {}


def _open(uri: str, experiment: str) -> tuple[MlflowClient, str]:
    client = MlflowClient(tracking_uri=uri)
    return client, experiment_id(client, experiment, uri)


def start_run(
    client: MlflowClient,
    experiment: str,
    name: str,
    tags: Mapping[str, str],
    parent_run_id: str | None = None,
) -> str:
    """Create a RUNNING run (a child of `parent_run_id` if given); returns its id."""
    tags = {**owner_tags(), **tags}
    if parent_run_id:
        tags[PARENT_TAG] = parent_run_id
    tags = {k: redact(str(v)) for k, v in tags.items()}
    run = retry(lambda: client.create_run(experiment, run_name=redact(name), tags=tags))
    return run.info.run_id


def log_params(client: MlflowClient, run_id: str, params: Mapping[str, Any]) -> None:
    items = [Param(k, redact(str(v))[:6000]) for k, v in params.items()]  # no URI password
    for i in range(0, len(items), PARAMS_PER_BATCH):
        batch = items[i : i + PARAMS_PER_BATCH]
        retry(lambda batch=batch: client.log_batch(run_id, params=batch))


def log_histories(
    client: MlflowClient, run_id: str, steps: Sequence[int], series: Mapping[str, Sequence[float]]
) -> int:
    """Log each named series at `steps` with log_batch, 1000 points a call; returns the count."""
    now = int(time.time() * 1000)
    metrics = [
        Metric(name, float(v), now, int(s))
        for name, values in series.items()
        for s, v in zip(steps, values, strict=True)
    ]
    for i in range(0, len(metrics), METRICS_PER_BATCH):
        batch = metrics[i : i + METRICS_PER_BATCH]
        retry(lambda batch=batch: client.log_batch(run_id, metrics=batch))
    return len(metrics)


def log_metrics(
    client: MlflowClient, run_id: str, values: Mapping[str, float], step: int = 0
) -> None:
    log_histories(client, run_id, [step], {k: [v] for k, v in values.items()})


class Logged(Protocol):
    """What `log_result` reads of a run's result (`src.engines.result.Result`)."""

    log_steps: np.ndarray  # [P] the logged steps
    steps_done: int

    def histories(self) -> Mapping[str, np.ndarray]: ...

    def finals(self) -> Mapping[str, float]: ...


def log_result(client: MlflowClient, run_id: str, result: Logged) -> None:
    """A run's result as MLflow metrics: each history at its logged steps (`chart_histories` says
    from which point), the finals at its last step."""
    steps, histories = result.log_steps.tolist(), result.histories()
    for names, first in chart_histories(steps, list(histories)):
        logged = {k: np.asarray(histories[k]).tolist()[first:] for k in names}
        log_histories(client, run_id, steps[first:], logged)
    log_metrics(client, run_id, result.finals(), step=result.steps_done)


def chart_histories(steps: Sequence[int], names: Sequence[str]) -> list[tuple[list[str], int]]:
    """Which histories MLflow gets from which logged point: R_t/t (`avg_regret`, and its band
    `avg_regret_std`) from the second one when the first is t = 1 and more follow, every other
    history from the first.

    R_1/1 = f_1(x_1) − min_F f_1 is the first loss's whole range (1010 on Figure 1's online
    problem) while R_t/t later is below 1: MLflow's default chart, linear from its largest value,
    would show a flat line. The run's `trajectory.npz` keeps every point."""
    late = [k for k in names if k in ("avg_regret", "avg_regret_std")]
    if not (late and len(steps) > 2 and steps[0] == 1):
        return [(list(names), 0)]
    return [([k for k in names if k not in late], 0), (late, 1)]


def set_tags(client: MlflowClient, run_id: str, tags: Mapping[str, str]) -> None:
    for key, value in tags.items():
        value = redact(str(value))[:5000]  # noqa: PLW2901  (no URI password in any tag)
        retry(lambda key=key, value=value: client.set_tag(run_id, key, value))


def log_files(client: MlflowClient, run_id: str, files: Iterable[tuple[Path, str | None]]) -> None:
    """Log (local path, artifact folder) pairs; a folder path logs its whole tree."""
    for path, folder in files:
        if Path(path).is_dir():
            retry(lambda p=path, f=folder: client.log_artifacts(run_id, str(p), f))
        elif Path(path).exists():
            retry(lambda p=path, f=folder: client.log_artifact(run_id, str(p), f))


def log_folder(client: MlflowClient, run_id: str, folder: Path, under: str | None = None) -> None:
    """Log the files under `folder` (its tree) at the run's artifact root (or in folder `under`),
    in one call, each file whole or not at all (`src.tracking.artifacts`: StoreError naming the
    run's artifact folder)."""
    log_whole(client, run_id, folder, under)


def download(client: MlflowClient, run_id: str, path: str, folder: Path | str) -> Path:
    """The run's artifact `path` copied into `folder`, without MLflow's progress bar on stderr (a
    sweep's report reads every run's arrays: one bar each among the sweep's own lines)."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    return Path(retry(lambda: client.download_artifacts(run_id, path, str(folder))))


def log_text(client: MlflowClient, run_id: str, text: str, name: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_text(text)
        log_files(client, run_id, [(path, None)])


def end_run(client: MlflowClient, run_id: str, status: str) -> None:
    """Terminate with FINISHED, FAILED or KILLED."""
    RunStatus.from_string(status)  # validates the name
    retry(lambda: client.set_terminated(run_id, status))


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'optim': {'lr': 0.1}} -> {'optim.lr': 0.1}; lists stay values."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat
