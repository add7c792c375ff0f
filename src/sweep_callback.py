"""A Hydra callback that makes one MLflow parent run per multirun sweep.

`on_multirun_start` runs in the launching process before any job: it creates the experiment (so
parallel workers never race to create it) and the parent run, then hands the parent's id to the
jobs — in the environment (inherited by local worker processes) and in a file in the sweep folder
(read by jobs on other machines that share it). Each job passes that id explicitly as its run's
parent. `on_multirun_end` closes the parent FINISHED, or FAILED/KILLED if a child was; Hydra skips it
when a job raised, and then the failing job has already closed the parent itself.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from src import tracking

PARENT_ENV = "BREAKING_ADAM_PARENT_RUN_ID"
PARENT_FILE = "mlflow_parent_run_id"


def parent_run_id(sweep_dir: str | Path | None) -> str | None:
    """The sweep's parent run id, from the environment or the sweep folder."""
    if os.environ.get(PARENT_ENV):
        return os.environ[PARENT_ENV]
    path = Path(sweep_dir) / PARENT_FILE if sweep_dir else None
    return path.read_text().strip() if path is not None and path.is_file() else None


class MlflowSweepCallback(Callback):
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        uri = str(config.tracking.uri)
        client, experiment = tracking.connect(uri, str(config.tracking.experiment))
        sweep_dir = Path(str(config.hydra.sweep.dir)).resolve()
        run_id = tracking.start_run(client, experiment, f"sweep {sweep_dir.name}",
                                    {"sweep_dir": str(sweep_dir), "role": "sweep"})
        overrides = list(config.hydra.overrides.task)
        params = OmegaConf.to_container(config.hydra.sweeper.get("params") or {}, resolve=True)
        tracking.log_params(client, run_id, {"overrides": " ".join(overrides) or "(none)",
                                             **{f"sweep.{k}": v for k, v in params.items()}})
        sweep_dir.mkdir(parents=True, exist_ok=True)
        (sweep_dir / PARENT_FILE).write_text(run_id)
        os.environ[PARENT_ENV] = run_id

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        run_id = parent_run_id(Path(str(config.hydra.sweep.dir)).resolve())
        os.environ.pop(PARENT_ENV, None)
        if run_id is None:
            return
        client, experiment = tracking.connect(str(config.tracking.uri),
                                              str(config.tracking.experiment))
        tracking.end_run(client, run_id, sweep_status(client, experiment, run_id))


def sweep_status(client: Any, experiment: str, run_id: str) -> str:
    """FAILED or KILLED if any child ended so, else FINISHED."""
    children = client.search_runs([experiment],
                                  f"tags.`{tracking.PARENT_TAG}` = '{run_id}'",
                                  max_results=50000)
    statuses = {child.info.status for child in children}
    for status in ("FAILED", "KILLED"):
        if status in statuses:
            return status
    return "FINISHED"
