"""AMSGrad as the paper's Algorithm 2 (`src.optimizers.paper.AMSGradPaper`) and AdamX, whose max
is rescaled when β₁ₜ decays (`paper.AdamX`); no bias correction, eps 0 by default.

    m ← m + (1 − β₁ₜ)(g − m)                     m.lerp_(g, 1 − β₁ₜ),  β₁ₜ = β₁·λ^{t−1}
    v ← β₂·v + (1 − β₂)·g²                       v.mul_(β₂).addcmul_(g, g, 1 − β₂)
    v̂ ← max(v̂, v);  AdamX: max((1 − β₁ₜ)²/(1 − β₁,ₜ₋₁)² · v̂, v)
    x ← x − α_t·m/(√v̂ + ε)                       (a zero denominator: `adaptive_step`)

hyper: lr, β₁, β₂, λ (beta1_decay), eps.
"""

from __future__ import annotations

import numba

from src.engines.fast.numerics import fma, lerp, lerp_weight, rate
from src.engines.fast.rules.base import Variant, adaptive_step, hyper
from src.optimizers.scalars import adamx_ratio, beta1_t

AMSGRAD_PAPER, ADAMX = 7, 9
EXP_AVG, EXP_AVG_SQ, MAX_EXP_AVG_SQ = 0, 1, 2  # state
K_BETA2, K_ONE_MINUS_BETA2, K_EPS = 0, 1, 2
# per step: the lerp weight 1 − β₁ₜ and 1 − it, AdamX's ratio (1 at t = 1), −α_t
P_WEIGHT, P_ONE_MINUS_WEIGHT, P_RATIO, P_STEP = range(4)


def variant(kw: dict, code: int = AMSGRAD_PAPER) -> Variant:
    return Variant(code, hyper(kw["lr"], *kw["betas"], kw["beta1_decay"], kw["eps"]), 3)


@numba.njit(error_model="numpy", inline="always")  # compiled inside the dispatch (__init__)
def prepare(hyper, schedule, start, n, k, p):  # noqa: PLR0917
    lr, beta1, decay = hyper[0], hyper[1], hyper[3]
    k[K_BETA2] = hyper[2]
    k[K_ONE_MINUS_BETA2] = 1.0 - hyper[2]
    k[K_EPS] = hyper[4]
    for i in range(n):
        t = start + i
        lerp_weight(p[i], P_WEIGHT, 1.0 - beta1_t(beta1, decay, t))
        p[i, P_RATIO] = adamx_ratio(beta1, decay, t)
        p[i, P_STEP] = -rate(lr, schedule, t)


@numba.njit(error_model="numpy", inline="always")  # compiled inside the dispatch (__init__)
def before_root(code, k, p, state, r, x, g):  # noqa: PLR0917
    state[EXP_AVG, r] = lerp(state[EXP_AVG, r], g, p[P_WEIGHT], p[P_ONE_MINUS_WEIGHT])
    state[EXP_AVG_SQ, r] = fma(k[K_ONE_MINUS_BETA2] * g, g, state[EXP_AVG_SQ, r] * k[K_BETA2])
    v_hat = state[MAX_EXP_AVG_SQ, r]
    if code == ADAMX:  # max_exp_avg_sq.mul_(ratio), then the max
        v_hat = v_hat * p[P_RATIO]
    state[MAX_EXP_AVG_SQ, r] = max(v_hat, state[EXP_AVG_SQ, r])
    return state[MAX_EXP_AVG_SQ, r]


@numba.njit(error_model="numpy", inline="always")  # compiled inside the dispatch (__init__)
def after_root(k, p, state, r, x, g, root):  # noqa: PLR0917
    return adaptive_step(k, x, state[EXP_AVG, r], root + k[K_EPS], p[P_STEP], True)
