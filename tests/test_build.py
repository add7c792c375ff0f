"""What a job runs otherwise than it asks (src.build.notes): replicates or seeds of a
deterministic problem, one warning line each and one run's worth of compute (issue 23)."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from src.job import run_job
from tests.conftest import make_cfg, run_main


def test_replicates_of_a_deterministic_problem_run_once_with_one_warning(store, capsys) -> None:
    result = run_job(
        make_cfg("fn=online", "replicates=4", "steps=500", "log.points=20", f"tracking.uri={store}")
    )
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert warnings == [
        "warning: replicates=4: fn Periodic is deterministic, its replicates would be identical "
        "copies: one replicate runs"
    ]
    assert result.x.shape[1] == 1 and result.final_x.shape == (1,)
    run = MlflowClient(store).get_run(result.info["run_id"])
    assert run.data.params["replicates"] == "1"


def test_a_random_problem_runs_every_replicate_without_a_warning(store, capsys) -> None:
    result = run_job(
        make_cfg(
            "fn=stochastic", "replicates=3", "steps=500", "log.points=20", f"tracking.uri={store}"
        )
    )
    assert "warning" not in capsys.readouterr().err
    assert result.final_x.shape == (3,)


@pytest.mark.slow
def test_a_sweep_warns_once_for_all_its_jobs(tmp_path) -> None:
    done = run_main(
        "-m",
        "seed=0,1,2",
        "fn=online",
        "replicates=3",
        "steps=300",
        "log.points=20",
        "log.report=false",
        f"hydra.sweep.dir={tmp_path}/multirun",
        f"tracking.uri=sqlite:///{tmp_path}/mlflow.db",
    )
    lines = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert len(lines) == 2, done.stderr
    assert any("replicates=3" in line for line in lines)
    assert any("seed is swept but fn Periodic is deterministic" in line for line in lines)
