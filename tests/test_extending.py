"""A user's own optimizer and problem, from their own folder (docs/extending.md, issue 24): the
documented example runs, its runs are named and tagged after what ran, its source is logged."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from src.bench_batched import user_example
from src.config.checks import problems
from tests.conftest import make_cfg, run_main

USER_ENV = "BREAKING_ADAM_USER_DIR"
SMALL = ("steps=300", "log.points=3", "log.figures=false", "log.report=false")


def write_example(folder: Path) -> Path:
    """Each block of docs/extending.md that starts with `# file: <path>`, written in `folder`
    (the bench's own writer, `src.bench_batched.user_example`: one reading of the docs)."""
    return user_example(folder)


def runs_by_name(uri: str) -> dict:
    client = MlflowClient(uri)
    experiments = client.search_experiments()
    runs = client.search_runs([e.experiment_id for e in experiments])
    return {r.info.run_name: r for r in runs if "mlflow.parentRunId" in r.data.tags}


@pytest.mark.slow
def test_the_documented_sweep_runs_ours_against_theirs_and_logs_their_source(
    tmp_path: Path,
) -> None:
    user = write_example(tmp_path / "mine")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run_main(
        "-m", "optim=adam,signsgd", "fn=online,burst", *SMALL,
        f"tracking.uri={uri}", f"hydra.sweep.dir={tmp_path / 'sweep'}",
        env={USER_ENV: str(user)},
    )  # fmt: skip
    runs = runs_by_name(uri)
    assert set(runs) == {"adam · online", "signsgd · online", "adam · burst", "signsgd · burst"}
    mine = runs["signsgd · online"]
    assert mine.data.tags["optimizer"] == "signsgd" and mine.data.params["optim"] == "signsgd"
    digest = hashlib.sha256((user / "signsgd.py").read_bytes()).hexdigest()
    assert mine.data.tags["source/signsgd.py"] == digest
    assert mine.data.tags["git_dirty"] == "true"  # signsgd.py is in no checkout
    for tag in ("python_version", "torch_version", "numba_version"):
        assert mine.data.tags[tag]
    listed = {a.path for a in MlflowClient(uri).list_artifacts(mine.info.run_id, "source")}
    assert listed == {"source/signsgd.py"}
    both = runs["signsgd · burst"]
    assert {k for k in both.data.tags if k.startswith("source/")} == {
        "source/signsgd.py",
        "source/burst.py",
    }
    ours = runs["adam · online"].data.tags
    assert not [k for k in ours if k.startswith("source/")]


@pytest.mark.slow
def test_a_run_whose_target_is_overridden_is_named_after_its_class(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run_main(
        "optim._target_=torch.optim.SGD", "~optim.betas", "~optim.eps", "~optim.amsgrad",
        *SMALL, f"tracking.uri={uri}", f"hydra.run.dir={tmp_path / 'run'}",
    )  # fmt: skip
    (run,) = MlflowClient(uri).search_runs(
        [e.experiment_id for e in MlflowClient(uri).search_experiments()]
    )
    assert run.info.run_name == "SGD · online"
    assert run.data.tags["optimizer"] == "SGD" and run.data.params["optim"] == "SGD"


@pytest.mark.slow
def test_a_missing_module_is_one_line_exit_2_and_nothing_stored(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    proc = run_main(
        "-m", "optim=adam", "fn=online", "optim._target_=signsgd.SignSGD", *SMALL,
        f"tracking.uri={uri}", f"hydra.sweep.dir={tmp_path / 'sweep'}",
        check=False, seeded_store=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "optim._target_='signsgd.SignSGD': cannot import it" in proc.stderr
    assert USER_ENV in proc.stderr
    assert not (tmp_path / "mlflow.db").exists()


def test_a_user_class_that_is_not_an_optimizer_is_refused(tmp_path: Path, monkeypatch) -> None:
    user = write_example(tmp_path / "mine")
    monkeypatch.syspath_prepend(str(user))  # the test's own process: the user's folder
    found = list(problems(make_cfg("optim._target_=burst.Burst")))
    assert found[0] == "optim._target_='burst.Burst': must name a torch.optim optimizer"


def test_a_problem_without_the_protocols_methods_is_refused(tmp_path: Path, monkeypatch) -> None:
    user = write_example(tmp_path / "mine")
    (user / "half.py").write_text(
        "from src.problems.functions import OnlineFunction\n\n"
        "class Half(OnlineFunction):\n"
        "    def coefficients(self, start, n, streams):\n"
        "        raise NotImplementedError\n"
    )
    monkeypatch.syspath_prepend(str(user))
    found = list(problems(make_cfg("fn._target_=half.Half", "~fn.scale", "~fn.C", "~fn.period")))
    assert found == [
        "fn._target_='half.Half': lacks expected_optimum of the problem protocol "
        "(docs/extending.md)"
    ]


def test_a_user_folder_that_is_not_there_is_refused(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(USER_ENV, str(tmp_path / "nowhere"))
    found = list(problems(make_cfg()))
    assert found == [f"{USER_ENV}='{tmp_path / 'nowhere'}': no such folder (docs/extending.md)"]
