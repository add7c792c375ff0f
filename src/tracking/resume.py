"""A sweep resumed (`tracking.resume=<parent run id or sweep folder>`, issue 28): the same command
again, under the same parent run, runs only the jobs without a FINISHED child run.

- `find_sweep` checks the switch before anything is stored (`ResumeError`: one line naming the
  key, exit 2): the store exists, the run exists and is a sweep's parent in this experiment, its
  command line (`overrides`) is this one, and it is not still running;
- `reopen` sets the parent RUNNING again, owned by this process, and soft-deletes its children
  that did not finish (MLflow's `delete_run`: out of the runs table and the report, restorable
  from the UI's "Deleted" filter); their jobs run again;
- each job reads the finished job numbers (`finished_jobs`: the environment, set by the sweep)
  and skips its own if it is one of them.
"""

from __future__ import annotations

import os
from pathlib import Path

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from src.tracking.calls import retry
from src.tracking.health import sqlite_path
from src.tracking.owners import owner_gone, owner_tags

DONE_ENV = "BREAKING_ADAM_FINISHED_JOBS"  # the resumed sweep's finished job numbers, "0,2"
PARENT_FILE = "mlflow_parent_run_id"  # in a sweep's folder (src.tracking.sweep writes it)
KEY = "tracking.resume"


class ResumeError(ValueError):
    """`tracking.resume` names no sweep this command can resume (one line)."""


def _parent_id(resume: str) -> str:
    """The run id `resume` names: itself, or the one in the sweep folder it names."""
    folder = Path(resume)
    if (folder / PARENT_FILE).is_file():
        return (folder / PARENT_FILE).read_text().strip()
    if folder.is_dir():
        raise ResumeError(f"{KEY}={resume!r}: a folder without {PARENT_FILE}: not a sweep's")
    return resume


def find_sweep(uri: str, experiment: str, resume: str, overrides: str) -> str:
    """The parent run id of the sweep to resume, checked (see the module docstring)."""
    database = sqlite_path(uri)
    if database is not None and not database.is_file():
        raise ResumeError(f"{KEY}={resume!r}: no store at {database}: no sweep to resume")
    run_id = _parent_id(resume)
    client = MlflowClient(tracking_uri=uri)
    try:
        run = retry(lambda: client.get_run(run_id))
    except MlflowException:
        raise ResumeError(f"{KEY}={resume!r}: no such run in the store") from None
    if run.data.tags.get("role") != "sweep":
        raise ResumeError(f"{KEY}={resume!r}: run {run_id} is not a sweep's parent run")
    found = retry(lambda: client.get_experiment(run.info.experiment_id)).name
    if found != experiment:
        raise ResumeError(
            f"{KEY}={resume!r}: that sweep is in experiment {found!r}, this command logs to "
            f"{experiment!r} (tracking.experiment)"
        )
    ran = run.data.params.get("overrides", "")
    if ran != overrides:
        raise ResumeError(
            f"{KEY}={resume!r}: that sweep ran `{ran}`, this command is `{overrides}`: resume "
            "with the same command"
        )
    if run.info.status == "RUNNING" and not owner_gone(run.data.tags):
        raise ResumeError(f"{KEY}={resume!r}: that sweep is still running")
    return run_id


def reopen(client: MlflowClient, experiment: str, run_id: str) -> list[int]:
    """The parent RUNNING again, owned by this process; its unfinished children deleted; the job
    numbers of its FINISHED children."""
    query = f"tags.`mlflow.parentRunId` = '{run_id}'"
    children = retry(lambda: client.search_runs([experiment], query, max_results=50000))
    done = []
    for child in children:
        number = child.data.tags.get("job", "")
        if child.info.status == "FINISHED" and number.isdigit():
            done.append(int(number))
        else:
            retry(lambda c=child.info.run_id: client.delete_run(c))
    retry(lambda: client.update_run(run_id, status="RUNNING"))
    for key, value in owner_tags().items():
        retry(lambda k=key, v=value: client.set_tag(run_id, k, v))
    return sorted(done)


def finished_jobs() -> set[int]:
    """In a job of a resumed sweep: the job numbers that FINISHED before."""
    return {int(n) for n in os.environ.get(DONE_ENV, "").split(",") if n.isdigit()}
