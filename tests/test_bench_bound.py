"""`src.bench_bound`, the default sweep's bound in `make bench`, records what the sweep records:
the same four runs, metric for metric and point for point (a bound that computed or logged less
would make the framework's share of the sweep's time look larger than it is)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

from src import PROJECT_ROOT
from tests.conftest import run_main

STEPS = "3000"


def runs(uri: str, experiment: str) -> dict[str, tuple[dict[str, float], dict[str, list]]]:
    """Run name -> (its final metrics, each history's (step, value) points), child runs only."""
    client = MlflowClient(uri)
    found = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    return {
        run.info.run_name: (
            {k: v for k, v in run.data.metrics.items() if k != "steps_per_second"},
            {
                key: [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, key)]
                for key in ("x", "avg_regret", "x_std", "avg_regret_std")
            },
        )
        for run in found
        if run.data.tags.get("role") != "sweep"
    }


@pytest.mark.slow
def test_the_bound_records_the_default_sweeps_runs_point_for_point(tmp_path: Path) -> None:
    swept, bound = f"sqlite:///{tmp_path}/sweep.db", f"sqlite:///{tmp_path}/bound.db"
    run_main(
        "-m", f"steps={STEPS}", "log.figures=false", "log.report=false",
        f"hydra.sweep.dir={tmp_path}/multirun", f"tracking.uri={swept}",
    )  # fmt: skip
    subprocess.run(
        [sys.executable, "-m", "src.bench_bound", bound, STEPS],
        cwd=PROJECT_ROOT, check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    product, alone = runs(swept, "breaking-adam"), runs(bound, "bench-bound")
    assert sorted(alone) == sorted(product) == [
        "adam · online", "adam · stochastic", "amsgrad · online", "amsgrad · stochastic",
    ]  # fmt: skip
    for name, (finals, histories) in product.items():
        assert alone[name][0] == finals, name
        assert alone[name][1] == histories, name
    assert len(product["adam · stochastic"][1]["x_std"]) == 1000  # R = 10: the bands are logged
