"""The `fn` group: coefficient streams, optima, and the exact best fixed point in hindsight."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from src.problems.functions import (
    Bernoulli,
    NoisyQuadratic,
    Periodic,
    RandomStreams,
    Theorem3,
    theorem3_probability,
)
from src.problems.regret import best_fixed_loss


def test_periodic_rare_steps_are_t_mod_period_equal_one() -> None:
    a = Periodic(scale=10, C=101, period=101).coefficients(1, 203, RandomStreams(0, 1)).a[:, 0]
    rare = [t for t in range(1, 204) if a[t - 1] == 1010.0]
    assert rare == [1, 102, 203]
    assert set(a.tolist()) == {1010.0, -10.0}
    # chunks continue the same sequence
    later = Periodic(scale=10, C=101, period=101).coefficients(102, 5, RandomStreams(0, 1)).a
    assert later[:, 0].tolist() == [1010.0, -10.0, -10.0, -10.0, -10.0]


def test_bernoulli_frequency_and_streams() -> None:
    fn = Bernoulli(scale=10, C=101, p=0.01)
    a = fn.coefficients(1, 200_000, RandomStreams(3, 2)).a
    frequency = (a == 1010.0).double().mean(0)
    assert torch.all((frequency - 0.01).abs() < 0.001)
    assert not torch.equal(a[:, 0], a[:, 1])  # each replicate its own stream


def test_theorem3_probability_makes_the_expected_loss_delta_x() -> None:
    C, delta = 101.0, 0.02
    p = theorem3_probability(C, delta)
    assert p * C - (1 - p) == pytest.approx(delta)
    assert Theorem3(C=C, delta=delta).p == pytest.approx(p)


@pytest.mark.parametrize(
    ("fn", "optimum"),
    [
        (Periodic(10, 101, 101), -1.0),
        (Periodic(1, 3, 3), -1.0),
        (Periodic(1, 1, 3), 1.0),
        (Bernoulli(10, 101, 0.01), -1.0),
        (Bernoulli(1, 101, 0.001), 1.0),
        (Theorem3(1, 101, 0.02), -1.0),
        (NoisyQuadratic(1, -0.5, 1), -0.5),
        (NoisyQuadratic(1, 3.0, 1), 1.0),
    ],
)
def test_expected_optimum(fn, optimum: float) -> None:
    assert fn.expected_optimum(-1.0, 1.0) == optimum


def test_best_fixed_loss_matches_a_grid_search() -> None:
    """min over [−1, 1] of A·x + (B/2)·x², against a dense grid, for linear and quadratic sums."""
    grid = torch.linspace(-1, 1, 200_001, dtype=torch.float64)
    for A, B in [(3.0, 0.0), (-2.0, 0.0), (0.0, 0.0), (0.4, 1.0), (-5.0, 2.0), (7.0, 1.0)]:
        exact = float(best_fixed_loss(A, B, -1.0, 1.0))
        assert exact == pytest.approx((A * grid + 0.5 * B * grid**2).min().item(), abs=1e-8)


def test_noisy_quadratic_gradient_depends_on_x() -> None:
    coeffs = NoisyQuadratic(curvature=2.0, center=-0.5, noise=0.0).coefficients(
        1, 3, RandomStreams(0, 1)
    )
    x = np.array([0.3])
    gradient = coeffs.a[0].numpy() + coeffs.b[0].numpy() * x  # a + b·x
    assert gradient == pytest.approx(2.0 * (0.3 - (-0.5)))
