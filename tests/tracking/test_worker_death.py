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


def long_jobs(uri: str, steps: tuple[str, ...], timeout: float = 120) -> dict[str, object]:
    """The runs of the long jobs (by their `steps`) once each computes, each run by a worker."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = {
            run.data.params.get("steps"): run
            for run in running_runs(uri, "breaking-adam", len(steps))
        }
        if all(n in found for n in steps):
            return {n: found[n] for n in steps}
        time.sleep(0.2)
    raise AssertionError(f"the jobs of steps {steps} never all started")


HOW = {
    signal.SIGKILL: "was killed by SIGKILL",
    # SIGTERM stops the job as Ctrl-C does (its run KILLED with its trajectory), then the worker
    # ends before returning the job
    signal.SIGTERM: "exited with status 130 before its job returned",
}
LONG = {signal.SIGKILL: "50000000", signal.SIGTERM: "40000000"}  # the job each signal ends


@pytest.mark.slow
def test_a_signal_to_one_worker_costs_only_its_job(tmp_path: Path) -> None:
    """Three workers: jobs #0 and #1 would run for hours, one's worker gets SIGKILL, the other's
    SIGTERM; #2 runs beside them and #3 after the deaths, both to the end."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    proc = start_main(
        "-m",
        "hydra/launcher=processes",
        "hydra.launcher.n_jobs=3",
        f"steps={LONG[signal.SIGKILL]},{LONG[signal.SIGTERM]},20000,20000",
        "optim=adam",
        "fn=online",
        "engine=torch",
        f"log.points={POINTS}",
        "log.figures=false",
        f"hydra.sweep.dir={tmp_path}/multirun",
        f"tracking.uri={uri}",
        group=True,
    )
    victims = long_jobs(uri, tuple(LONG.values()))
    for signum, steps in LONG.items():
        os.kill(int(victims[steps].data.tags["owner.pid"]), signum)
    out, err = proc.communicate(timeout=240)
    code = proc.returncode

    assert code == 1, err
    assert "Traceback" not in err, err
    client = MlflowClient(uri)
    [(parent, children)] = sweeps(uri, "breaking-adam")
    assert parent.info.status == "KILLED", err
    assert len(children) == 4, [c.info.run_name for c in children]
    for number, (signum, steps) in enumerate(LONG.items()):
        # the launcher's line as it happens, and the sweep's closing line for the failed job
        [died] = [
            line for line in out.splitlines() if f"job #{number} (steps={steps}) died" in line
        ]
        assert "died: its worker process" in died, out
        assert f"{HOW[signum]}; the other jobs go on" in died, out
        [closing] = [line for line in err.splitlines() if HOW[signum] in line]
        assert f"steps={steps}" in closing and "its worker process" in closing, err
        victim = client.get_run(victims[steps].info.run_id)
        assert victim.info.status == "KILLED"
        reason = victim.data.tags["failure.reason"]
        assert reason == f"its worker process {HOW[signum]}", reason
        if signum == signal.SIGTERM:  # it logged its trajectory so far
            assert client.get_metric_history(victim.info.run_id, "x"), victim.info.run_name
    killed = {victims[steps].info.run_id for steps in LONG.values()}
    for child in children:
        if child.info.run_id not in killed:
            assert child.info.status == "FINISHED", (child.info.run_name, err)
            assert len(client.get_metric_history(child.info.run_id, "x")) == POINTS
    assert (tmp_path / "multirun" / "report" / "summary.md").is_file(), err
