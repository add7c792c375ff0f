"""The project's Optuna sweeper (issue 25, `hydra_plugins/breaking_adam_optuna/`): the search space
from Hydra's override syntax, samplers by name, studies in `optuna.db` beside `mlflow.db` that a
second command continues, trials asked `n_jobs` at a time and launched as one batch, and bad
bounds refused with one line before anything is stored. Real processes into temp SQLite stores."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from src.search.optuna_space import (
    SearchSpaceError,
    distribution,
    make_sampler,
    plan,
    storage_url,
)
from src.search.optuna_studies import objective_value, trial_overrides
from tests.conftest import run_main

QUICK = ("steps=3000", "log.points=20", "log.figures=false")


def test_the_override_syntax_gives_optuna_distributions() -> None:
    assert distribution("fn.C", "tag(log, interval(1, 100000))") == FloatDistribution(
        1.0, 100000.0, log=True
    )
    assert distribution("fn.period", "tag(log, int(interval(2, 5000)))") == IntDistribution(
        2, 5000, log=True
    )
    assert distribution("fn.period", "range(2, 10, 2)") == IntDistribution(2, 8, step=2)
    assert distribution("fn", "choice(periodic, bernoulli)") == CategoricalDistribution(
        ["periodic", "bernoulli"]
    )
    assert distribution("fn.C", "5") is None  # a fixed value


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("tag(log, interval(-5, 100))", "log scale needs low > 0"),
        ("int(interval(0,0))", "empty"),
        ("interval(3, 1)", "empty"),
        ("range(5, 5)", "empty"),
    ],
)
def test_bad_bounds_are_one_line_naming_key_and_range(text: str, why: str) -> None:
    with pytest.raises(SearchSpaceError) as error:
        distribution("fn.C", text)
    assert str(error.value).startswith(f"fn.C={text}: ")
    assert why in str(error.value) and "\n" not in str(error.value)


def test_samplers_by_name_with_a_seed() -> None:
    assert isinstance(make_sampler("tpe", 0), optuna.samplers.TPESampler)
    assert isinstance(make_sampler("cmaes", 0), optuna.samplers.CmaEsSampler)
    assert isinstance(make_sampler("random", 0), optuna.samplers.RandomSampler)
    assert isinstance(make_sampler("gp", 0), optuna.samplers.GPSampler)
    first = [make_sampler("random", 3).sample_independent(None, None, "x", FloatDistribution(0, 1))]
    again = [make_sampler("random", 3).sample_independent(None, None, "x", FloatDistribution(0, 1))]
    assert first == again
    with pytest.raises(SearchSpaceError, match="hydra.sweeper.sampler.name='nope': must be one"):
        make_sampler("nope", 0)


def test_a_trial_gets_fixed_values_then_drawn_ones_and_its_family_s_own_keys() -> None:
    found = plan(
        {"optim": "adam", "fn": "choice(periodic, bernoulli)", "fn.C": "interval(1, 2)"},
        ["+search=atlas", "optim=adam,yogi", "steps=3000", "tracking.uri=sqlite:///x.db"],
        {"fn": {"periodic": {"fn.period": "int(interval(2, 9))"}}},
    )
    assert found.grid == {"optim": ["adam", "yogi"]}  # a plain list: one study per value
    assert found.named == ["optim=adam,yogi", "steps=3000"]  # not the store, not the preset
    study = optuna.create_study(sampler=make_sampler("random", 0))
    for _ in range(6):
        trial = study.ask()
        overrides = trial_overrides(trial, found, {"optim": "yogi"})
        assert overrides[:3] == ["+search=atlas", "steps=3000", "tracking.uri=sqlite:///x.db"]
        assert overrides[3] == "optim=yogi"
        drawn = dict(o.split("=", 1) for o in overrides[4:])
        assert ("fn.period" in drawn) == (drawn["fn"] == "periodic")


@pytest.mark.parametrize("returned", [None, "a JobFailure", float("nan")])
def test_a_job_without_a_number_fails_its_trial(returned: object) -> None:
    assert objective_value(returned) is None
    assert objective_value(0.5) == 0.5


@pytest.mark.slow
def test_the_study_lives_beside_the_mlflow_store(tmp_path: Path) -> None:
    assert (
        storage_url("auto", f"sqlite:///{tmp_path}/mlflow.db") == f"sqlite:///{tmp_path}/optuna.db"
    )
    assert storage_url(None, f"sqlite:///{tmp_path}/mlflow.db") is None  # in memory
    assert storage_url("sqlite:////x/o.db", "sqlite:///y.db") == "sqlite:////x/o.db"
    pg = storage_url("auto", "postgresql://u@db.example:5432/mlflow")
    assert pg == "postgresql://u@db.example:5432/mlflow_optuna"  # same server, own database


@pytest.fixture(scope="module")
def resumed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    """`+search=break_adam hydra.sweeper.n_trials=4` twice into one SQLite store (trials asked
    two at a time: two batches, the fewest that show batching): the folder and the two
    processes."""
    tmp = tmp_path_factory.mktemp("resumed")
    procs = [
        run_main(
            "-m",
            "+search=break_adam",
            "hydra.sweeper.n_trials=4",
            "hydra.sweeper.n_jobs=2",
            *QUICK,
            f"hydra.sweep.dir={tmp}/{name}",
            f"tracking.uri=sqlite:///{tmp}/mlflow.db",
        )
        for name in ("first", "second")
    ]
    return tmp, procs


@pytest.mark.slow
def test_running_the_command_again_continues_the_study(resumed: tuple[Path, list]) -> None:
    tmp, _ = resumed
    storage = f"sqlite:///{tmp}/optuna.db"
    (summary,) = optuna.get_all_study_summaries(storage)
    assert (
        summary.study_name
        == "break_adam · fn.C × fn.period × fn.scale · steps=3000 log.points=20 log.figures=false"
    )
    study = optuna.load_study(study_name=summary.study_name, storage=storage)
    assert [t.number for t in study.trials] == list(range(8))
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    assert set(study.trials[0].params) == {"fn.C", "fn.period", "fn.scale"}
    client = MlflowClient(f"sqlite:///{tmp}/mlflow.db")
    experiment = client.get_experiment_by_name("search-break_adam").experiment_id
    parents = sorted(
        client.search_runs([experiment], "tags.role = 'sweep'"), key=lambda r: r.info.start_time
    )
    assert [p.data.params["optuna.study"] for p in parents] == [summary.study_name] * 2
    assert [p.data.metrics["optuna.trials_added"] for p in parents] == [4, 4]
    assert [p.data.metrics["optuna.trials_total"] for p in parents] == [4, 8]
    assert parents[0].data.params["optuna.storage"] == storage
    # the second search's MLflow trials are the study's trials 4..7
    trials = client.search_runs(
        [experiment],
        f"tags.mlflow.parentRunId = '{parents[1].info.run_id}' and tags.`search.role` = 'trial'",
    )
    seen = sorted(float(r.data.params["fn.C"]) for r in trials)
    assert seen == pytest.approx(sorted(t.params["fn.C"] for t in study.trials[4:]), rel=1e-6)


@pytest.mark.slow
def test_trials_are_launched_n_jobs_at_a_time(resumed: tuple[Path, list]) -> None:
    _, procs = resumed
    for proc in procs:  # Hydra's basic launcher logs each batch it is given
        batches = [line for line in proc.stdout.splitlines() if "Launching" in line]
        assert len(batches) == 2 and all("Launching 2 jobs locally" in b for b in batches)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("override", "key", "shown"),
    [
        ("fn.C=tag(log, interval(-5, 100))", "fn.C", "tag(log, interval(-5, 100))"),
        ("fn.period=int(interval(0,0))", "fn.period", "int(interval(0,0))"),
        ("fn.period=int(interval(0, 9))", "fn.period", "int(interval(0, 9)): at 0: fn.period=0"),
    ],
)
def test_bad_bounds_exit_2_with_one_line_and_store_nothing(
    tmp_path: Path, override: str, key: str, shown: str
) -> None:
    proc = run_main(
        "-m",
        "+search=break_adam",
        override,
        f"hydra.sweep.dir={tmp_path}/multirun",
        f"tracking.uri=sqlite:///{tmp_path}/mlflow.db",
        check=False,
        seeded_store=False,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"error: {key}={shown}: "), lines[0]
    assert not (tmp_path / "mlflow.db").exists()
    assert not (tmp_path / "optuna.db").exists()
