"""One job in-process (src.job.run_job) into a real temporary SQLite store."""

from __future__ import annotations

from mlflow.tracking import MlflowClient

from src.job import run_job, run_params
from tests.conftest import make_cfg


def artifacts(uri: str, run_id: str) -> set[str]:
    return {a.path for a in MlflowClient(uri).list_artifacts(run_id)}


def test_a_job_logs_its_figure_unless_told_not_to_and_says_where_its_time_went(store) -> None:
    small = ("steps=2000", "log.points=20", f"tracking.uri={store}")
    drawn = run_job(make_cfg(*small))
    plain = run_job(make_cfg(*small, "log.figures=false"))
    assert "trajectory.png" in artifacts(store, drawn.info["run_id"])
    assert artifacts(store, plain.info["run_id"]) == {"trajectory.npz", "config.yaml"}
    assert set(plain.info["seconds"]) == {"check", "store", "compute", "logging"}
    assert set(drawn.info["seconds"]) == {"check", "store", "compute", "logging", "figure"}
    assert all(seconds >= 0 for seconds in plain.info["seconds"].values())


def test_params_start_with_the_options_and_carry_no_hydra_keys() -> None:
    """The chosen optimizer and problem first; a node's class as `<node>.class`, never its
    `_target_` or `_partial_` (issue 28)."""
    params = run_params(make_cfg("optim=amsgrad"), {"optim": "amsgrad", "fn": "online"})
    assert list(params)[:2] == ["optim", "fn"]
    assert params["optim.class"] == "Adam" and params["fn.class"] == "Periodic"
    assert not [k for k in params if k.endswith(("_target_", "_partial_"))]
