"""Counterexample search (issue 15): the scale-free finals, and a small Optuna search end to end
(a subprocess into a temp SQLite store: parent, trials, reference runs, best tag, history)."""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from mlflow.tracking import MlflowClient

from src.engines import fast, torch_loop
from src.engines.spec import RunSpec
from src.problems.functions import Bernoulli, NoisyQuadratic, Periodic
from src.problems.projections import Box
from src.problems.regret import best_fixed_loss, best_fixed_point
from src.search.objective import objective_of
from tests.conftest import run_main


def test_best_fixed_point_is_the_brute_force_argmin() -> None:
    rng = np.random.default_rng(0)
    A = rng.normal(size=200) * 10
    B = np.where(rng.random(200) < 0.5, 0.0, rng.random(200) * 5)
    grid = np.linspace(-1, 1, 20001)
    brute = grid[np.argmin(A[:, None] * grid + 0.5 * B[:, None] * grid**2, axis=1)]
    best = best_fixed_point(A, B, -1.0, 1.0)
    np.testing.assert_allclose(best, brute, atol=1e-4)
    np.testing.assert_allclose(A * best + 0.5 * B * best**2, best_fixed_loss(A, B, -1.0, 1.0))


def test_best_fixed_point_of_a_zero_sum_is_the_middle_of_F() -> None:
    assert best_fixed_point(np.zeros(1), np.zeros(1), -1.0, 3.0)[0] == 1.0


def test_the_gradient_scale_is_the_largest_slope_on_F() -> None:
    """G of `final_avg_regret_norm`: the largest |a_t + b_t·x| on F (8σ for Gaussian noise)."""
    assert Periodic(scale=10, C=101, period=101).gradient_bound(-1, 1) == 1010
    assert Periodic(scale=2, C=0.5, period=3).gradient_bound(-1, 1) == 2  # the −1 steps dominate
    assert Bernoulli(scale=1, C=101, p=0.01).gradient_bound(-1, 1) == 101
    assert NoisyQuadratic(curvature=2, center=-0.5, noise=1).gradient_bound(-1, 1) == 2 * 9.5


@pytest.mark.slow
@pytest.mark.parametrize("engine", [torch_loop.run, fast.run])
def test_theorem1_scale_free_finals_on_both_engines(engine) -> None:
    """Theorem 1's problem (C = 3, period 3, β₁ = 0, β₂ = 1/(1+C²) = 0.1): Adam goes to +1 while
    x* = −1, so final_distance = 1; AMSGrad ends at x* (distance 0). 3,000 steps, T ≡ 0 mod 3 as
    30,000 was: both have settled by then (final_distance 1 and 0.0035, as at 30,000 steps)."""
    spec = RunSpec(Periodic(1.0, 3.0, 3), Box(-1, 1), 3_000, 1, 0, 0.0, torch.float64, 10)
    adam = partial(torch.optim.Adam, lr=0.01, betas=(0.0, 0.1), eps=1e-8)
    ams = partial(torch.optim.Adam, lr=0.01, betas=(0.0, 0.1), eps=1e-8, amsgrad=True)
    broken, converged = engine(spec, adam), engine(spec, ams)
    assert broken.best_x.tolist() == [-1.0] and broken.scales == (2.0, 3.0)
    finals = broken.scale_free()
    assert finals["final_distance"] == pytest.approx(1.0, abs=1e-6)
    # (R_T/T) / G with G = C = 3: R_T/T ≤ G·diam(F) for any algorithm on a linear problem
    assert 0 < finals["final_avg_regret_norm"] <= 2
    assert converged.scale_free()["final_distance"] < 0.01


def test_the_worst_coordinate_objective_of_a_1d_run_is_its_final_distance() -> None:
    spec = RunSpec(Periodic(1.0, 3.0, 3), Box(-1, 1), 3000, 1, 0, 0.0, torch.float64, 10)
    result = fast.run(spec, partial(torch.optim.Adam, lr=0.01, betas=(0.0, 0.1)))
    finals = result.finals()
    assert "final_distance_max" not in finals
    assert objective_of(result, "final_distance_max") == finals["final_distance"] > 0


def test_both_engines_give_the_same_best_point() -> None:
    spec = RunSpec(Bernoulli(1.0, 20.0, 0.06), Box(-1, 1), 5000, 3, 7, 0.0, torch.float32, 10)
    adam = partial(torch.optim.Adam, lr=0.001, betas=(0.9, 0.99))
    a, b = torch_loop.run(spec, adam), fast.run(spec, adam)
    assert a.best_x.tolist() == b.best_x.tolist()
    assert a.scale_free() == b.scale_free()


