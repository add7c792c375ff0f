"""`src.bench_bound`, the default sweep's bound in `make bench`, computes and records what the
sweep's runs hold: the same four runs, metric for metric, point for point, array for array (a
bound that computed or logged less would make the framework's share of the sweep's time look
larger than it is)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient

from src import PROJECT_ROOT
from tests.conftest import run_main

STEPS = "3000"


def runs(uri: str, experiment: str, folder: Path) -> dict[str, tuple[dict, dict, dict]]:
    """Run name -> (its final metrics, each history's (step, value) points, its trajectory.npz
    arrays), child runs only, each name once."""
    client = MlflowClient(uri)
    found = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    children = [run for run in found if run.data.tags.get("role") != "sweep"]
    assert len({run.info.run_name for run in children}) == len(children), experiment
    out = {}
    for run in children:
        run_id = run.info.run_id
        finals = {k: v for k, v in run.data.metrics.items() if k != "steps_per_second"}
        histories = {
            key: [(m.step, m.value) for m in client.get_metric_history(run_id, key)]
            for key in ("x", "avg_regret", "x_std", "avg_regret_std")
        }
        path = client.download_artifacts(run_id, "trajectory.npz", str(folder / run_id))
        with np.load(path) as npz:
            arrays = {key: npz[key] for key in npz.files}
        out[run.info.run_name] = (finals, histories, arrays)
    return out


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
    product = runs(swept, "breaking-adam", tmp_path / "swept")
    alone = runs(bound, "bench-bound", tmp_path / "bound")
    assert sorted(alone) == sorted(product) == [
        "adam · online", "adam · stochastic", "amsgrad · online", "amsgrad · stochastic",
    ]  # fmt: skip
    for name, (finals, histories, arrays) in product.items():
        assert alone[name][0] == finals, name
        assert alone[name][1] == histories, name
        assert sorted(alone[name][2]) == sorted(arrays), name
        for key, values in arrays.items():
            assert np.array_equal(alone[name][2][key], values, equal_nan=True), (name, key)
    assert len(product["adam · stochastic"][1]["x_std"]) == 1000  # R = 10: the bands are logged
