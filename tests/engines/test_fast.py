"""The fast engine against the reference torch.optim loop: the equivalence contract.

For every optimizer the fast engine supports (found from conf/, so a new option is covered the day
it is added) × both dtypes: |x_fast − x_torch| ≤ 1e-6 in float32 and ≤ 1e-12 in float64 at every
step of the first 100,000 (past one chunk of 65,536, and past t ≈ 74,000 where β₂ᵗ = 0.99ᵗ
underflows to 0 in float64), and R_t/t equal to the bit (both engines add the float64 sums in the
same order); and the same × every kind of fn (periodic, Bernoulli, x-dependent quadratic) × every
kind of projection (a box — `ball` is one in 1-D — or none) over the first 10,000 steps. Every fn
and projection *config* also runs on both engines for a few thousand steps. (x agrees bit for bit
in practice; the tolerances are the contract.)
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
MATRIX_STEPS = 10_000  # every optimizer × fn × projection × dtype
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


FN_KINDS = ["online", "stochastic", "noisy_quadratic"]  # Periodic, Bernoulli, NoisyQuadratic
PROJECTION_KINDS = ["box", "none"]


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


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("projection", PROJECTION_KINDS)
@pytest.mark.parametrize("fn", FN_KINDS)
@pytest.mark.parametrize("optim", supported_optims())
def test_every_step_matches_torch_on_every_kind_of_fn_and_projection(
    optim: str, fn: str, projection: str, dtype: str
) -> None:
    reference, fast = both_engines(
        f"optim={optim}",
        f"fn={fn}",
        f"projection={projection}",
        f"dtype={dtype}",
        f"steps={MATRIX_STEPS}",
        f"log.points={MATRIX_STEPS}",
        "replicates=2",
    )
    assert_equivalent(reference, fast, dtype)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("fn", FN_KINDS)
@pytest.mark.parametrize("optim", ["amsgrad_paper", "adam"])
def test_x_and_regret_are_bit_equal_past_one_chunk(optim: str, fn: str, dtype: str) -> None:
    """150,000 steps, past the reference engine's first chunk of 65,536: both engines add the
    losses, a_t and b_t in the same order, ((carry + ℓ₁) + ℓ₂) + …, so R_t/t is equal to the bit."""
    assert 150_000 > 2 * fast_engine.CHUNK
    reference, fast = both_engines(
        f"optim={optim}",
        f"fn={fn}",
        f"dtype={dtype}",
        "steps=150000",
        "log.points=1000",
        "replicates=2",
        "seed=4",
    )
    np.testing.assert_array_equal(reference.log_steps, fast.log_steps)
    assert np.array_equal(reference.x, fast.x)
    assert np.array_equal(reference.x_min, fast.x_min) and np.array_equal(
        reference.x_max, fast.x_max
    )
    assert np.array_equal(reference.avg_regret, fast.avg_regret)
    assert np.array_equal(reference.final_regret, fast.final_regret)


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


@pytest.mark.parametrize(
    "projection", [p for p in options("projection") if p not in FAST_DECLINES["projection"]]
)
@pytest.mark.parametrize("fn", [f for f in options("fn") if f not in FAST_DECLINES["fn"]])
def test_every_fn_and_projection_option_runs_alike_on_both_engines(
    fn: str, projection: str
) -> None:
    reference, fast = both_engines(
        f"fn={fn}",
        f"projection={projection}",
        "steps=3000",
        "log.points=3000",
        "replicates=2",
        "optim.lr=0.01",
    )
    assert_equivalent(reference, fast, "float32")


@pytest.mark.slow
@pytest.mark.parametrize("schedule", options("schedule"))
@pytest.mark.parametrize("optim", supported_optims())
def test_schedules_match_torch_lr_scheduler(optim: str, schedule: str) -> None:
    reference, fast = both_engines(
        f"optim={optim}", f"schedule={schedule}", "steps=5000", "log.points=5000", "fn=stochastic"
    )
    assert_equivalent(reference, fast, "float32")


@pytest.mark.slow
@pytest.mark.parametrize("fn", ["online", "stochastic"])
@pytest.mark.parametrize("optim", ["adam", "amsgrad"])
def test_300k_steps_end_in_the_same_place(optim: str, fn: str) -> None:
    """Past four chunks of 65,536 (the reference engine runs ~6,000 steps/s here: 300,000 steps
    show the long run; the 100,000-step tests show every step)."""
    reference, fast = both_engines(f"optim={optim}", f"fn={fn}", "steps=300000", "log.points=100")
    assert abs(fast.final_x[0] - reference.final_x[0]) <= 1e-3
    assert abs(fast.final_avg_regret[0] - reference.final_avg_regret[0]) <= 1e-3


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
