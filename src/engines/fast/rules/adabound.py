"""AdaBound as the authors' code (`paper.AdaBound`): Adam's bias-corrected step size, clipped per
coordinate into [η_l(t), η_u(t)] → final_lr.

    m ← β₁·m + (1 − β₁)·g                        m.mul_(β₁).add_(g, alpha=1 − β₁)
    v ← β₂·v + (1 − β₂)·g²                       v.mul_(β₂).addcmul_(g, g, 1 − β₂)
    x ← x − clip(η/(√v + ε), η_l(t), η_u(t))·m   (η, η_l, η_u: `src.optimizers.scalars`)

hyper: lr, β₁, β₂, final_lr, γ, eps.
"""

from __future__ import annotations

import numba

from src.engines.fast.numerics import fma, rate
from src.engines.fast.rules.base import Variant, hyper
from src.optimizers.scalars import adabound_bounds, adabound_step_size

ADABOUND = 11
EXP_AVG, EXP_AVG_SQ = 0, 1  # state
K_BETA1, K_ONE_MINUS_BETA1, K_BETA2, K_ONE_MINUS_BETA2, K_EPS = range(5)
P_STEP_SIZE, P_LOWER, P_UPPER = 0, 1, 2  # per step: η, η_l(t), η_u(t)


def variant(kw: dict) -> Variant:
    values = hyper(kw["lr"], *kw["betas"], kw["final_lr"], kw["gamma"], kw["eps"])
    return Variant(ADABOUND, values, 2)


@numba.njit(error_model="numpy", inline="always")  # compiled inside the dispatch (__init__)
def prepare(hyper, schedule, start, n, k, p):  # noqa: PLR0917
    lr, beta1, beta2, final_lr, gamma = hyper[0], hyper[1], hyper[2], hyper[3], hyper[4]
    k[K_BETA1] = beta1
    k[K_ONE_MINUS_BETA1] = 1.0 - beta1
    k[K_BETA2] = beta2
    k[K_ONE_MINUS_BETA2] = 1.0 - beta2
    k[K_EPS] = hyper[5]
    for i in range(n):
        t = start + i
        rate_t = rate(lr, schedule, t)  # final_lr follows the schedule: α* = final_lr·α_t/α
        p[i, P_STEP_SIZE] = adabound_step_size(rate_t, beta1, beta2, t)
        p[i, P_LOWER], p[i, P_UPPER] = adabound_bounds(final_lr, rate_t, lr, gamma, t)


@numba.njit(error_model="numpy", inline="always")  # compiled inside the dispatch (__init__)
def before_root(k, p, state, r, x, g):  # noqa: PLR0917
    state[EXP_AVG, r] = fma(k[K_ONE_MINUS_BETA1], g, state[EXP_AVG, r] * k[K_BETA1])
    state[EXP_AVG_SQ, r] = fma(k[K_ONE_MINUS_BETA2] * g, g, state[EXP_AVG_SQ, r] * k[K_BETA2])
    return state[EXP_AVG_SQ, r]


@numba.njit(error_model="numpy", inline="always")  # compiled inside the dispatch (__init__)
def after_root(k, p, state, r, x, g, root):  # noqa: PLR0917
    # full_like(denom, step_size).div_(denom).clamp_(η_l, η_u).mul_(m); param.sub_(step)
    step = min(max(p[P_STEP_SIZE] / (root + k[K_EPS]), p[P_LOWER]), p[P_UPPER])
    return x - step * state[EXP_AVG, r]
