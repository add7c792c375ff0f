"""The paper's weighted projection onto a ball, Π_{F,√V̂}(y) = argmin_{‖x‖≤r} ‖V̂^{1/4}(x − y)‖:
the clamp in 1-D, a hand-computed case in 2-D that the Euclidean projection misses, the Euclidean
projection when V̂ ∝ I, optimality against a brute-force search, and V̂ read from a real
optimizer's state."""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import pytest
import torch

from src.engines import reference
from src.engines.spec import RunSpec
from src.problems.functions import Periodic
from src.problems.projections import Ball, BallWeighted, weighted_ball_projection


def project(y: list[list[float]], v_hat: list[list[float]], radius: float) -> np.ndarray:
    """Π_{F,√V̂} of the rows of y: the weights of the squared norm are w = √V̂."""
    w = torch.tensor(v_hat, dtype=torch.float64).sqrt()
    return weighted_ball_projection(torch.tensor(y, dtype=torch.float64), w, radius).numpy()


def test_equals_the_clamp_in_one_dimension() -> None:
    """In 1-D, {x : |x| ≤ r} is [−r, r] and any positive weight gives the clamp."""
    rng = np.random.default_rng(0)
    y = rng.normal(scale=3.0, size=(200, 1))
    v_hat = rng.uniform(1e-8, 1e4, size=(200, 1))
    for radius in (0.5, 1.0, 2.0):
        got = project(y.tolist(), v_hat.tolist(), radius)
        assert np.array_equal(got, np.clip(y, -radius, radius))


def test_equals_the_clamp_in_a_one_dimensional_run() -> None:
    """projection=ball_weighted on a 1-D fn: the same run as projection=ball (the clamp), bit for
    bit, under Adam (whose V̂ it is bound to)."""
    adam = partial(torch.optim.Adam, lr=0.01, betas=(0.9, 0.99))
    runs = [
        reference.run(RunSpec(Periodic(), projection, steps=3000, log_points=50), adam)
        for projection in (Ball(1.0), BallWeighted(1.0))
    ]
    assert np.array_equal(runs[0].x, runs[1].x)
    assert np.array_equal(runs[0].avg_regret, runs[1].avg_regret)


def test_hand_computed_case_differs_from_euclidean() -> None:
    """y = (1.2, 1.2), V̂ = diag(1, 4) so w = √V̂ = (1, 2), r = 1.

    KKT of min Σ w_i (x_i − y_i)² s.t. ‖x‖² ≤ 1: w_i (x_i − y_i) + λ x_i = 0, so
    x_i = y_i·w_i/(w_i + λ). At λ = 1: x = (1.2·1/2, 1.2·2/3) = (0.6, 0.8), ‖x‖ = 1 exactly,
    and ‖x(λ)‖ decreases strictly in λ, so λ = 1 is the root and Π(y) = (0.6, 0.8).
    The Euclidean projection y/‖y‖ = (1/√2, 1/√2) ≈ (0.7071, 0.7071) is a different point, with
    a larger weighted distance: 1·0.6² + 2·0.4² = 0.68 < 3·(1.2 − 1/√2)² ≈ 0.7289."""
    got = project([[1.2, 1.2]], [[1.0, 4.0]], 1.0)[0]
    np.testing.assert_allclose(got, [0.6, 0.8], rtol=0, atol=1e-15)
    euclidean = np.array([1.2, 1.2]) / math.hypot(1.2, 1.2)
    assert abs(got - euclidean).max() > 0.1
    w = np.array([1.0, 2.0])
    assert w @ (got - 1.2) ** 2 == pytest.approx(0.68, abs=1e-14)
    assert w @ (euclidean - 1.2) ** 2 == pytest.approx(3 * (1.2 - 1 / math.sqrt(2)) ** 2)


def test_hand_computed_case_in_three_dimensions() -> None:
    """y = (2, 4/3, 1/2), V̂ = diag(1, 4, 16) so w = (1, 2, 4), r = 1. At λ = 2:
    x = (2·1/3, (4/3)·2/4, (1/2)·4/6) = (2/3, 2/3, 1/3), ‖x‖² = 4/9 + 4/9 + 1/9 = 1: the root.
    The Euclidean projection y/‖y‖ = (2, 4/3, 1/2)/√(4 + 16/9 + 1/4) ≈ (0.8, 0.533, 0.2)."""
    got = project([[2.0, 4.0 / 3.0, 0.5]], [[1.0, 4.0, 16.0]], 1.0)[0]
    np.testing.assert_allclose(got, [2 / 3, 2 / 3, 1 / 3], rtol=0, atol=1e-15)
    euclidean = np.array([2.0, 4.0 / 3.0, 0.5]) / math.sqrt(4 + 16 / 9 + 1 / 4)
    assert abs(got - euclidean).max() > 0.1


def test_multiple_of_identity_is_euclidean() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(scale=2.0, size=(100, 4))
    norms = np.linalg.norm(y, axis=1, keepdims=True)
    euclidean = np.where(norms > 1.5, y * 1.5 / norms, y)
    for c in (1e-6, 1.0, 37.0):
        got = project(y.tolist(), np.full_like(y, c).tolist(), 1.5)
        np.testing.assert_allclose(got, euclidean, rtol=0, atol=1e-14)


def test_minimises_the_weighted_distance_over_the_ball() -> None:
    """Against a brute-force search over a fine polar grid of the unit disc (2-D)."""
    rng = np.random.default_rng(2)
    radius_grid, angle_grid = np.meshgrid(
        np.sqrt(np.linspace(0, 1, 1201)), np.linspace(0, 2 * np.pi, 2401)
    )
    disc = np.stack([radius_grid * np.cos(angle_grid), radius_grid * np.sin(angle_grid)], -1)
    for _ in range(5):
        y = rng.normal(scale=2.0, size=2)
        v_hat = rng.uniform(0.01, 100.0, size=2)
        w = np.sqrt(v_hat)
        got = project([y.tolist()], [v_hat.tolist()], 1.0)[0]
        assert np.linalg.norm(got) <= 1.0 + 1e-15
        ours = w @ (got - y) ** 2
        brute = ((disc - y) ** 2 @ w).min()
        assert ours <= brute + 1e-12
        assert ours == pytest.approx(brute, rel=1e-5)


def test_reads_the_second_moment_from_the_optimizer_state() -> None:
    """AMSGrad after one step with g = (1, 2): v = v̂ = (1 − β₂)·g² = 0.01·(1, 4), so w ∝ (1, 2)
    and the projection of (1.2, 1.2) is the hand-computed (0.6, 0.8) (scale-free in w)."""
    X = torch.zeros(1, 2, dtype=torch.float64)
    p = X[0]
    p.requires_grad_()
    p.grad = torch.tensor([1.0, 2.0], dtype=torch.float64)
    optimizer = torch.optim.Adam([p], lr=0.1, betas=(0.9, 0.99), amsgrad=True)
    projection = BallWeighted(1.0)
    projection.bind(optimizer, [p])
    optimizer.step()
    assert projection.name == "max_exp_avg_sq"
    X.fill_(1.2)
    projection.vector(X)
    np.testing.assert_allclose(X[0].numpy(), [0.6, 0.8], rtol=0, atol=1e-15)


def test_optimizer_without_second_moment_is_refused() -> None:
    p = torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="no second moment"):
        BallWeighted(1.0).bind(torch.optim.SGD([p], lr=0.1), [p])
