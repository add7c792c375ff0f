"""The fast engine against the reference torch.optim loop: the equivalence contract.

For every optimizer the fast engine supports (found from conf/, so a new option is covered the day
it is added) × both dtypes: |x_fast − x_torch| ≤ 1e-6 in float32 and ≤ 1e-12 in float64 at every
step of the first 100,000 (past one chunk of 65,536, and past t ≈ 74,000 where β₂ᵗ = 0.99ᵗ
underflows to 0 in float64), and R_t/t equal to the bit (both engines add the float64 sums in the
same order). test_fast_matrix.py holds the same contract over every kind of fn and projection,
past a chunk on each kind of fn, and for the schedules. (x agrees bit for bit in practice; the
tolerances are the contract.)
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from src.build import build_spec, optimizer_factory, run_engine
from src.engines import fast as fast_engine
from src.engines import torch_loop
from tests.conftest import make_cfg, options

STEPS = 100_000  # past a chunk and past 0.99ᵗ's underflow: every optimizer, both dtypes
TOLERANCE = {"float32": 1e-6, "float64": 1e-12}  # the contract; in fact bit-exact


@functools.cache  # collected twice: each composition once
def supported_optims() -> list[str]:
    return [
        name
        for name in options("optim")
        if fast_engine.unsupported(*plain(make_cfg(f"optim={name}"))) is None
    ]


def plain(cfg) -> tuple:
    """What both engines take: the spec, the optimizer factory and the schedule's name."""
    return build_spec(cfg), optimizer_factory(cfg), str(cfg.schedule.name)


def both_engines(*overrides: str) -> tuple:
    args = plain(make_cfg(*overrides))
    assert fast_engine.unsupported(*args) is None
    return torch_loop.run(*args), fast_engine.run(*args)


def assert_equivalent(reference, fast, dtype: str) -> None:
    tol = TOLERANCE[dtype]
    np.testing.assert_array_equal(reference.log_steps, fast.log_steps)
    np.testing.assert_allclose(fast.x, reference.x, rtol=0, atol=tol)
    for edge in ("x_min", "x_max"):  # each logging window's envelope
        np.testing.assert_allclose(getattr(fast, edge), getattr(reference, edge), rtol=0, atol=tol)
    # both engines add the float64 regret sums in the same order: equal to the bit
    np.testing.assert_array_equal(fast.avg_regret, reference.avg_regret)
    assert reference.status == fast.status == "finished"


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("optim", supported_optims())
def test_every_step_of_the_first_100k_matches_torch(optim: str, dtype: str) -> None:
    reference, fast = both_engines(
        f"optim={optim}",
        "fn=online",
        f"dtype={dtype}",
        f"steps={STEPS}",
        f"log.points={STEPS}",
        "replicates=2",
    )
    assert_equivalent(reference, fast, dtype)


FAST_DECLINES = {  # reference engine only (docs/ddim.md): d-dimensional fns, ball_weighted
    "fn": {"periodic_nd", "bernoulli_nd", "quadratic_nd"},
    "projection": {"ball_weighted"},
}


@pytest.mark.parametrize("group", list(FAST_DECLINES))
def test_the_fast_engine_declines_exactly_the_reference_only_options(group: str) -> None:
    """Every other fn and projection option runs on the fast engine (the test below)."""
    declined = {
        name
        for name in options(group)
        if fast_engine.unsupported(*plain(make_cfg(f"{group}={name}", "steps=10"))) is not None
    }
    assert declined == FAST_DECLINES[group]


def test_same_config_and_seed_draw_the_same_sequence_in_both_engines() -> None:
    reference, fast = both_engines(
        "fn=stochastic", "replicates=3", "seed=11", "steps=3000", "log.points=3000", "dtype=float64"
    )
    np.testing.assert_allclose(fast.x, reference.x, rtol=0, atol=1e-12)
    assert not np.allclose(fast.x[:, 0], fast.x[:, 1])


def test_auto_picks_fast_and_falls_back_to_torch() -> None:
    cfg = make_cfg("steps=100", "log.points=10")
    assert run_engine(cfg, build_spec(cfg), None)[0] == "fast"
    cfg = make_cfg(
        "steps=100",
        "log.points=10",
        "optim._target_=torch.optim.ASGD",
        "~optim.betas",
        "~optim.amsgrad",
        "~optim.eps",
    )
    assert run_engine(cfg, build_spec(cfg), None)[0] == "torch"
    cfg = make_cfg("steps=100", "log.points=10", "engine=torch")
    assert run_engine(cfg, build_spec(cfg), None)[0] == "torch"


@pytest.mark.parametrize("optim", ["amsgrad_paper", "adamnc", "adamx"])
def test_an_underflowed_second_moment_gives_the_reference_engines_steps(optim: str) -> None:
    """Gradients ~1e-29 in float32 (fn.scale = 1e-31): g² underflows to 0, so the float32 v̂ is 0
    under m ≠ 0. The paper-exact optimizers then take the formula's step from their float64 v̂
    (src/optimizers/amsgrad_paper.py, adamnc.py); the fast engine's state cannot, so it hands the
    job to the reference engine, and the job's numbers are the reference's, moving x as the
    formula does."""
    tiny = (f"optim={optim}", "fn.scale=1e-31", "steps=3000", "log.points=3000")
    args = plain(make_cfg(*tiny))
    reference, fast = torch_loop.run(*args), fast_engine.run(*args)
    assert fast.info["engine"] == "torch" and "reference engine ran" in fast.info["fallback"]
    np.testing.assert_array_equal(fast.x, reference.x)
    np.testing.assert_array_equal(fast.avg_regret, reference.avg_regret)
    # the formula's steps: as in float64, where g² ~ 1e-58 does not underflow (scale-free steps)
    wide = torch_loop.run(*plain(make_cfg(*tiny, "dtype=float64")))
    assert reference.status == "finished" and np.abs(reference.x).max() > 1e-3
    np.testing.assert_allclose(reference.x, wide.x, rtol=0, atol=1e-5)


@pytest.mark.parametrize("optim", ["amsgrad_paper", "adamnc", "adamx"])
def test_a_true_divergence_of_a_paper_optimizer_stays_on_the_fast_engine(optim: str) -> None:
    """x overflows float32 (lr = 1e38, no projection): a divergence, not an underflowed v̂, so
    the fast engine reports it itself, at the reference engine's step, without re-running the
    job on the reference engine (minutes for millions of steps)."""
    huge = (f"optim={optim}", "optim.lr=1e38", "projection=none", "steps=3000", "log.points=3000")
    args = plain(make_cfg(*huge))
    reference, fast = torch_loop.run(*args), fast_engine.run(*args)
    assert reference.status == fast.status == "diverged"
    assert "engine" not in fast.info and fast.steps_done == reference.steps_done
    assert fast.reason == reference.reason
    np.testing.assert_array_equal(fast.x, reference.x)