@pytest.fixture(scope="module")
def searches(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """`+search=break_adam hydra.sweeper.n_trials=3`, the preset as shipped (T = 10⁶, seed 0) cut
    to its first 3 trials, run twice, each into a fresh store (in one, the second would continue
    the first's study: tests/search/test_optuna_sweeper): the two stores' tracking URIs. What
    each printed is `output.txt` beside its store."""
    tmp = tmp_path_factory.mktemp("searches")
    uris = []
    for name in ("first", "second"):
        (tmp / f"{name}-store").mkdir()
        uri = f"sqlite:///{tmp}/{name}-store/mlflow.db"
        proc = run_main(
            "-m",
            "+search=break_adam",
            "hydra.sweeper.n_trials=3",
            f"hydra.sweep.dir={tmp}/{name}",
            f"tracking.uri={uri}",
        )
        (tmp / f"{name}-store" / "output.txt").write_text(proc.stdout + proc.stderr)
        uris.append(uri)
    return uris


@pytest.mark.slow
def test_a_searchs_progress_counts_its_trials_not_their_reference_runs(
    searches: list[str],
) -> None:
    """Each trial runs its reference (AMSGrad on the same problem) as a second child run: the
    progress says 1/3, 2/3, 3/3 jobs done, never more jobs than the search has."""
    for uri in searches:
        output = (Path(uri.removeprefix("sqlite:///")).parent / "output.txt").read_text()
        done = re.findall(r"sweep: (\d+)/(\d+) jobs done", output)
        assert done == [("1", "3"), ("2", "3"), ("3", "3")], done


@pytest.mark.slow
def test_a_small_search_is_tracked_and_reproducible(searches: list[str]) -> None:
    problems = []
    for uri in searches:
        client = MlflowClient(uri)
        experiment = client.get_experiment_by_name("search-break_adam").experiment_id
        runs = client.search_runs([experiment], max_results=1000)
        (parent,) = (r for r in runs if r.data.tags.get("role") == "sweep")
        assert parent.info.status == "FINISHED"
        children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
        trials = [r for r in children if r.data.tags.get("search.role") == "trial"]
        references = [r for r in children if r.data.tags.get("search.role") == "reference"]
        assert len(trials) == 3 and len(references) == 3
        for trial in trials:  # objective = Adam's final_distance − AMSGrad's on the same problem
            ref = client.get_run(trial.data.tags["search.reference_run"])
            assert ref.data.params["optim.amsgrad"] == "True"
            assert trial.data.params["optim.amsgrad"] == "False"
            assert {k: ref.data.params[k] for k in ("fn.C", "fn.period", "fn.scale")} == {
                k: trial.data.params[k] for k in ("fn.C", "fn.period", "fn.scale")
            }
            assert trial.data.metrics["search_objective"] == pytest.approx(
                trial.data.metrics["final_distance"] - ref.data.metrics["final_distance"]
            )
        best = [r for r in trials if r.data.tags.get("best_trial") == "true"]
        assert len(best) == 1
        assert best[0].data.metrics["search_objective"] == max(
            r.data.metrics["search_objective"] for r in trials
        )
        assert parent.data.metrics["best_objective"] == best[0].data.metrics["search_objective"]
        assert parent.data.params["best.run_id"] == best[0].info.run_id
        assert parent.data.params["best.fn.C"] == best[0].data.params["fn.C"]
        files = {a.path for a in client.list_artifacts(parent.info.run_id, "search")}
        assert files == {"search/history.png", "search/trials.csv", "search/best_problem.png"}
        problems.append(sorted(r.data.params["fn.C"] for r in trials))
    assert problems[0] == problems[1]  # the same seed, the same trials


@pytest.mark.slow
def test_an_unknown_objective_is_one_line_and_leaves_no_store(tmp_path: Path) -> None:
    proc = run_main(
        "-m",
        "+search=break_adam",
        "search.objective=speed",
        f"hydra.sweep.dir={tmp_path}/multirun",
        f"tracking.uri=sqlite:///{tmp_path}/mlflow.db",
        check=False,
        seeded_store=False,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert (
        lines[-1]
        .strip()
        .endswith(
            "search.objective='speed': must be one of final_distance, final_distance_max, "
            "final_avg_regret_norm"
        )
    ), proc.stderr
    assert not (tmp_path / "mlflow.db").exists()


@pytest.mark.slow
def test_break_adam_finds_a_problem_adam_fails_and_amsgrad_solves(searches: list[str]) -> None:
    """The issue's bar on the preset as shipped (T = 10⁶, seed 0), cut to its first 3 trials:
    a trial where Adam's final_distance ≥ 0.9 while AMSGrad's on the same problem is < 0.1, and
    the parent says which."""
    client = MlflowClient(searches[0])
    experiment = client.get_experiment_by_name("search-break_adam").experiment_id
    (parent,) = client.search_runs([experiment], "tags.role = 'sweep'")
    assert parent.info.run_name.endswith("· fn.C × fn.period × fn.scale · 3 jobs")
    best = client.get_run(parent.data.params["best.run_id"])
    assert best.data.tags["best_trial"] == "true"
    reference = client.get_run(best.data.tags["search.reference_run"])
    assert best.data.metrics["final_distance"] >= 0.9
    assert reference.data.metrics["final_distance"] < 0.1
    assert reference.info.run_name.startswith("amsgrad · periodic · fn.C=")
    assert best.info.run_name == reference.info.run_name.replace("amsgrad", "adam", 1)
