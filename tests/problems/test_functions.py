"""The `fn` group: coefficient streams, optima, and the exact best fixed point in hindsight."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from src import PROJECT_ROOT
from src.problems.functions import (
    Bernoulli,
    NoisyQuadratic,
    OnlineFunction,
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


@pytest.mark.parametrize(
    "fn", sorted(p.stem for p in (PROJECT_ROOT / "conf" / "fn").glob("*.yaml"))
)
def test_every_fn_option_describes_itself_in_one_line(fn: str) -> None:
    """A figure's title is the problem's own words (`describe()`), with its numbers: one line,
    never the class's name guessed into words."""
    from src.build import build
    from tests.conftest import make_cfg

    problem = build(make_cfg(f"fn={fn}").fn)
    words = problem.describe()
    assert words and "\n" not in words and len(words) < 120, words
    assert type(problem).__name__ not in words  # its own description, not the default


def test_the_papers_problems_describe_f_t_with_their_numbers() -> None:
    assert Periodic(10, 101, 101).describe() == "1010x once every 101 steps, else −10x"
    assert Periodic(1, 3, 3).describe() == "3x once every 3 steps, else −x"
    assert Bernoulli(10, 101, 0.01).describe() == "1010x w.p. 0.01, else −10x"
    assert Theorem3(1, 101, 0.02).describe() == ("101x w.p. (1+δ)/(C+1) = 0.01, δ = 0.02, else −x")
    assert NoisyQuadratic(1, -0.5, 1).describe() == "(1/2)·(x − c_t)², c_t ~ N(−0.5, 1²)"


def test_a_users_problem_is_described_by_its_docstring_not_its_parameters() -> None:
    """A user's `Burst` with k bursts a period is not titled as a periodic problem: the base
    class's default is the class's name and the first line of its docstring."""

    class Burst(OnlineFunction):
        """k bursts of C·x every period, else −x."""

        def __init__(self, C: float = 101.0, period: int = 101, k: int = 3) -> None:
            self.C, self.period, self.k = C, period, k

    assert Burst().describe() == "Burst: k bursts of C·x every period, else −x"

    class Quiet(OnlineFunction):
        pass

    assert Quiet().describe() == "Quiet"
