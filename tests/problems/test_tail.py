"""The tail metrics: the mean and range of x over the last 10% of steps, from every step, equal
on both engines; on a periodic problem they tell what one final x hides."""

from __future__ import annotations

import numpy as np
import pytest

from src.problems.regret import tail_start
from tests.engines.test_fast import assert_equivalent, both_engines

STEPS = 100_000


@pytest.mark.slow
def test_adabound_ends_at_minus_one_but_its_tail_is_not_there() -> None:
    """AdaBound with the authors' defaults (final_lr 0.1) on the online problem: x_{T+1} = −1
    (the last step closes a cycle of 101), yet over the last 10,000 steps x swings between −1 and
    +1 and its mean is far from −1."""
    reference, fast = both_engines(
        "optim=adabound", "fn=online", f"steps={STEPS}", f"log.points={STEPS}", "dtype=float64"
    )
    assert_equivalent(reference, fast, "float64")
    finals = reference.finals()
    assert finals == {**fast.finals(), "steps_per_second": finals["steps_per_second"]}
    assert finals["final_x"] == -1.0
    assert finals["tail_x_min"] == -1.0 and finals["tail_x_max"] == 1.0
    assert finals["tail_x_mean"] > -0.5
    # from every step: the same as the mean over the fully logged trajectory's last 10%
    tail = reference.log_steps >= tail_start(STEPS)
    assert tail.sum() == STEPS // 10
    np.testing.assert_allclose(finals["tail_x_mean"], reference.x[tail].mean(), rtol=1e-12)


@pytest.mark.slow
def test_the_tail_is_every_step_not_the_log_grid() -> None:
    """With 10 logged points the tail metrics are still those of every step of the last 10%."""
    dense, _ = both_engines("optim=adabound", "fn=online", "steps=20000", "log.points=20000")
    sparse, fast = both_engines("optim=adabound", "fn=online", "steps=20000", "log.points=10")
    keys = ("tail_x_mean", "tail_x_min", "tail_x_max")
    assert [dense.finals()[k] for k in keys] == [sparse.finals()[k] for k in keys]
    assert [fast.finals()[k] for k in keys] == [sparse.finals()[k] for k in keys]


def test_adabound_small_composes_and_runs_alike_on_both_engines() -> None:
    reference, fast = both_engines(
        "optim=adabound_small", "fn=online", "steps=5000", "log.points=5000"
    )
    assert_equivalent(reference, fast, "float32")
