"""Yogi, Algorithm 2 of Zaheer et al. (NeurIPS 2018) (`paper.Yogi`): v moves additively.

    m ← m + (1 − β₁)(g − m)                      m.lerp_(g, 1 − β₁)
    v ← v − (1 − β₂)·sign(v − g²)·g²             v.addcmul_(sign(v − g·g), g·g, −(1 − β₂))
    x ← x − α_t·m/(√v + ε)                       (a zero denominator: `adaptive_step`)

hyper: lr, β₁, β₂, eps; v starts at initial_accumulator.
"""

from __future__ import annotations

import numba
import numpy as np

from src.engines.fast.numerics import cast, fma, lerp, lerp_weight, rate
from src.engines.fast.rules.base import Variant, adaptive_step, hyper

YOGI = 10
EXP_AVG, EXP_AVG_SQ = 0, 1  # state
K_WEIGHT, K_ONE_MINUS_WEIGHT, K_VALUE, K_EPS = range(4)  # 1 − β₁ and 1 − it, −(1 − β₂), eps
P_STEP = 0  # per step: −α_t


def variant(kw: dict) -> Variant:
    values = hyper(kw["lr"], *kw["betas"], kw["eps"])
    return Variant(YOGI, values, 2, initial=(0.0, kw["initial_accumulator"]))


@numba.njit(error_model="numpy", inline="always")  # compiled inside the dispatch (__init__)
def prepare(hyper, schedule, start, n, k, p):  # noqa: PLR0917
    lerp_weight(k, K_WEIGHT, 1.0 - hyper[1])
    k[K_VALUE] = -(1.0 - hyper[2])  # addcmul value
    k[K_EPS] = hyper[3]
    for i in range(n):
        p[i, P_STEP] = -rate(hyper[0], schedule, start + i)


@numba.njit(error_model="numpy", inline="always")  # compiled inside the dispatch (__init__)
def before_root(k, p, state, r, x, g):  # noqa: PLR0917
    state[EXP_AVG, r] = lerp(state[EXP_AVG, r], g, k[K_WEIGHT], k[K_ONE_MINUS_WEIGHT])
    g2 = g * g
    v = state[EXP_AVG_SQ, r]
    state[EXP_AVG_SQ, r] = fma(k[K_VALUE] * cast(k, np.sign(v - g2)), g2, v)
    return state[EXP_AVG_SQ, r]


@numba.njit(error_model="numpy", inline="always")  # compiled inside the dispatch (__init__)
def after_root(k, p, state, r, x, g, root):  # noqa: PLR0917
    return adaptive_step(k, x, state[EXP_AVG, r], root + k[K_EPS], p[P_STEP], False)
