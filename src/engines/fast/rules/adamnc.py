"""AdamNC, the paper's Algorithm 3 with Corollary 2's β₂ₜ = 1 − 1/t (`paper.AdamNC`).

    m ← m + (1 − β₁ₜ)(g − m)                     m.lerp_(g, 1 − β₁ₜ),  β₁ₜ = β₁·λ^{t−1}
    v ← (1 − 1/t)·v + (1/t)·g²                   v.mul_(1 − 1/t).addcmul_(g, g, 1/t)
    x ← x − α_t·m/(√v + ε)                       (a zero denominator: `adaptive_step`)

hyper: lr, β₁, λ (beta1_decay), eps.
"""

from __future__ import annotations

import numba

from src.engines.fast.numerics import fma, lerp, lerp_weight, rate
from src.engines.fast.rules.base import Variant, adaptive_step, hyper
from src.optimizers.scalars import beta1_t

ADAMNC = 8
EXP_AVG, EXP_AVG_SQ = 0, 1  # state
K_EPS = 0
# per step: the lerp weight 1 − β₁ₜ and 1 − it, β₂ₜ = 1 − 1/t, 1 − β₂ₜ = 1/t, −α_t
P_WEIGHT, P_ONE_MINUS_WEIGHT, P_BETA2, P_ONE_MINUS_BETA2, P_STEP = range(5)


def variant(kw: dict) -> Variant:
    return Variant(ADAMNC, hyper(kw["lr"], kw["beta1"], kw["beta1_decay"], kw["eps"]), 2)


@numba.njit(error_model="numpy", inline="always")  # compiled inside the dispatch (__init__)
def prepare(hyper, schedule, start, n, k, p):  # noqa: PLR0917
    k[K_EPS] = hyper[3]
    for i in range(n):
        t = start + i
        lerp_weight(p[i], P_WEIGHT, 1.0 - beta1_t(hyper[1], hyper[2], t))
        p[i, P_BETA2] = 1.0 - 1.0 / t
        p[i, P_ONE_MINUS_BETA2] = 1.0 / t
        p[i, P_STEP] = -rate(hyper[0], schedule, t)


@numba.njit(error_model="numpy", inline="always")  # compiled inside the dispatch (__init__)
def before_root(k, p, state, r, x, g):  # noqa: PLR0917
    state[EXP_AVG, r] = lerp(state[EXP_AVG, r], g, p[P_WEIGHT], p[P_ONE_MINUS_WEIGHT])
    state[EXP_AVG_SQ, r] = fma(p[P_ONE_MINUS_BETA2] * g, g, state[EXP_AVG_SQ, r] * p[P_BETA2])
    return state[EXP_AVG_SQ, r]


@numba.njit(error_model="numpy", inline="always")  # compiled inside the dispatch (__init__)
def after_root(k, p, state, r, x, g, root):  # noqa: PLR0917
    return adaptive_step(k, x, state[EXP_AVG, r], root + k[K_EPS], p[P_STEP], True)
