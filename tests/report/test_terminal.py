"""What the terminal says (issue 13): a run's result table and where to look, a sweep's progress
with an ETA and its table read back from the store, the same lines in Hydra's main.log files."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from src.report.terminal import COLUMNS, result_table
from tests.conftest import run_main


def test_the_table_aligns_its_columns() -> None:
    table = result_table([("adam · online", "FINISHED", "0.9955", "0.2194", "abc")]).splitlines()
    assert table[0].split() == ["run", "status", "final", "x", "R_T/T", "run", "id"]
    assert table[1].index("FINISHED") == table[0].index("status") and len(COLUMNS) == 5


@pytest.mark.slow
def test_a_run_ends_with_its_row_in_the_terminal_and_in_main_log(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    proc = run_main(
        "optim=amsgrad", "steps=20000", f"tracking.uri={uri}", f"hydra.run.dir={tmp_path}/run"
    )
    (run,) = MlflowClient(uri).search_runs(
        [MlflowClient(uri).get_experiment_by_name("breaking-adam").experiment_id]
    )
    shown = proc.stdout + proc.stderr
    line = next(row for row in shown.splitlines() if row.startswith("amsgrad · online"))
    assert line.split()[3:] == [
        "FINISHED",
        f"{run.data.metrics['final_x']:.4g}",
        f"{run.data.metrics['final_avg_regret']:.4g}",
        run.info.run_id,
    ]
    assert "?workflowType=machine_learning" in shown and "make ui" in shown
    assert line in (tmp_path / "run" / "main.log").read_text()


@pytest.mark.slow
def test_a_sweep_shows_progress_then_every_job_from_the_store(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    proc = run_main(
        "-m", "optim=adam,amsgrad", "fn=online", "steps=20000",
        f"tracking.uri={uri}", f"hydra.sweep.dir={tmp_path}/sweep",
    )  # fmt: skip
    shown = proc.stdout + proc.stderr
    assert "sweep: 1/2 jobs done" in shown and "sweep: 2/2 jobs done" in shown
    assert "about 0:00:00 left" in shown
    assert "Downloading artifacts" not in shown  # no MLflow progress bar while the report reads
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("breaking-adam").experiment_id
    children = [r for r in client.search_runs([experiment]) if r.data.tags.get("job")]
    table = (tmp_path / "sweep" / "results.txt").read_text()
    for run in children:
        row = next(line for line in table.splitlines() if run.info.run_id in line)
        assert row.startswith(run.info.run_name) and "FINISHED" in row
        assert row in shown
    assert [line.split(" · ")[0] for line in table.splitlines()[1:]] == ["adam", "amsgrad"]
    assert f"python -m src.report --parent {children[0].data.tags['mlflow.parentRunId']}" in shown
    job_log = (tmp_path / "sweep" / "0" / "main.log").read_text()
    assert "job done: adam · online · FINISHED" in job_log
