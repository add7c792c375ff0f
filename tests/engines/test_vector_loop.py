"""A d-dimensional job end to end through `python -m src.main`, into a temporary SQLite store."""

from __future__ import annotations

import numpy as np
from mlflow.tracking import MlflowClient

from tests.conftest import run_main


def test_ddim_job_logs_per_coordinate_metrics(store: str, tmp_path) -> None:
    run_main(
        "fn=periodic_nd",
        "projection=ball_weighted",
        "optim=amsgrad",
        "steps=2000",
        "log.points=20",
        "log.figures=false",
        f"tracking.uri={store}",
        f"hydra.run.dir={tmp_path}/run",
    )
    client = MlflowClient(store)
    experiment = client.get_experiment_by_name("breaking-adam")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.tags["engine"] == "torch"  # engine=auto: the fast engine declined
    assert run.data.params["fn.C"] == "[101.0, 5.0]"
    metrics = run.data.metrics
    for name in ("final_x_0", "final_x_1", "final_x_norm", "final_avg_regret", "tail_x_1_mean"):
        assert np.isfinite(metrics[name]), name
    assert metrics["final_x_norm"] <= 1.0 + 1e-6
    history = client.get_metric_history(run.info.run_id, "x_1")
    assert len(history) == 20 and history[-1].step == 2000
    assert "x" not in metrics  # no ambiguous 'x' for a vector: x_0, x_1, x_norm


def test_engine_fast_refuses_a_ddim_job_in_one_line(store: str, tmp_path) -> None:
    proc = run_main(
        "fn=quadratic_nd",
        "engine=fast",
        "steps=100",
        "log.points=10",
        f"tracking.uri={store}",
        f"hydra.run.dir={tmp_path}/run",
        check=False,
    )
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error: engine=fast: fn RotatedQuadratic is 2-dimensional")
