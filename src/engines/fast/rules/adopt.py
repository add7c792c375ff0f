"""ADOPT of Taniguchi et al. (NeurIPS 2024) as the authors' code (`paper.ADOPT`): g_t is
normalised by the previous v before it enters m.

    t = 1:  v ← g²; x unchanged                  exp_avg_sq.addcmul_(grad, grad)
    t ≥ 2:  n = clip(g/max(√v, ε), c_t)          c_t = (t − 1)^clip_exponent (`scalars`)
            m ← m + (1 − β₁)(n − m);  x ← x − α_t·m;  v ← β₂·v + (1 − β₂)·g²

hyper: lr, β₁, β₂, eps, clip exponent (NaN: no clipping).
"""

from __future__ import annotations

import math

import numba

from src.engines.fast.numerics import fma, lerp, lerp_weight, rate
from src.engines.fast.rules.base import Variant, hyper
from src.optimizers.scalars import adopt_clip

ADOPT = 12
EXP_AVG, EXP_AVG_SQ = 0, 1  # state
K_WEIGHT, K_ONE_MINUS_WEIGHT, K_BETA2, K_ONE_MINUS_BETA2, K_EPS = range(5)
P_FIRST, P_CLIP, P_STEP = 0, 1, 2  # per step: whether t = 1, c_t, −α_t


def variant(kw: dict) -> Variant:
    clip = kw["clip_exponent"]
    values = hyper(kw["lr"], *kw["betas"], kw["eps"], math.nan if clip is None else clip)
    return Variant(ADOPT, values, 2)


@numba.njit(error_model="numpy", inline="always")  # compiled inside the dispatch (__init__)
def prepare(hyper, schedule, start, n, k, p):  # noqa: PLR0917
    lerp_weight(k, K_WEIGHT, 1.0 - hyper[1])
    k[K_BETA2] = hyper[2]
    k[K_ONE_MINUS_BETA2] = 1.0 - hyper[2]
    k[K_EPS] = hyper[3]
    for i in range(n):
        t = start + i
        p[i, P_FIRST] = 1.0 if t == 1 else 0.0  # the first gradient only initialises v
        p[i, P_CLIP] = adopt_clip(hyper[4], t)
        p[i, P_STEP] = -rate(hyper[0], schedule, t)


@numba.njit(error_model="numpy", inline="always")  # compiled inside the dispatch (__init__)
def before_root(k, p, state, r, x, g):  # noqa: PLR0917
    if p[P_FIRST] != 0:
        state[EXP_AVG_SQ, r] = fma(g, g, state[EXP_AVG_SQ, r])
        return -1.0
    return state[EXP_AVG_SQ, r]  # √v_{t−1}: the root comes before v is updated


@numba.njit(error_model="numpy", inline="always")  # compiled inside the dispatch (__init__)
def after_root(k, p, state, r, x, g, root):  # noqa: PLR0917
    if p[P_FIRST] != 0:
        return x
    normed = g / max(root, k[K_EPS])  # grad.div(clamp(√v, min=eps))
    normed = min(max(normed, -p[P_CLIP]), p[P_CLIP])  # clamp_(−c_t, c_t)
    state[EXP_AVG, r] = lerp(state[EXP_AVG, r], normed, k[K_WEIGHT], k[K_ONE_MINUS_WEIGHT])
    x = fma(p[P_STEP], state[EXP_AVG, r], x)  # param.add_(exp_avg, alpha=−lr)
    state[EXP_AVG_SQ, r] = fma(k[K_ONE_MINUS_BETA2] * g, g, state[EXP_AVG_SQ, r] * k[K_BETA2])
    return x
