"""What the terminal says (issue 13): a run's result table and where to look, a sweep's progress
with an ETA and its table read back from the store, the same lines in Hydra's main.log files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from src.report.terminal import COLUMNS, newly_ended, result_table, row
from src.tracking.store import PARENT_TAG
from tests.conftest import make_cfg, run_main, seed_store


def test_the_table_aligns_its_columns() -> None:
    table = result_table([("adam · online", "FINISHED", "0.9955", "0.2194", "abc")]).splitlines()
    assert table[0].split() == ["run", "status", "final", "x", "R_T/T", "run", "id"]
    assert table[1].index("FINISHED") == table[0].index("status") and len(COLUMNS) == 5


@pytest.fixture(scope="module")
def long_run(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """One run, output redirected (no tqdm bar): a 70,000-step job (two of the engine's
    65,536-step chunks: a line part-way, then the last) on the reference engine, a progress line
    at every chunk the engine reports (`log.progress_every_s=0`, so the count does not depend on
    the machine's speed). (tmp folder, completed process, store URI)"""
    tmp_path = tmp_path_factory.mktemp("long-run")
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    proc = run_main(
        "optim=amsgrad", "engine=torch", "steps=70000", "log.progress_every_s=0",
        "log.points=10", "log.figures=false", f"tracking.uri={uri}",
        f"hydra.run.dir={tmp_path}/run",
    )  # fmt: skip
    return tmp_path, proc, uri


def test_each_progress_line_reads_only_the_runs_ended_since_the_last(tmp_path: Path) -> None:
    """A sweep's progress line counts its ended children in the store: after the first line,
    each reads the runs that ended since (a sweep of n jobs reads n runs, not n²/2: 6 of a 60-job
    grid's 73 s were these reads). A real store: two ended jobs, a search's reference run (read,
    not counted by the line) and a job still running, which then ends."""
    client = MlflowClient(seed_store(tmp_path / "mlflow.db"))
    experiment = client.create_experiment("progress")
    parent = client.create_run(experiment).info.run_id

    def child(status: str, **tags: str) -> str:
        run = client.create_run(experiment, tags={PARENT_TAG: parent, **tags}).info.run_id
        if status != "RUNNING":
            client.set_terminated(run, status)
        return run

    done, failed = child("FINISHED"), child("FAILED")
    reference, running = child("FINISHED", **{"search.role": "reference"}), child("RUNNING")
    first = {r.info.run_id for r in newly_ended(client, experiment, parent, set())}
    assert first == {done, failed, reference}
    client.set_terminated(running, "KILLED")
    assert [r.info.run_id for r in newly_ended(client, experiment, parent, first)] == [running]
    assert newly_ended(client, experiment, parent, first | {running}) == []


@pytest.mark.slow
def test_a_run_ends_with_its_row_in_the_terminal_and_in_main_log(long_run: tuple) -> None:
    tmp_path, proc, uri = long_run
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


@pytest.mark.slow
def test_a_long_job_off_a_terminal_logs_its_progress_with_an_eta(long_run: tuple) -> None:
    """Issue 28: off a terminal, a long job logs a progress line with an ETA every
    `log.progress_every_s` seconds (10 by default; 0 in `long_run`: at every chunk)."""
    tmp_path, proc, _ = long_run
    lines = [line for line in proc.stdout.splitlines() if "progress: amsgrad · online: " in line]
    assert len(lines) >= 2, proc.stdout
    assert all("steps/s, about " in line and line.endswith(" left") for line in lines)
    assert "100% (70,000/70,000 steps)" in lines[-1]
    assert lines[0] in (tmp_path / "run" / "main.log").read_text()
    assert make_cfg().log.progress_every_s == 10  # the default: a line at most every 10 s


@pytest.mark.slow  # a joblib sweep: its pool's start (~10 s)
def test_a_parallel_sweep_counts_its_jobs_done_across_workers(tmp_path: Path) -> None:
    """Issue 28: under joblib each worker ends its jobs with its own copy of the callback; the
    jobs done are counted in the store, so the lines reach 4/4 (not `1/4` four times)."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    proc = run_main(
        "-m", "optim=adam,amsgrad", "fn=online,stochastic", "steps=2000", "log.points=10",
        "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
        f"tracking.uri={uri}", f"hydra.sweep.dir={tmp_path}/sweep",
    )  # fmt: skip
    done = re.findall(r"sweep: (\d)/4 jobs done", proc.stdout + proc.stderr)
    assert len(done) == 4 and max(done) == "4" and len(set(done)) >= 2, done


def test_a_ddim_runs_row_says_its_x_column_is_the_distance_not_a_coordinate() -> None:
    """A d-dimensional run has no single final x: the column shows its distance to the best
    point in hindsight, labelled, never ‖x‖ under the name 'final x'."""
    finals = {"final_x_0": 0.9, "final_x_1": -1.0, "final_x_norm": 1.35, "final_distance": 0.3}
    name, status, x, regret, run_id = row("adam · periodic_nd", "FINISHED", finals, "id")
    assert x == "‖x−x*‖/diam 0.3"
    assert row("adam · online", "FINISHED", {"final_x": 0.5}, "id")[2] == "0.5"
