"""`src.config.jobs`: every job of a sweep composed before any runs (to check it), through Hydra's
public API; each job is then launched with its own config. Real sweeps."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from tests.conftest import run_main


@pytest.mark.slow
def test_each_job_of_a_sweep_is_launched_with_its_own_config(tmp_path: Path) -> None:
    uri, sweep = f"sqlite:///{tmp_path}/m.db", tmp_path / "m"
    args = ["-m", "optim=adam,amsgrad,yogi", "fn=online", "steps=3000", "log.figures=false"]
    args += ["log.report=false", f"tracking.uri={uri}", f"hydra.sweep.dir={sweep}"]
    run_main(*args)
    for number, optim in enumerate(["adam", "amsgrad", "yogi"]):  # each job its own copy
        hydra = yaml.safe_load((sweep / str(number) / ".hydra" / "hydra.yaml").read_text())
        assert hydra["hydra"]["job"]["num"] == number
        assert f"optim={optim}" in hydra["hydra"]["overrides"]["task"]
        assert hydra["hydra"]["sweep"]["dir"] == str(sweep)
        job = yaml.safe_load((sweep / str(number) / ".hydra" / "config.yaml").read_text())
        assert job["optim"]["_target_"].endswith("Yogi" if optim == "yogi" else "Adam")
        assert job["optim"].get("amsgrad", False) == (optim == "amsgrad")
    runs = MlflowClient(uri).search_runs(["1"], "attributes.status = 'FINISHED'")
    assert sorted(r.data.tags.get("job", "parent") for r in runs) == ["0", "1", "2", "parent"]
