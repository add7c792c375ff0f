"""A sweep job whose worker process died under it (kill -9, the OOM killer), in the launching
process: its run is KILLED with what it had logged and the reason, and the job's value is a
`JobFailure` naming it (the process launcher, hydra_plugins/breaking_adam_processes, calls
`job_died` by name)."""

from __future__ import annotations

import os

from hydra.core.utils import filter_overrides
from omegaconf import DictConfig

from src.tracking import store
from src.tracking.owners import owner_gone
from src.tracking.sweep import PARENT_ENV, WORKER_DIED, JobFailure, children


def job_died(config: DictConfig, how: str) -> JobFailure:
    """Close the run of job `config` (its worker `how`: "was killed by SIGKILL") and say so."""
    number = int(config.hydra.job.num)
    overrides = " ".join(filter_overrides(list(config.hydra.overrides.task)))
    head = f"job #{number} ({overrides}) died: {WORKER_DIED}{how}"
    parent = os.environ.get(PARENT_ENV)
    if not parent:
        return JobFailure(number, overrides, head)
    client, experiment = store.connect(str(config.tracking.uri), str(config.tracking.experiment))
    mine = [
        run
        for run in children(client, experiment, parent)
        if run.data.tags.get("job") == str(number) and run.info.status in ("RUNNING", "KILLED")
    ]
    if not mine:
        return JobFailure(number, overrides, f"{head}, before its run started")
    run = mine[0]
    if not run.data.tags.get("failure.reason"):  # a run stopped by a signal has none yet
        store.set_tags(client, run.info.run_id, {"failure.reason": WORKER_DIED + how})
    if run.info.status == "RUNNING" and owner_gone(run.data.tags):
        store.end_run(client, run.info.run_id, "KILLED")
    return JobFailure(
        number,
        run.info.run_name,
        f"{head}; run {run.info.run_name} ({run.info.run_id}) KILLED with what it had logged",
    )
