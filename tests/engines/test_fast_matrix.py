"""The fast engine against the reference torch.optim loop, beyond test_fast.py's contract on the
online fn: the same tolerances over every kind of fn (periodic, Bernoulli, x-dependent quadratic) ×
every kind of projection (a box — `ball` is one in 1-D — or none) for the first 4,000 steps (about
40 periods of the online fn, 40 rare steps of the Bernoulli one), x and R_t/t equal to the bit past
the first chunk on the random fns, every fn and projection *config* for a few thousand steps, and
the schedules against torch's lr schedulers. (Its own file so that the test workers share the
equivalence tests: `make test` runs a file's tests on one worker.)"""

from __future__ import annotations

import numpy as np
import pytest

from src.problems.functions import CHUNK
from tests.conftest import options
from tests.engines.test_fast import (
    FAST_DECLINES,
    assert_equivalent,
    both_engines,
    supported_optims,
)

MATRIX_STEPS = 4_000  # every optimizer × fn × projection × dtype
FN_KINDS = ["online", "stochastic", "noisy_quadratic"]  # Periodic, Bernoulli, NoisyQuadratic
PROJECTION_KINDS = ["box", "none"]


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
@pytest.mark.parametrize("fn", ["stochastic", "noisy_quadratic"])  # online: test_fast.py
@pytest.mark.parametrize("optim", ["amsgrad_paper", "adam"])
def test_x_and_regret_are_bit_equal_past_one_chunk(optim: str, fn: str, dtype: str) -> None:
    """70,000 steps, past the first chunk of 65,536 (where coefficients and regret sums carry
    over): both engines add the losses, a_t and b_t in the same order, ((carry + ℓ₁) + ℓ₂) + …, so
    R_t/t is equal to the bit. The online fn does this at every step in test_fast.py."""
    assert CHUNK < 70_000
    reference, fast = both_engines(
        f"optim={optim}",
        f"fn={fn}",
        f"dtype={dtype}",
        "steps=70000",
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
