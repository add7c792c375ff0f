"""A new SQLite store is a copy of a cached, already migrated empty store (src.tracking.store).

MLflow migrates a new SQLite file through every schema revision (seconds); the first new store
keeps an empty copy in the user's cache and later new stores start from it. A store made so must
behave as one MLflow made: the project's experiment, MLflow's Default experiment, runs, metric
histories and artifacts readable back; an existing store is never replaced.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
from mlflow.tracking import MlflowClient

from src.tracking import store
from tests.conftest import chart_points, run_main

MIGRATING = "Creating initial MLflow database tables"  # MLflow's log line for a new schema
JOB = ("optim=amsgrad", "fn=online", "steps=2000", "log.points=50")


def run_job(tmp_path: Path, name: str, env: dict[str, str]) -> tuple[str, str]:
    """One job in its own process into `<tmp>/<name>/mlflow.db`: (its URI, its stderr)."""
    (tmp_path / name).mkdir()
    uri = f"sqlite:///{tmp_path}/{name}/mlflow.db"
    proc = run_main(*JOB, f"tracking.uri={uri}", f"hydra.run.dir={tmp_path}/{name}/out", env=env)
    return uri, proc.stderr


def test_a_second_new_store_is_copied_from_the_template_and_works(tmp_path: Path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "BREAKING_ADAM_STORE_TEMPLATE": "1"}
    first_uri, first = run_job(tmp_path, "first", env)
    assert MIGRATING in first  # the first new store is migrated by MLflow...
    template = tmp_path / "cache" / "breaking-adam"
    (kept,) = template.glob("mlflow-*-empty.db")  # ...and kept, empty
    with sqlite3.connect(kept) as db:
        assert db.execute("select count(*) from experiments").fetchone() == (0,)
        assert db.execute("select count(*) from runs").fetchone() == (0,)

    uri, second = run_job(tmp_path, "second", env)
    assert MIGRATING not in second  # copied: no migration ran

    client = MlflowClient(tracking_uri=uri)
    experiments = {e.name: e for e in client.search_experiments()}
    assert experiments["Default"].experiment_id == "0"
    made_by_mlflow = MlflowClient(tracking_uri=first_uri).get_experiment("0")
    assert experiments["Default"].artifact_location == made_by_mlflow.artifact_location
    project = experiments["breaking-adam"]
    assert project.artifact_location == (tmp_path / "second" / "mlruns").resolve().as_uri()
    (run,) = client.search_runs([project.experiment_id])
    assert run.info.status == "FINISHED"
    history = client.get_metric_history(run.info.run_id, "avg_regret")
    assert len(history) == chart_points("avg_regret", 50)
    files = {f.path for f in client.list_artifacts(run.info.run_id)}
    assert {"trajectory.npz", "trajectory.png", "config.yaml"} <= files
    arrays = np.load(client.download_artifacts(run.info.run_id, "trajectory.npz", str(tmp_path)))
    assert arrays["x"].shape[0] == 50
    assert run.data.metrics["final_avg_regret"] > 0


def test_an_existing_store_is_never_replaced_by_the_template(tmp_path: Path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "BREAKING_ADAM_STORE_TEMPLATE": "1"}
    uri, _ = run_job(tmp_path, "first", env)
    run_main(*JOB, f"tracking.uri={uri}", f"hydra.run.dir={tmp_path}/again", env=env)
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("breaking-adam").experiment_id
    assert len(client.search_runs([experiment])) == 2


def test_no_template_is_kept_when_turned_off(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv(store.TEMPLATE_ENV, "0")
    client, experiment = store.connect(f"sqlite:///{tmp_path}/off.db", "off")
    assert client.get_experiment(experiment).name == "off"
    assert not (tmp_path / "cache").exists()


def test_a_damaged_template_is_not_copied_and_is_made_again(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv(store.TEMPLATE_ENV, "1")
    template = store.template_path()
    template.parent.mkdir(parents=True)
    template.write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)  # a truncated file
    client, experiment = store.connect(f"sqlite:///{tmp_path}/new.db", "fresh")
    run = client.create_run(experiment)
    client.log_metric(run.info.run_id, "x", 1.0, step=1)
    assert client.get_metric_history(run.info.run_id, "x")[0].value == 1.0
    with sqlite3.connect(template) as db:  # made again, from the new store
        assert db.execute("select count(*) from alembic_version").fetchone() == (1,)
