"""A worker's death costs only its job (issue 27): under `hydra/launcher=processes`, kill -9 of
the worker running one job leaves the other jobs to finish with every point, the dead job's run
KILLED with its reason, and one line naming the job (Hydra's joblib launcher, on loky, ends the
healthy workers too: docs/errors.md)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import start_main
from tests.tracking.test_lifecycle import running_runs
from tests.tracking.test_scaling import sweeps

POINTS = 40


def long_job(uri: str, timeout: float = 120) -> object:
    """The run of job #0 once it computes, run by a worker, not the launching process."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for run in running_runs(uri, "breaking-adam", 1):
            if run.data.params.get("steps") == "50000000":
                return run
        time.sleep(0.2)
    raise AssertionError("job #0 never started")


HOW = {
    signal.SIGKILL: "was killed by SIGKILL",
    # SIGTERM stops the job as Ctrl-C does (its run KILLED with its trajectory), then the worker
    # ends before returning the job
    signal.SIGTERM: "exited with status 130 before its job returned",
}


@pytest.mark.slow
@pytest.mark.parametrize("signum", list(HOW), ids=lambda s: s.name)
def test_a_signal_to_one_worker_costs_only_its_job(tmp_path: Path, signum: int) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    proc = start_main(
        "-m",
        "hydra/launcher=processes",
        "hydra.launcher.n_jobs=2",
        # job #0 would run for hours and is killed; #1 runs beside it, #2 and #3 after the death
        "steps=50000000,20000,20000,20000",
        "optim=adam",
        "fn=online",
        "engine=torch",
        f"log.points={POINTS}",
        "log.figures=false",
        f"hydra.sweep.dir={tmp_path}/multirun",
        f"tracking.uri={uri}",
        group=True,
    )
    victim = long_job(uri)
    os.kill(int(victim.data.tags["owner.pid"]), signum)
    out, err = proc.communicate(timeout=240)
    code = proc.returncode

    assert code == 1, err
    assert "Traceback" not in err, err
    # the launcher's line as it happens, and the sweep's closing line for the failed job
    [died] = [line for line in out.splitlines() if "died" in line]
    assert "job #0 (steps=50000000) died: its worker process" in died, out
    assert f"{HOW[signum]}; the other jobs go on" in died, out
    [closing] = [line for line in err.splitlines() if HOW[signum] in line]
    assert "steps=50000000" in closing and "its worker process" in closing, err
    [(parent, children)] = sweeps(uri, "breaking-adam")
    assert parent.info.status == "KILLED", err
    assert len(children) == 4, [c.info.run_name for c in children]
    client = MlflowClient(uri)
    for child in children:
        if child.info.run_id == victim.info.run_id:
            assert child.info.status == "KILLED"
            reason = child.data.tags["failure.reason"]
            assert reason == f"its worker process {HOW[signum]}", reason
            if signum == signal.SIGTERM:  # it logged its trajectory so far
                assert client.get_metric_history(child.info.run_id, "x"), child.info.run_name
            continue
        assert child.info.status == "FINISHED", (child.info.run_name, err)
        assert len(client.get_metric_history(child.info.run_id, "x")) == POINTS
    assert (tmp_path / "multirun" / "report" / "summary.md").is_file(), err
