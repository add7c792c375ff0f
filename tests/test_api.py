"""The Python API (`src.api`, issue 24): the command line's overrides from a notebook."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from src import PROJECT_ROOT
from src.api import sweep
from src.config.checks import ConfigError
from tests.conftest import seed_store

SMALL = ("steps=50", "log.points=5", "log.figures=false", "log.report=false")


@pytest.mark.slow
def test_a_two_job_sweep_and_a_run_from_python_give_results_and_run_ids(tmp_path: Path) -> None:
    uri = seed_store(tmp_path / "mlflow.db")
    code = (
        "import json\n"
        "from src.api import run, sweep\n"
        f"out = sweep('optim=adam,amsgrad', 'fn=online', *{SMALL!r}, 'tracking.uri={uri}')\n"
        f"one = run('optim=sgd', *{SMALL!r}, 'tracking.uri={uri}')\n"
        "print(json.dumps({'parent': out.parent_run_id, 'jobs': [[j.name, j.run_id, "
        "j.result.finals()['final_avg_regret']] for j in out.jobs], 'one': [one.name, "
        "one.run_id, one.result.finals()['final_avg_regret']]}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert [name for name, _, _ in out["jobs"]] == ["adam · online", "amsgrad · online"]
    client = MlflowClient(uri)
    for name, run_id, regret in out["jobs"]:
        run = client.get_run(run_id)
        assert run.info.status == "FINISHED" and run.info.run_name == name
        assert run.data.tags["mlflow.parentRunId"] == out["parent"]
        assert run.data.metrics["final_avg_regret"] == regret
    assert client.get_run(out["parent"]).info.status == "FINISHED"
    name, run_id, regret = out["one"]
    alone = client.get_run(run_id)
    assert name == alone.info.run_name == "sgd · online"
    assert "mlflow.parentRunId" not in alone.data.tags
    assert alone.data.metrics["final_avg_regret"] == regret


def test_a_bad_value_raises_before_anything_is_stored(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with pytest.raises(ConfigError, match=r"optim.lr=-1.0: must be a number > 0"):
        sweep("optim=adam,amsgrad", "optim.lr=-1", *SMALL, f"tracking.uri={uri}")
    assert not (tmp_path / "mlflow.db").exists()
