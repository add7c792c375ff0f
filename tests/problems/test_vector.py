"""d-dimensional problems: coefficient streams against their definitions, the best fixed point in
hindsight against brute force on small T, and the run's regret against a direct evaluation."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch

from src.engines import reference
from src.engines.spec import RunSpec
from src.problems.functions import Periodic, RandomStreams
from src.problems.projections import Ball, BallWeighted, Box, Unconstrained
from src.problems.vector import (
    RotatedQuadratic,
    VectorBernoulli,
    VectorPeriodic,
    givens_rotation,
)
from src.problems.vector_regret import Comparator, summed_loss


def box_grid(dim: int, points: int, low: float = -1.0, high: float = 1.0) -> np.ndarray:
    axis = np.linspace(low, high, points)
    return np.stack(np.meshgrid(*[axis] * dim, indexing="ij"), -1).reshape(-1, dim)


def ball_grid(dim: int, points: int, radius: float) -> np.ndarray:
    cube = box_grid(dim, points, -radius, radius)
    inside = cube[np.linalg.norm(cube, axis=1) <= radius]
    directions = cube[np.linalg.norm(cube, axis=1) > 0]  # and the sphere itself, finely
    sphere = radius * directions / np.linalg.norm(directions, axis=1, keepdims=True)
    return np.concatenate([inside, sphere])


def sums(fn: object, steps: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
    coeffs = fn.coefficients(1, steps, RandomStreams(seed, 1))
    A = coeffs.a.sum(0).numpy()  # [1, d]
    B = None if coeffs.b is None else coeffs.b.sum(0).numpy()
    return A, B


def brute_min(A: np.ndarray, B: np.ndarray | None, t: int, hessian: object, grid: np.ndarray):
    losses = (grid @ A[0]) + (0 if B is None else 0.5 * (grid**2) @ B[0])
    if hessian is not None:
        losses = losses + 0.5 * t * np.einsum("gi,ij,gj->g", grid, hessian, grid)
    return float(losses.min())


# ------------------------------------------------------------------------------ definitions


def test_periodic_coordinates_follow_their_own_c_and_period() -> None:
    fn = VectorPeriodic(dim=3, scale=2.0, C=[5.0, 7.0, 9.0], period=[2, 3, 1])
    a = fn.coefficients(1, 7, RandomStreams(0, 1)).a[:, 0, :].numpy()
    for t in range(1, 8):
        for i, (C, period) in enumerate([(5, 2), (7, 3), (9, 1)]):
            assert a[t - 1, i] == (2.0 * C if t % period == 1 % period else -2.0)


def test_bernoulli_coordinates_draw_independent_coins() -> None:
    fn = VectorBernoulli(dim=2, scale=1.0, C=[10.0, 20.0], p=[0.5, 0.1])
    a = fn.coefficients(1, 20000, RandomStreams(3, 2)).a.numpy()  # [n, R, d]
    rare = a > 0
    assert set(np.unique(a[..., 0])) == {-1.0, 10.0} and set(np.unique(a[..., 1])) == {-1.0, 20.0}
    assert abs(rare[..., 0].mean() - 0.5) < 0.02 and abs(rare[..., 1].mean() - 0.1) < 0.01
    assert abs(np.corrcoef(rare[:, 0, 0], rare[:, 0, 1])[0, 1]) < 0.03  # independent coins
    assert not np.array_equal(rare[:, 0], rare[:, 1])  # replicates draw their own


def test_rotated_quadratic_gradient_is_that_of_its_definition() -> None:
    """a_t + Q x = ∇ ½ (x − c_t)ᵀ Rᵀ D R (x − c_t), by autograd on the definition."""
    fn = RotatedQuadratic(dim=3, curvatures=[1.0, 4.0, 9.0], angle=25.0, center=0.3, noise=0.5)
    rotation = givens_rotation(3, np.radians(25.0))
    assert np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-15)
    Q = torch.from_numpy(rotation.T @ np.diag([1.0, 4.0, 9.0]) @ rotation)
    normals = torch.randn(4, 3, generator=RandomStreams(1, 1).generators[0], dtype=torch.float64)
    a = fn.coefficients(1, 4, RandomStreams(1, 1)).a[:, 0, :]
    for t in range(4):
        c = 0.3 + 0.5 * normals[t]
        x = torch.tensor([0.2, -0.7, 0.4], dtype=torch.float64, requires_grad=True)
        (0.5 * (x - c) @ Q @ (x - c)).backward()
        expected = a[t] + torch.from_numpy(fn.hessian) @ x.detach()
        torch.testing.assert_close(x.grad, expected, rtol=0, atol=1e-13)


# ------------------------------------------------------------------------------ best fixed point

SETS = {
    "box": (Comparator("box"), lambda d: box_grid(d, 401 if d == 2 else 61)),
    "ball": (Comparator("ball", radius=0.8), lambda d: ball_grid(d, 401 if d == 2 else 61, 0.8)),
}


@pytest.mark.parametrize("kind", list(SETS))
@pytest.mark.parametrize(
    "fn",
    [
        VectorPeriodic(dim=2, scale=1.0, C=[3.0, 1.5], period=[3, 2]),
        VectorBernoulli(dim=3, scale=1.0, C=[5.0, 2.0, 1.0], p=[0.3, 0.3, 0.6]),
        RotatedQuadratic(dim=2, curvatures=[1.0, 10.0], angle=30.0, center=[0.9, -0.9]),
        RotatedQuadratic(dim=2, curvatures=[0.0, 3.0], angle=60.0, center=[2.0, 0.5]),
        RotatedQuadratic(dim=3, curvatures=[1.0, 2.0, 5.0], angle=40.0, center=[1.5, -1.2, 0.3]),
    ],
    ids=["periodic2", "bernoulli3", "quadratic2", "quadratic2-singular", "quadratic3"],
)
@pytest.mark.parametrize("steps", [1, 5, 12])
def test_best_fixed_point_matches_brute_force(kind: str, fn: object, steps: int) -> None:
    """min over F of the summed loss: ours is feasible, no worse than any grid point, and within
    the grid's resolution of the best of them."""
    comparator, grid = SETS[kind]
    comparator = Comparator(comparator.kind, radius=comparator.radius, hessian=fn.hessian)
    A, B = sums(fn, steps, seed=steps)
    x = comparator.minimiser(A, B, steps)
    ours = float(comparator.best_loss(A, B, steps)[0])
    assert ours == pytest.approx(float(summed_loss(A, B, steps, fn.hessian, x)[0]), abs=1e-9)
    if kind == "box":
        assert (np.abs(x) <= 1.0).all()
    else:
        assert np.linalg.norm(x) <= 0.8 * (1 + 1e-15)
    brute = brute_min(A, B, steps, fn.hessian, grid(fn.dim))
    scale = np.abs(A).sum() + steps * (1 if fn.hessian is None else np.abs(fn.hessian).sum())
    assert ours <= brute + 1e-12 * scale
    assert brute - ours <= 2e-3 * scale  # the grid's resolution (spacing² × curvature, or spacing)


