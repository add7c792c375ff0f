"""torch.optim.RAdam (either weight decay): the fast engine's rule, as its default for-loop
implementation computes it, and the registration.

    m, v as Adam (`adam.moments`);  ρ_∞ = 2/(1 − β₂) − 1,  ρ_t = ρ_∞ − 2tβ₂ᵗ/(1 − β₂ᵗ)
    ρ_t > 5:  x ← x − α_t·m/(1 − β₁ᵗ) · √(1 − β₂ᵗ)/(√v + ε) · r_t,
              r_t = √((ρ_t − 4)(ρ_t − 2)ρ_∞ / ((ρ_∞ − 4)(ρ_∞ − 2)ρ_t))
    else:     x ← x − α_t·m/(1 − β₁ᵗ)              (no root)

hyper: lr, β₁, β₂, eps, weight decay, decoupled.
"""

from __future__ import annotations

import numba
import torch

from src.optimizers import adam
from src.optimizers.adam import EXP_AVG, EXP_AVG_SQ, K_DECOUPLED, K_EPS, P_DECAY
from src.optimizers.base import Registration, Variant, hyper, torch_only
from src.optimizers.numerics import cast, rate
from src.optimizers.scalars import c_pow, pow_py, power

RADAM = 6
# per step: 1 − β₁ᵗ, α_t, √(1 − β₂ᵗ), r_t, whether rectified (ρ_t > 5)
P_BIAS1, P_RATE, P_BIAS2_SQRT, P_RECT, P_RECTIFIED = range(5)


def variant(kw: dict) -> Variant | str:
    why = torch_only(kw)
    values = hyper(
        kw["lr"],
        *kw["betas"],
        kw["eps"],
        kw["weight_decay"],
        bool(kw["decoupled_weight_decay"]),
    )
    return why or Variant(RADAM, values, 2)


@numba.njit(error_model="numpy", inline="always")  # compiled inside the kernel's dispatch
def prepare(hyper, schedule, start, n, k, p):  # noqa: PLR0917
    adam.constants(hyper, k)
    lr, beta1, beta2, wd = hyper[0], hyper[1], hyper[2], hyper[4]
    rho_inf = 2 / (1 - beta2) - 1
    for i in range(n):
        t = start + i
        rate_t = rate(lr, schedule, t)
        p[i, P_DECAY] = 1.0 - rate_t * wd
        bias_correction2 = 1.0 - power(beta2, t)
        rho_t = rho_inf - 2 * t * c_pow(beta2, float(t)) / bias_correction2
        p[i, P_BIAS1] = 1.0 - power(beta1, t)
        p[i, P_RATE] = rate_t
        p[i, P_BIAS2_SQRT] = pow_py(bias_correction2, 0.5)
        p[i, P_RECT] = 1.0
        p[i, P_RECTIFIED] = 1.0 if rho_t > 5.0 else 0.0  # the adaptive step, with a root
        if rho_t > 5.0:
            p[i, P_RECT] = c_pow(
                (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t),
                0.5,
            )


@numba.njit(error_model="numpy", inline="always")  # compiled inside the kernel's dispatch
def before_root(code, k, p, state, r, x, g):  # noqa: PLR0917
    adam.moments(k, state, r, x, g)
    if p[P_RECTIFIED] == 0:
        return -1.0  # not rectified yet: no root
    return state[EXP_AVG_SQ, r]


@numba.njit(error_model="numpy", inline="always")  # compiled inside the kernel's dispatch
def after_root(code, k, p, state, r, x, g, root):  # noqa: PLR0917
    if k[K_DECOUPLED] != 0:
        x = x * p[P_DECAY]
    update = state[EXP_AVG, r] / p[P_BIAS1] * p[P_RATE]  # exp_avg / bias_correction1 * lr
    if p[P_RECTIFIED] != 0:  # * (√bias_correction2 / (√v + eps)) * rect; a/tensor: reciprocal()·a
        update = update * (cast(k, 1.0) / (root + k[K_EPS]) * p[P_BIAS2_SQRT]) * p[P_RECT]
    return x - update  # param.add_(update, alpha=−1)


CODES = (RADAM,)
# no second moment: before rectification its step divides by nothing
OPTIMIZERS = (Registration(torch.optim.RAdam, variant),)
