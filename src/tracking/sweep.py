"""A Hydra callback that makes one MLflow parent run per multirun sweep.

`on_multirun_start` runs in the launching process before any job: it creates the experiment (so
parallel workers never race to create it) and the parent run, then hands the parent's id to the
jobs three ways: in the environment (inherited by local worker processes), in a file in the sweep
folder (read by jobs on other machines that share it), and in the callback object itself, which
every launcher (joblib, submitit/Slurm, Ray) pickles to its workers with the Hydra context, so that
`on_job_start` puts the id in the worker's environment whatever that worker inherited (a reused
loky worker, a Slurm job, a Ray worker started before the sweep). Each job passes that id
explicitly as its run's parent. `on_multirun_end` closes the parent FINISHED, or FAILED/KILLED if a
child was. Hydra skips it when a job raised (the failing job has then already closed the parent
FAILED) or the launcher itself failed (no Ray cluster, no sbatch): an exit handler of the launching
process then closes a parent still RUNNING as FAILED, so no sweep stays RUNNING forever.
"""

from __future__ import annotations

import atexit
import os
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from src.tracking import store as tracking

PARENT_ENV = "BREAKING_ADAM_PARENT_RUN_ID"
PARENT_FILE = "mlflow_parent_run_id"


def parent_run_id(sweep_dir: str | Path | None) -> str | None:
    """The sweep's parent run id, from the environment or the sweep folder."""
    if os.environ.get(PARENT_ENV):
        return os.environ[PARENT_ENV]
    path = Path(sweep_dir) / PARENT_FILE if sweep_dir else None
    return path.read_text().strip() if path is not None and path.is_file() else None


class MlflowSweepCallback(Callback):
    def __init__(self) -> None:
        self.run_id: str | None = None  # set in the launching process, pickled to the workers
        self._saved_env: str | None = None
        self._store: tuple[str, str] | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        uri = str(config.tracking.uri)
        client, experiment = tracking.connect(uri, str(config.tracking.experiment))
        sweep_dir = Path(str(config.hydra.sweep.dir)).resolve()
        run_id = tracking.start_run(
            client,
            experiment,
            f"sweep {sweep_dir.name}",
            {"sweep_dir": str(sweep_dir), "role": "sweep"},
        )
        overrides = list(config.hydra.overrides.task)
        params = OmegaConf.to_container(config.hydra.sweeper.get("params") or {}, resolve=True)
        tracking.log_params(
            client,
            run_id,
            {
                "overrides": " ".join(overrides) or "(none)",
                **{f"sweep.{k}": v for k, v in params.items()},
            },
        )
        sweep_dir.mkdir(parents=True, exist_ok=True)
        (sweep_dir / PARENT_FILE).write_text(run_id)
        os.environ[PARENT_ENV] = run_id
        self.run_id = run_id
        self._store = (uri, str(config.tracking.experiment))
        atexit.register(self._close_if_unfinished)

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        """In the job's process (a worker's, under a parallel launcher): the sweep's parent id."""
        if self.run_id:
            self._saved_env = os.environ.get(PARENT_ENV)
            os.environ[PARENT_ENV] = self.run_id

    def on_job_end(self, config: DictConfig, job_return: Any = None, **kwargs: Any) -> None:
        if not self.run_id:
            return
        if self._saved_env is None:  # leave the worker's environment as it found it
            os.environ.pop(PARENT_ENV, None)
        else:
            os.environ[PARENT_ENV] = self._saved_env

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        run_id = self.run_id or parent_run_id(Path(str(config.hydra.sweep.dir)).resolve())
        os.environ.pop(PARENT_ENV, None)
        if run_id is None:
            return
        client, experiment = tracking.connect(
            str(config.tracking.uri), str(config.tracking.experiment)
        )
        tracking.end_run(client, run_id, sweep_status(client, experiment, run_id))
        self.run_id = None  # closed: nothing left for the exit handler

    def _close_if_unfinished(self) -> None:
        """At exit of the launching process: a sweep that never reached on_multirun_end failed."""
        run_id, self.run_id = self.run_id, None
        if run_id is None or self._store is None:
            return
        try:
            client, experiment = tracking.connect(*self._store)
            if client.get_run(run_id).info.status == "RUNNING":
                status = sweep_status(client, experiment, run_id)
                tracking.end_run(client, run_id, "KILLED" if status == "KILLED" else "FAILED")
        except Exception as error:  # at exit: report, never raise
            print(
                f"warning: could not close sweep run {run_id}: {tracking.redact(str(error))}",
                file=sys.stderr,
            )


def sweep_status(client: Any, experiment: str, run_id: str) -> str:
    """FAILED or KILLED if any child ended so, else FINISHED."""
    children = client.search_runs(
        [experiment], f"tags.`{tracking.PARENT_TAG}` = '{run_id}'", max_results=50000
    )
    statuses = {child.info.status for child in children}
    for status in ("FAILED", "KILLED"):
        if status in statuses:
            return status
    return "FINISHED"