def test_separable_ball_with_linear_losses_is_minus_r_norm() -> None:
    """min_{‖x‖≤r} Aᵀx = −r‖A‖ at x = −r·A/‖A‖ (closed form)."""
    A = np.array([[3.0, -4.0]])
    comparator = Comparator("ball", radius=2.0)
    np.testing.assert_allclose(comparator.minimiser(A, None, 7), [[-1.2, 1.6]], atol=1e-15)
    assert comparator.best_loss(A, None, 7)[0] == pytest.approx(-10.0, abs=1e-14)


def test_box_separable_reuses_the_one_dimensional_closed_form() -> None:
    A, B = np.array([[2.0, -0.5, 0.3]]), np.array([[1.0, 1.0, 0.0]])
    # per coordinate: clamp(−2/1) = −1: 2·(−1) + ½·1 = −1.5; −(−0.5)/1 = 0.5: −0.25 + 0.125;
    # linear 0.3 > 0: x = −1, −0.3. Total −1.5 − 0.125 − 0.3 = −1.925.
    assert Comparator("box").best_loss(A, B, 1)[0] == pytest.approx(-1.925, abs=1e-15)


# ------------------------------------------------------------------------------ runs


@pytest.mark.slow
def test_identical_coordinates_equal_the_one_dimensional_run_bit_for_bit() -> None:
    """Adam is elementwise: each coordinate of VectorPeriodic(C_i, period_i) on the box is the 1-D
    Periodic(C_i, period_i) run, to the bit (the d-dim loop adds nothing of its own)."""
    adam = partial(torch.optim.Adam, lr=0.01, betas=(0.9, 0.99))
    steps = 5000
    vector = reference.run(
        RunSpec(VectorPeriodic(2, 10.0, [101.0, 5.0], [101, 3]), Box(), steps, 2, log_points=40),
        adam,
    )
    for i, (C, period) in enumerate([(101.0, 101), (5.0, 3)]):
        scalar = reference.run(
            RunSpec(Periodic(10.0, C, period), Box(), steps, 2, log_points=40), adam
        )
        assert np.array_equal(vector.x[:, :, i], scalar.x)
    assert vector.histories().keys() >= {"x_0", "x_1", "x_norm", "avg_regret"}


