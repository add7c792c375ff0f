"""src.optimizers against recurrences written here from the papers' formulas, and the behaviour each
optimizer is known for. (The fast engine's copy of them is checked by test_fast_engine.py.)"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import torch

from src.build import build_spec, optimizer_factory, run_engine
from src.engines import torch_loop
from src.optimizers import AdamX, AMSGradPaper
from tests.conftest import coefficient_sequence, make_cfg
from tests.engines.test_fast import assert_equivalent, both_engines


def clamp(x: float) -> float:
    return min(max(x, -1.0), 1.0)


def amsgrad_paper_by_hand(
    grads: list[float], *, lr: float, betas: list[float], beta1_decay: float, eps: float
) -> list[float]:
    """Algorithm 2: m, v without bias correction, v̂ = max(v̂, v), x ← Π(x − α m/(√v̂ + ε))."""
    (beta1, beta2), x, m, v, v_hat, xs = betas, 0.0, 0.0, 0.0, 0.0, []
    for t, g in enumerate(grads, start=1):
        beta1_t = beta1 * beta1_decay ** (t - 1)
        m = beta1_t * m + (1 - beta1_t) * g
        v = beta2 * v + (1 - beta2) * g * g
        v_hat = max(v_hat, v)
        x = clamp(x - lr * m / (math.sqrt(v_hat) + eps))
        xs.append(x)
    return xs


def adamnc_by_hand(
    grads: list[float], *, lr: float, beta1: float, beta1_decay: float, eps: float
) -> list[float]:
    """Algorithm 3 with β₂ₜ = 1 − 1/t: v_t is the mean of g_1², …, g_t²."""
    x, m, squares, xs = 0.0, 0.0, 0.0, []
    for t, g in enumerate(grads, start=1):
        beta1_t = beta1 * beta1_decay ** (t - 1)
        m = beta1_t * m + (1 - beta1_t) * g
        squares += g * g
        x = clamp(x - lr * m / (math.sqrt(squares / t) + eps))
        xs.append(x)
    return xs


def adamx_by_hand(
    grads: list[float], *, lr: float, betas: list[float], beta1_decay: float, eps: float
) -> list[float]:
    """AdamX: v̂_t = max((1 − β₁ₜ)²/(1 − β₁,ₜ₋₁)² v̂_{t−1}, v_t)."""
    (beta1, beta2), x, m, v, v_hat, xs = betas, 0.0, 0.0, 0.0, 0.0, []
    previous = beta1
    for t, g in enumerate(grads, start=1):
        beta1_t = beta1 * beta1_decay ** (t - 1)
        m = beta1_t * m + (1 - beta1_t) * g
        v = beta2 * v + (1 - beta2) * g * g
        v_hat = max(((1 - beta1_t) / (1 - previous)) ** 2 * v_hat, v)
        previous = beta1_t
        x = clamp(x - lr * m / (math.sqrt(v_hat) + eps))
        xs.append(x)
    return xs


def yogi_by_hand(
    grads: list[float], *, lr: float, betas: list[float], eps: float, initial_accumulator: float
) -> list[float]:
    """Yogi: v_t = v_{t−1} − (1 − β₂) sign(v_{t−1} − g²) g², no bias correction."""
    (beta1, beta2), x, m, v, xs = betas, 0.0, 0.0, initial_accumulator, []
    for g in grads:
        m = beta1 * m + (1 - beta1) * g
        gap = v - g * g
        v = v - (1 - beta2) * ((gap > 0) - (gap < 0)) * g * g
        x = clamp(x - lr * m / (math.sqrt(v) + eps))
        xs.append(x)
    return xs


def adabound_by_hand(
    grads: list[float], *, lr: float, betas: list[float], final_lr: float, gamma: float, eps: float
) -> list[float]:
    """AdaBound (authors' code): clip(α√(1−β₂ᵗ)/(1−β₁ᵗ)/(√v + ε), η_l(t), η_u(t))·m."""
    (beta1, beta2), x, m, v, xs = betas, 0.0, 0.0, 0.0, []
    for t, g in enumerate(grads, start=1):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        eta = lr * math.sqrt(1 - beta2**t) / (1 - beta1**t) / (math.sqrt(v) + eps)
        eta = min(max(eta, final_lr * (1 - 1 / (gamma * t + 1))), final_lr * (1 + 1 / (gamma * t)))
        x = clamp(x - eta * m)
        xs.append(x)
    return xs


def adopt_by_hand(
    grads: list[float], *, lr: float, betas: list[float], eps: float, clip_exponent: float | None
) -> list[float]:
    """ADOPT: v_1 = g_1² and no step; then m ← β₁m + (1−β₁)·clip(g/max(√v, ε)), x ← x − αm,
    and only then v ← β₂v + (1−β₂)g²."""
    (beta1, beta2), x, m, v, xs = betas, 0.0, 0.0, 0.0, []
    for t, g in enumerate(grads, start=1):
        if t == 1:
            v = g * g
        else:
            normed = g / max(math.sqrt(v), eps)
            if clip_exponent is not None:
                bound = (t - 1) ** clip_exponent
                normed = min(max(normed, -bound), bound)
            m = beta1 * m + (1 - beta1) * normed
            x = clamp(x - lr * m)
            v = beta2 * v + (1 - beta2) * g * g
        xs.append(x)
    return xs


BY_HAND: dict[str, Callable[..., list[float]]] = {
    "amsgrad_paper": amsgrad_paper_by_hand,
    "adamnc": adamnc_by_hand,
    "adamx": adamx_by_hand,
    "yogi": yogi_by_hand,
    "adabound": adabound_by_hand,
    "adopt": adopt_by_hand,
}


@pytest.mark.parametrize("fn_name", ["online", "stochastic"])
@pytest.mark.parametrize("optim", sorted(BY_HAND))
def test_optimizer_matches_its_recurrence_by_hand(optim: str, fn_name: str) -> None:
    """The config's hyper-parameters, 1000 steps, float64, x clamped to [−1, 1]."""
    steps = 1000
    cfg = make_cfg(
        f"optim={optim}", f"fn={fn_name}", f"steps={steps}", f"log.points={steps}", "dtype=float64"
    )
    result = torch_loop.run(build_spec(cfg), optimizer_factory(cfg))
    kwargs = {k: v for k, v in cfg.optim.items() if not k.startswith("_")}
    expected = BY_HAND[optim](coefficient_sequence(fn_name, steps), **kwargs)
    np.testing.assert_allclose(result.x[:, 0], expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("optim", ["amsgrad_paper", "adamnc"])
def test_paper_fixes_reach_the_optimum_of_the_online_problem(optim: str) -> None:
    """Figure 1's online problem, lr 0.01, 300,000 steps (compiled engine): x_t → −1."""
    cfg = make_cfg(
        f"optim={optim}", "optim.lr=0.01", "steps=300000", "log.points=100", "engine=fast"
    )
    engine, result = run_engine(cfg, build_spec(cfg), None)
    assert engine == "fast"
    assert result.final_x[0] < -0.99


THEOREM1 = (
    "fn.scale=1.0",
    "fn.C=3.0",
    "fn.period=3",
    "optim.betas=[0.0,0.1]",  # β₂ = 1/(1+C²)
    "optim.lr=0.1",
    "schedule=inv_sqrt",
    "steps=10000",
    "log.points=100",
    "engine=fast",
)


@pytest.mark.parametrize("optim", ["adam", "amsgrad", "amsgrad_paper"])
def test_theorem1_adam_goes_to_plus_one_amsgrad_to_minus_one(optim: str) -> None:
    """Theorem 1: f_t = 3x if t mod 3 = 1 else −x on [−1, 1], β₁ = 0, β₂ = 1/(1+C²), α_t = α/√t.
    Adam (torch's; its bias correction 1 − 0.1ᵗ is 1 after a few steps) ends at the worst point
    +1, AMSGrad (torch's and the paper's) at the optimum −1."""
    cfg = make_cfg(f"optim={optim}", *THEOREM1)
    engine, result = run_engine(cfg, build_spec(cfg), None)
    assert engine == "fast"
    if optim == "adam":
        assert result.final_x[0] > 0.99
    else:
        assert result.final_x[0] < -0.99


def test_a_zero_denominator_is_a_zero_step() -> None:
    """eps = 0 and only zero gradients so far: v̂ = 0, m = 0; x stays put instead of 0/0 = NaN."""
    x = torch.tensor([0.5, -0.25], dtype=torch.float64, requires_grad=True)
    optimizer = AMSGradPaper([x], lr=0.1)
    for _ in range(3):
        x.grad = torch.zeros_like(x)
        optimizer.step()
    assert x.tolist() == [0.5, -0.25]
    x.grad = torch.ones_like(x)
    optimizer.step()
    assert torch.all(torch.isfinite(x)) and x.tolist() != [0.5, -0.25]


def test_adamx_with_constant_beta1_is_amsgrad_paper() -> None:
    """λ = 1: the rescaling (1 − β₁)²/(1 − β₁)² is exactly 1: AdamX is Algorithm 2, bit for bit."""
    grads = torch.tensor(coefficient_sequence("stochastic", 2000))
    runs = []
    for cls in (AdamX, AMSGradPaper):
        x = torch.zeros(1, requires_grad=True)
        optimizer = cls([x], lr=0.01, beta1_decay=1.0)
        for g in grads:
            x.grad = g.reshape(1).float()
            optimizer.step()
        runs.append(x.item())
    assert runs[0] == runs[1]


@pytest.mark.parametrize("optim", sorted(BY_HAND))
def test_schedules_reach_the_update_through_the_param_group(optim: str) -> None:
    """LambdaLR rewrites group["lr"] after every step; each optimizer reads it at every step, as
    the fast engine's α_t = α/√t assumes (a stale lr would part the two engines at step 2)."""
    reference, fast = both_engines(
        f"optim={optim}", "schedule=inv_sqrt", "steps=5000", "log.points=5000", "fn=stochastic"
    )
    assert_equivalent(reference, fast, "float32")
    constant, _ = both_engines(f"optim={optim}", "steps=5000", "log.points=5000", "fn=stochastic")
    assert not np.array_equal(reference.x, constant.x)


TINY = 1e-30  # g² = 1e-60 underflows to 0 in float32 (smallest subnormal ≈ 1.4e-45), not in float64


@pytest.mark.parametrize(
    "optim",
    ["amsgrad_paper", "adamnc", "adamx", "yogi", "adabound", "adopt"],
)
def test_a_gradient_whose_square_underflows_takes_the_formulas_step(optim: str) -> None:
    """g = 1e-30 at every step in float32: x after each of 3 steps is the formula's (its
    recurrence by hand in float64, where g² = 1e-60 is representable), to float32's precision.
    With eps > 0 (Yogi, AdaBound, ADOPT) √v ≪ eps, so float32's g² = 0 changes nothing."""
    cfg = make_cfg(f"optim={optim}")
    x = torch.zeros(1, dtype=torch.float32, requires_grad=True)
    optimizer = optimizer_factory(cfg)([x])
    xs = []
    for _ in range(3):
        x.grad = torch.full_like(x, TINY)
        optimizer.step()
        xs.append(x.item())
    kwargs = {k: v for k, v in cfg.optim.items() if not k.startswith("_")}
    expected = BY_HAND[optim]([TINY] * 3, **kwargs)
    assert expected[-1] != 0.0
    np.testing.assert_allclose(xs, expected, rtol=1e-6, atol=0)
