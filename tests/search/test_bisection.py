"""Phase boundaries by bisection (issue 15): `hydra/sweeper=bisection`, each probe a job."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from hydra_plugins.breaking_adam_bisection.bisection_sweeper import midpoint, narrow_enough
from tests.conftest import run_main


def test_midpoints_and_stopping() -> None:
    assert midpoint(1.0, 100.0, True, False) == pytest.approx(10.0)
    assert midpoint(0.9, 1.0, False, False) == pytest.approx(0.95)
    assert midpoint(2.0, 10.0, False, True) == 6.0
    assert narrow_enough(3.0, 4.0, 1e-9, False, True)
    assert narrow_enough(100.0, 100.5, 0.01, True, False)
    assert not narrow_enough(100.0, 102.0, 0.01, True, False)


@pytest.mark.slow
def test_theorem1_boundary_in_C_is_found_with_its_bracket(tmp_path: Path) -> None:
    """Theorem 1's setting (β₁ = 0, β₂ = 0.1, period 3): x* flips from +1 to −1 at C = 2, and
    Adam goes to +1 whatever C ≤ 3-ish: the smallest failing C lies in [2, 2 + tol]."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    proc = run_main(
        "-m",
        "+search=bisect_c",
        "fn.period=3",
        "optim.betas=[0.0,0.1]",
        "optim.lr=0.01",
        "steps=5000",
        "log.points=20",
        "hydra.sweeper.low=1.0",
        "hydra.sweeper.high=2.5",
        "hydra.sweeper.log=false",
        "hydra.sweeper.tolerance=0.05",
        f"hydra.sweep.dir={tmp_path}/multirun",
        f"tracking.uri={uri}",
    )
    result = OmegaConf.load(tmp_path / "multirun" / "bisection.yaml")
    low, high = result.bracket
    assert high - low <= 0.05 and low <= 2.0 <= high
    assert result.failing_side == "high"
    assert "bisection: fn.C boundary" in proc.stdout
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("search-bisect_c").experiment_id
    runs = client.search_runs([experiment])
    (parent,) = [r for r in runs if r.data.tags.get("role") == "sweep"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == len(result.probes) == parent.data.metrics["probes"]
    assert parent.info.status == "FINISHED"
    assert parent.info.run_name.endswith(" · bisection of fn.C")  # not `fn.C · ? jobs`
    assert parent.data.params["bisection.key"] == "fn.C"
    assert (parent.data.metrics["bracket_low"], parent.data.metrics["bracket_high"]) == (low, high)
    assert parent.data.metrics["boundary"] == pytest.approx((low + high) / 2)
    assert sorted(float(r.data.params["fn.C"]) for r in children) == sorted(
        v for v, _ in result.probes
    )


@pytest.mark.slow
def test_a_bisection_swept_over_a_second_parameter_draws_its_boundary(tmp_path: Path) -> None:
    """Theorem 1's setting at periods 3 and 4: x* flips at C = period − 1 while Adam stays at +1,
    so the failing C starts at 2 and at 3; one bisection per period, each with its bracket, a
    metric per period on the parent, and the boundary figure."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    run_main(
        "-m",
        "+search=bisect_c",
        "fn.period=3,4",
        "optim.betas=[0.0,0.1]",
        "optim.lr=0.01",
        "steps=5000",
        "log.points=20",
        "hydra.sweeper.low=1.0",
        "hydra.sweeper.high=3.5",
        "hydra.sweeper.log=false",
        "hydra.sweeper.tolerance=0.05",
        f"hydra.sweep.dir={tmp_path}/multirun",
        f"tracking.uri={uri}",
    )
    result = OmegaConf.load(tmp_path / "multirun" / "bisection.yaml")
    assert result.over == ["fn.period"]
    for row, flip in zip(result.boundaries, (2.0, 3.0), strict=True):
        low, high = row.bracket
        assert high - low <= 0.05 and low <= flip <= high, row
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("search-bisect_c").experiment_id
    (parent,) = client.search_runs([experiment], "tags.role = 'sweep'")
    history = client.get_metric_history(parent.info.run_id, "boundary")
    assert [m.step for m in history] == [0, 1]
    assert [m.value for m in history] == [row.boundary for row in result.boundaries]
    files = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"boundaries.csv", "boundary.png"} <= files
    children = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert all("period=" in r.info.run_name and "fn.C=" in r.info.run_name for r in children)