@pytest.mark.parametrize(
    "projection", [Box(), Ball(1.0), BallWeighted(1.0), Unconstrained()], ids=type
)
@pytest.mark.parametrize(
    "fn",
    [
        VectorPeriodic(2, 1.0, [3.0, 1.5], [3, 2]),
        VectorBernoulli(3, 1.0, [5.0, 2.0, 1.0], [0.3, 0.3, 0.6]),
        RotatedQuadratic(2, [1.0, 10.0], 30.0, [0.9, -0.9], 0.5),
    ],
    ids=["periodic", "bernoulli", "quadratic"],
)
def test_regret_equals_a_direct_evaluation(fn: object, projection: object) -> None:
    """R_T = Σ f_t(x_t) − min_{x∈F} Σ f_t(x), with Σ f_t(x_t) evaluated here step by step from
    the logged iterates (every step logged) and the minimum by brute force over a grid."""
    steps = 40
    spec = RunSpec(fn, projection, steps, replicates=1, log_points=steps, dtype=torch.float64)
    result = reference.run(spec, partial(torch.optim.Adam, lr=0.1, betas=(0.9, 0.99)))
    coeffs = fn.coefficients(1, steps, RandomStreams(0, 1))
    xs = np.concatenate([np.zeros((1, fn.dim)), result.x[:-1, 0, :]])  # x_1 … x_T
    a = coeffs.a[:, 0, :].numpy()
    total = float((a * xs).sum())
    if fn.hessian is not None:
        total += 0.5 * float(np.einsum("ti,ij,tj->", xs, fn.hessian, xs))
    A = a.sum(0, keepdims=True)
    grid = ball_grid(fn.dim, 401 if fn.dim == 2 else 61, 1.0)
    if not isinstance(projection, Ball):
        grid = box_grid(fn.dim, 401 if fn.dim == 2 else 61)
    brute = brute_min(A, None, steps, fn.hessian, grid)
    regret = float(result.final_regret[0])
    assert total - regret <= brute + 1e-9  # our comparator is no worse than any grid point
    assert total - regret == pytest.approx(brute, abs=2e-3 * (np.abs(A).sum() + steps))
    if isinstance(projection, Ball):
        assert (np.linalg.norm(result.x, axis=2) <= 1.0 + 1e-12).all()
    elif isinstance(projection, Box):
        assert (np.abs(result.x) <= 1.0).all()


def test_ball_weighted_differs_from_euclidean_in_a_run() -> None:
    """The same problem and optimizer, projected with Π_{F,√V̂} and with the Euclidean ball:
    different iterates once the ball is active (and both stay in the ball)."""
    amsgrad = partial(torch.optim.Adam, lr=0.05, betas=(0.9, 0.99), amsgrad=True)
    fn = VectorPeriodic(2, 10.0, [101.0, 5.0], [101, 3])
    runs = [
        reference.run(RunSpec(fn, projection, 3000, log_points=100), amsgrad)
        for projection in (Ball(1.0), BallWeighted(1.0))
    ]
    assert not np.allclose(runs[0].x, runs[1].x, atol=1e-3)
    for run in runs:
        assert (np.linalg.norm(run.x, axis=2) <= 1.0 + 1e-6).all()


def test_a_ddim_problem_describes_each_coordinate_or_lists_them() -> None:
    assert VectorPeriodic(2, 10, [101, 5], [101, 3]).describe() == (
        "x_0: 1010x once every 101 steps; x_1: 50x once every 3 steps; else −10x"
    )
    five = VectorPeriodic(5, 10, [101, 50, 20, 5, 2], 101).describe()
    assert five == (
        "x_i: [1010, 500, 200, 50, 20]_i·x_i once every [101, 101, 101, 101, 101]_i steps; "
        "else −10x"
    )
