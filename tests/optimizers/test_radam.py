"""conf/optim/radam.yaml against RAdam's formulas (Liu et al. 2020, torch.optim.RAdam): when the
rectified step starts with β₂ = 0.99."""

from __future__ import annotations

import math

import torch

from src import PROJECT_ROOT
from tests.conftest import make_cfg


def rho(t: int, beta2: float) -> float:
    """ρ_t = ρ∞ − 2tβ₂ᵗ/(1 − β₂ᵗ), ρ∞ = 2/(1 − β₂) − 1: the length of the SMA."""
    return 2 / (1 - beta2) - 1 - 2 * t * beta2**t / (1 - beta2**t)


def rectified_step(t: int, lr: float, beta2: float) -> float:
    """Constant gradient g = 1: m̂ = 1, v̂ = 1, so the step is lr·r_t/(1 + ε·…) ≈ lr·r_t with
    r_t = √((ρ_t − 4)(ρ_t − 2)ρ∞ / ((ρ∞ − 4)(ρ∞ − 2)ρ_t))."""
    rho_inf, rho_t = 2 / (1 - beta2) - 1, rho(t, beta2)
    numerator = (rho_t - 4) * (rho_t - 2) * rho_inf
    return lr * math.sqrt(numerator / ((rho_inf - 4) * (rho_inf - 2) * rho_t))


def test_the_rectified_step_starts_at_t_6_with_the_configs_beta2() -> None:
    """ρ₅ ≈ 4.96 ≤ 5 < ρ₆ ≈ 5.94; torch.optim.RAdam with the config's hyper-parameters, g = 1 in
    float64, takes the un-rectified step lr·m̂ = lr for t ≤ 5 and lr·r_t from t = 6 on."""
    cfg = make_cfg("optim=radam")
    lr, (beta1, beta2), eps = cfg.optim.lr, cfg.optim.betas, cfg.optim.eps
    first = next(t for t in range(1, 100) if rho(t, beta2) > 5)
    assert first == 6 and 4.9 < rho(5, beta2) < 5 < rho(6, beta2) < 6
    assert f"from t = {first}" in (PROJECT_ROOT / "conf/optim/radam.yaml").read_text()
    x = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.RAdam([x], lr=lr, betas=(beta1, beta2), eps=eps)
    steps = []
    for _ in range(10):
        before = x.item()
        x.grad = torch.ones_like(x)
        optimizer.step()
        steps.append(before - x.item())
    for t, step in enumerate(steps, start=1):
        if t < first:
            assert math.isclose(step, lr, rel_tol=1e-12), t  # SGD with momentum: lr·m̂
        else:
            assert math.isclose(step, rectified_step(t, lr, beta2), rel_tol=1e-6), t
            assert not math.isclose(step, lr, rel_tol=1e-3), t
