"""The compiled scalar rules (`src.optimizers.scalars`) give bit for bit what the plain Python
formulas give, at every step the optimizers and the fast engine use them."""

from __future__ import annotations

import math

import pytest

from src.optimizers import scalars

STEPS = [*range(1, 200), 1_000, 4_000, 4_001, 65_537, 10**6, 6 * 10**6]


@pytest.mark.parametrize(("beta1", "decay"), [(0.9, 1.0), (0.9, 0.99), (0.5, 0.999), (0.0, 0.9)])
def test_the_lerp_weight_of_beta1_t_is_the_formulas(beta1: float, decay: float) -> None:
    for t in STEPS:
        exact = beta1 * decay ** (t - 1)
        assert 1 - scalars.beta1_t(beta1, decay, t) == 1 - exact, t
        if exact >= 1e-18:  # below, the rule's 0 and the formula's tiny value give the same weight
            assert scalars.beta1_t(beta1, decay, t) == exact, t


@pytest.mark.parametrize(("beta1", "decay"), [(0.9, 1.0), (0.9, 0.99), (0.99, 0.9)])
def test_adamx_ratio_is_the_formulas(beta1: float, decay: float) -> None:
    for t in STEPS:
        if t == 1:
            assert scalars.adamx_ratio(beta1, decay, t) == 1.0
            continue
        now, before = 1 - beta1 * decay ** (t - 1), 1 - beta1 * decay ** (t - 2)
        assert scalars.adamx_ratio(beta1, decay, t) == (now * now) / (before * before), t


def test_adabound_step_size_and_bounds_are_the_authors_code() -> None:
    lr, beta1, beta2, final_lr, gamma = 1e-3, 0.9, 0.999, 0.1, 1e-3
    for t in STEPS:
        for rate in (lr, lr / math.sqrt(t)):
            step_size = rate * math.sqrt(1 - beta2**t) / (1 - beta1**t)
            assert scalars.adabound_step_size(rate, beta1, beta2, t) == step_size, t
            bound = final_lr * rate / lr
            expected = bound * (1 - 1 / (gamma * t + 1)), bound * (1 + 1 / (gamma * t))
            assert scalars.adabound_bounds(final_lr, rate, lr, gamma, t) == expected, t


def test_adopt_clip_is_the_authors_code_and_inf_without_clipping() -> None:
    for t in STEPS:
        assert scalars.adopt_clip(0.25, t) == (math.inf if t == 1 else (t - 1) ** 0.25), t
        assert scalars.adopt_clip(math.nan, t) == math.inf


def test_powers_are_pythons_including_where_sqrt_would_round_differently() -> None:
    """pow(1 − 2⁻⁵³, ½) is 1.0 in glibc while √ gives 1 − 2⁻⁵³: the rules call pow() itself."""
    base = 1 - 2.0**-53
    assert scalars.pow_py(base, 0.5) == base**0.5
    for base in (0.9, 0.999, 0.99999, 1.0, 1.0001):
        for t in (0, 1, 2, 7, 1000, 123_456):
            value = base**t
            assert scalars.power(base, t) == (value if value >= 1e-18 else 0.0), (base, t)
