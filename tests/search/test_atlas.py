"""The atlas (issue 25, `+search=atlas`, src/search/atlas.py): one study per optimizer over the
periodic and bernoulli families (their own keys drawn only for them), with one row per optimizer in
atlas.csv on the sweep's parent. One real sweep into a temp SQLite store, shared by the tests."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import run_main


@pytest.fixture(scope="module")
def atlas_sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    tmp = tmp_path_factory.mktemp("atlas")
    proc = run_main(
        "-m",
        "+search=atlas",
        "optim=adam,amsgrad",
        "hydra.sweeper.n_trials=3",
        "steps=3000",
        "log.points=20",
        f"hydra.sweep.dir={tmp}/multirun",
        f"tracking.uri=sqlite:///{tmp}/mlflow.db",
    )
    return tmp, proc


def _parent(tmp: Path) -> tuple[MlflowClient, object]:
    client = MlflowClient(f"sqlite:///{tmp}/mlflow.db")
    experiment = client.get_experiment_by_name("search-atlas").experiment_id
    (parent,) = client.search_runs([experiment], "tags.role = 'sweep'")
    return client, parent


@pytest.mark.slow
def test_the_atlas_has_one_row_per_optimizer_on_the_parent(atlas_sweep) -> None:
    tmp, _ = atlas_sweep
    client, parent = _parent(tmp)
    assert parent.info.status == "FINISHED"
    files = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"atlas.csv", "atlas.md", "atlas.png"} <= files
    text = client.download_artifacts(parent.info.run_id, "atlas.csv", str(tmp))
    rows = list(csv.DictReader(io.StringIO(Path(text).read_text())))
    assert [r["optimizer"] for r in rows] == ["adam", "amsgrad"]
    for row in rows:
        assert row["trials"] == "3" and row["comparator"] == "amsgrad"
        assert row["problem"].split(" · ")[0] in ("periodic", "bernoulli")
        worst = client.get_run(row["run_id"])
        assert worst.data.tags["atlas_worst"] == "true"
        assert float(row["objective"]) == pytest.approx(
            float(row["final_distance"]) - float(row["comparator_final_distance"])
        )
    assert float(rows[1]["objective"]) == pytest.approx(0.0, abs=1e-9)  # AMSGrad against itself


@pytest.mark.slow
def test_each_optimizer_is_its_own_study_with_the_same_budget(atlas_sweep) -> None:
    tmp, _ = atlas_sweep
    storage = f"sqlite:///{tmp}/optuna.db"
    summaries = optuna.get_all_study_summaries(storage)
    names = sorted(s.study_name for s in summaries)
    assert [n.split(" · ")[:2] for n in names] == [
        ["atlas", "optim=adam"],
        ["atlas", "optim=amsgrad"],
    ]
    for name in names:
        study = optuna.load_study(study_name=name, storage=storage)
        assert len(study.trials) == 3
        for trial in study.trials:  # a family's own key is drawn only for it
            own = {"periodic": "fn.period", "bernoulli": "fn.p"}[trial.params["fn"]]
            assert set(trial.params) == {"fn", "fn.C", "fn.scale", own}


@pytest.mark.slow
def test_a_run_is_named_by_its_own_family_s_keys(atlas_sweep) -> None:
    tmp, _ = atlas_sweep
    client, parent = _parent(tmp)
    experiment = parent.info.experiment_id
    runs = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    for run in runs:  # `adam · bernoulli · fn.C=… · fn.scale=… · fn.p=…`: no fn.period=?
        own = {"periodic": "fn.period=", "bernoulli": "fn.p="}[run.data.params["fn"]]
        assert own in run.info.run_name and "=?" not in run.info.run_name, run.info.run_name
