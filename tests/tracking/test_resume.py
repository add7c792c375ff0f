"""A sweep interrupted, then resumed with the same command and `tracking.resume=<parent id>`:
only its jobs without a FINISHED child run run, under the same parent (issue 28)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import run_main, start_main

SWEEP = (
    "-m", "optim=adam,amsgrad", "fn=online,stochastic", "engine=torch", "steps=12000",
    "log.points=10", "log.figures=false", "log.report=false",
)  # fmt: skip


def children(client: MlflowClient, parent: str) -> list:
    experiment = client.get_experiment_by_name("breaking-adam").experiment_id
    return client.search_runs([experiment], f"tags.mlflow.parentRunId = '{parent}'")


@pytest.mark.slow  # two sweeps in subprocesses, the first stopped by Ctrl-C after its first job
def test_an_interrupted_sweep_resumed_runs_only_its_missing_jobs(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    first = start_main(*SWEEP, f"tracking.uri={uri}", f"hydra.sweep.dir={tmp_path}/first",
                       group=True)  # fmt: skip
    client = MlflowClient(uri)
    parent_file = tmp_path / "first" / "mlflow_parent_run_id"
    deadline = time.monotonic() + 600  # a bound on the wait, not an assertion on its length
    while time.monotonic() < deadline and first.poll() is None:
        if parent_file.is_file():
            done = [
                c for c in children(client, parent_file.read_text()) if c.info.status == "FINISHED"
            ]
            if done:
                break
        time.sleep(0.2)
    os.killpg(first.pid, signal.SIGINT)  # Ctrl-C, as from the terminal
    first.communicate(timeout=120)
    parent = parent_file.read_text()
    before = {c.data.tags["job"]: c.info.run_id for c in children(client, parent)
              if c.info.status == "FINISHED"}  # fmt: skip
    assert 1 <= len(before) < 4, before
    assert client.get_run(parent).info.status in ("KILLED", "FAILED")  # Ctrl-C in or between jobs

    second = run_main(*SWEEP, f"tracking.uri={uri}", f"hydra.sweep.dir={tmp_path}/second",
                      f"tracking.resume={parent}")  # fmt: skip
    after = children(client, parent)
    assert sorted(c.data.tags["job"] for c in after) == ["0", "1", "2", "3"]
    assert {c.info.status for c in after} == {"FINISHED"}
    assert {
        c.data.tags["job"]: c.info.run_id for c in after if c.data.tags["job"] in before
    } == before
    assert (second.stdout + second.stderr).count("not run again") == len(before)
    assert client.get_run(parent).info.status == "FINISHED"
    experiment = client.get_experiment_by_name("breaking-adam").experiment_id
    assert len(client.search_runs([experiment], "tags.role = 'sweep'")) == 1

    runs = len(client.search_runs([experiment]))
    for wrong in ("0123456789abcdef", str(tmp_path / "second" / "0")):
        proc = run_main(*SWEEP, f"tracking.uri={uri}", f"tracking.resume={wrong}", check=False)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.strip().splitlines() == [
            line
            for line in proc.stderr.strip().splitlines()
            if line.startswith("error: tracking.resume=")
        ]
    assert len(client.search_runs([experiment])) == runs  # nothing stored


@pytest.mark.slow
def test_resuming_a_sweep_of_a_store_that_does_not_exist_stores_nothing(tmp_path: Path) -> None:
    database = tmp_path / "mlflow.db"
    uri, folder = f"tracking.uri=sqlite:///{database}", f"hydra.sweep.dir={tmp_path}/sweep"
    proc = run_main(*SWEEP, uri, "tracking.resume=abc", folder, check=False, seeded_store=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: tracking.resume='abc': no store at {database}: no sweep to resume; nothing was run"
    ]
    assert not database.exists()


@pytest.mark.slow
def test_resuming_a_search_is_refused_in_one_line(tmp_path: Path) -> None:
    """A search's trials are not known in advance (their job numbers name other problems when run
    again): it continues its Optuna study by the same command, never by tracking.resume."""
    database = tmp_path / "mlflow.db"
    proc = run_main(
        "-m", "+search=break_adam", "hydra.sweeper.n_trials=2", "steps=1000",
        f"tracking.uri=sqlite:///{database}", "tracking.resume=abc",
        f"hydra.sweep.dir={tmp_path}/sweep", check=False, seeded_store=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: tracking.resume=abc: only a grid sweep"), line
    assert not database.exists() and not (tmp_path / "optuna.db").exists()
