"""A copied or moved `mlflow.db` keeps writing artifacts to the old folder: MLflow stores the
experiment's artifact location as an absolute path. The sweep, `make ui`'s URL printer and the
report each say so in one line on stderr; the original store says nothing."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

import pytest
from mlflow.tracking import MlflowClient

from src import PROJECT_ROOT
from tests.conftest import run_main

WARNING = "warning: the store "


def sweep(folder: Path) -> subprocess.CompletedProcess:
    """A one-job sweep into `folder/mlflow.db`, without its run figure or report (the warning is
    said when the sweep opens the store, before either; the report's own is `python -m
    src.report`'s, run apart below)."""
    return run_main(
        "-m",
        "optim=amsgrad",
        "fn=online",
        "steps=2000",
        "log.points=20",
        "log.figures=false",
        "log.report=false",
        f"hydra.sweep.dir={folder}/multirun",
        f"tracking.uri=sqlite:///{folder}/mlflow.db",
    )


def run_module(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )


def warnings(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(WARNING)]


@pytest.mark.slow
def test_a_copied_store_warns_that_its_artifacts_stay_in_the_old_folder(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    new.mkdir()
    first = sweep(old)
    assert warnings(first.stderr + first.stdout) == []
    shutil.copy(old / "mlflow.db", new / "mlflow.db")

    second = sweep(new)
    lines = warnings(second.stderr)
    assert len(lines) == 1, second.stderr  # one line for the sweep, not one per job
    assert str(new / "mlflow.db") in lines[0] and str(old / "mlruns") in lines[0]
    client = MlflowClient(f"sqlite:///{new}/mlflow.db")
    runs = client.search_runs(
        [client.get_experiment_by_name("breaking-adam").experiment_id],
        order_by=["attributes.start_time DESC"],
    )
    latest = next(run for run in runs if run.data.tags.get("role") != "sweep")
    written = Path(url2pathname(urlsplit(latest.info.artifact_uri).path))
    assert written.is_relative_to(old / "mlruns")
    assert (written / "trajectory.npz").is_file()  # what the warning says: the old folder
    assert not (new / "mlruns").exists()

    uri = f"sqlite:///{new}/mlflow.db"
    ui = run_module("src.tracking.ui_url", "--store", uri, "--port", "5999")
    assert len(warnings(ui.stderr)) == 1 and "the runs: " in ui.stdout
    report = run_module("src.report", "--tracking-uri", uri, "--out", str(tmp_path / "reports"))
    assert len(warnings(report.stderr)) == 1

    in_place = run_module("src.tracking.ui_url", "--store", f"sqlite:///{old}/mlflow.db")
    assert warnings(in_place.stderr) == []


@pytest.mark.slow
@pytest.mark.parametrize("linked", ["mlflow.db", "mlruns"])
def test_a_symlinked_store_or_artifact_folder_is_no_moved_store(
    linked: str, tmp_path: Path
) -> None:
    """Issue 27: a store whose mlflow.db (or mlruns/) is a symlink into another folder is where it
    says it is: no "moved store" warning, in the first sweep or the next."""
    real, here = tmp_path / "real", tmp_path / "here"
    real.mkdir()
    here.mkdir()
    if linked == "mlflow.db":
        (real / "mlflow.db").touch()
    else:
        (real / "mlruns").mkdir()
    (here / linked).symlink_to(real / linked)
    for _ in range(2):
        done = sweep(here)
        assert warnings(done.stderr + done.stdout) == [], done.stderr
