"""torch.optim.NAdam (momentum decay ψ, either weight decay): the fast engine's rule, as its
default for-loop implementation computes it, and the registration.

    μ_t = β₁(1 − ½·0.96^{tψ}),  Πμ_t = μ_1⋯μ_t      (Πμ a float32 tensor in torch, in any run)
    m, v as Adam (`adam.moments`)
    x ← x − α_t(1 − μ_t)/(1 − Πμ_t) · g/d − α_t·μ_{t+1}/(1 − Πμ_t·μ_{t+1}) · m/d,
        d = √(v/(1 − β₂ᵗ)) + ε

hyper: lr, β₁, β₂, eps, weight decay, ψ, decoupled.
"""

from __future__ import annotations

import numba
import numpy as np
import torch

from src.optimizers import adam
from src.optimizers.adam import EXP_AVG, EXP_AVG_SQ, K_DECOUPLED, K_EPS, K_L2, P_DECAY
from src.optimizers.base import Registration, Variant, hyper, torch_only
from src.optimizers.numerics import fma, rate
from src.optimizers.scalars import c_pow, power

NADAM = 5
K_MU_PRODUCT = 7  # Πμ so far, carried from chunk to chunk (adam's constants fill 0..6)
P_BIAS2, P_GRAD_STEP, P_AVG_STEP = 0, 1, 2  # 1 − β₂ᵗ and the two addcdiv values


def variant(kw: dict) -> Variant | str:
    why = torch_only(kw)
    values = hyper(
        kw["lr"],
        *kw["betas"],
        kw["eps"],
        kw["weight_decay"],
        kw["momentum_decay"],
        bool(kw["decoupled_weight_decay"]),
    )
    return why or Variant(NADAM, values, 2)


@numba.njit(error_model="numpy", inline="always")  # compiled inside the kernel's dispatch
def prepare(hyper, schedule, start, n, k, p):  # noqa: PLR0917
    adam.constants(hyper, k)
    if start == 1:
        k[K_MU_PRODUCT] = 1.0
    mu_product = np.float32(k[K_MU_PRODUCT])
    lr, beta1, beta2, wd, psi = hyper[0], hyper[1], hyper[2], hyper[4], hyper[5]
    for i in range(n):
        t = start + i
        rate_t = rate(lr, schedule, t)
        p[i, P_DECAY] = 1.0 - rate_t * wd
        mu = beta1 * (1.0 - 0.5 * c_pow(0.96, t * psi))
        mu_next = beta1 * (1.0 - 0.5 * c_pow(0.96, (t + 1) * psi))
        mu_product = np.float32(mu_product * np.float32(mu))  # mu_product *= mu
        mu_product_next = np.float64(mu_product) * mu_next
        p[i, P_BIAS2] = 1.0 - power(beta2, t)  # bias_correction2
        p[i, P_GRAD_STEP] = -rate_t * (1.0 - mu) / (1.0 - np.float64(mu_product))
        p[i, P_AVG_STEP] = (-rate_t * mu_next) / (1.0 - mu_product_next)
    k[K_MU_PRODUCT] = mu_product


@numba.njit(error_model="numpy", inline="always")  # compiled inside the kernel's dispatch
def before_root(code, k, p, state, r, x, g):  # noqa: PLR0917
    adam.moments(k, state, r, x, g)
    return state[EXP_AVG_SQ, r] / p[P_BIAS2]  # exp_avg_sq.div(bias_correction2).sqrt()


@numba.njit(error_model="numpy", inline="always")  # compiled inside the kernel's dispatch
def after_root(code, k, p, state, r, x, g, root):  # noqa: PLR0917
    if k[K_L2] != 0:
        g = fma(k[K_L2], x, g)
    if k[K_DECOUPLED] != 0:
        x = x * p[P_DECAY]
    denom = root + k[K_EPS]
    x = x + p[P_GRAD_STEP] * g / denom  # param.addcdiv_(grad, denom, value=−lr(1−μ)/(1−Πμ))
    return x + p[P_AVG_STEP] * state[EXP_AVG, r] / denom  # addcdiv_(exp_avg, denom, …)


CODES = (NADAM,)
OPTIMIZERS = (Registration(torch.optim.NAdam, variant, second_moment="exp_avg_sq"),)
