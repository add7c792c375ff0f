"""AdamNC, the paper's Algorithm 3 with Corollary 2's β₂ₜ = 1 − 1/t: the torch class, the fast
engine's rule, the registration.

    m ← m + (1 − β₁ₜ)(g − m)                     m.lerp_(g, 1 − β₁ₜ),  β₁ₜ = β₁·λ^{t−1}
    v ← (1 − 1/t)·v + (1/t)·g²                   v.mul_(1 − 1/t).addcmul_(g, g, 1/t)
    x ← x − α_t·m/(√v + ε)                       (a zero denominator: `adaptive_step`)

hyper: lr, β₁, λ (beta1_decay), eps. The class keeps v in float64 too for a float32 parameter
(`elementwise`: underflow).
"""

from __future__ import annotations

from collections.abc import Iterable

import numba
from torch import Tensor

from src.optimizers.base import Registration, Variant, adaptive_step, hyper
from src.optimizers.elementwise import WIDE, Elementwise, adaptive_update, wide_state, zeros
from src.optimizers.numerics import fma, lerp, lerp_weight, rate
from src.optimizers.scalars import beta1_t


class AdamNC(Elementwise):
    r"""AdamNC, Algorithm 3 of Reddi, Kale & Kumar (ICLR 2018) with Corollary 2's schedule
    β₂ₜ = 1 − 1/t, so v_t is the plain mean of g_1², …, g_t²; no bias correction, no max.

    .. code-block:: text

        β₁ₜ = β₁·λ^{t−1}                               (λ = beta1_decay)
        m_t = β₁ₜ m_{t−1} + (1 − β₁ₜ) g_t               m.lerp_(g, 1 − β₁ₜ)
        v_t = (1 − 1/t) v_{t−1} + (1/t) g_t²            v.mul_(1 − 1/t).addcmul_(g, g, 1/t)
        x_{t+1} = x_t − α_t m_t / (√v_t + ε)            (√v_t + ε = 0: no step)
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        *,
        beta1: float = 0.9,
        beta1_decay: float = 1.0,
        eps: float = 0.0,
    ) -> None:
        super().__init__(params, {"lr": lr, "beta1": beta1, "beta1_decay": beta1_decay, "eps": eps})

    def _init_state(self, p: Tensor, group: dict) -> dict[str, Tensor]:
        return {**zeros(p, "exp_avg", "exp_avg_sq"), **wide_state(p, WIDE[:1])}  # v: no max

    def _update(self, p: Tensor, g: Tensor, state: dict, group: dict, t: int) -> None:
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m.lerp_(g, 1 - beta1_t(group["beta1"], group["beta1_decay"], t))
        v.mul_(1 - 1 / t).addcmul_(g, g, value=1 / t)
        wide = None
        if WIDE[0] in state:  # the same recurrence in float64 (module docstring: underflow)
            v_wide, g_wide = state[WIDE[0]], g.double()
            v_wide.mul_(1 - 1 / t).addcmul_(g_wide, g_wide, value=1 / t)
            wide = v_wide.sqrt().add_(group["eps"])
        adaptive_update(p, m, v.sqrt().add_(group["eps"]), group["lr"], wide)


# the fast engine's rule (`base` says what each part does)
ADAMNC = 8
EXP_AVG, EXP_AVG_SQ = 0, 1  # state
K_EPS = 0
# per step: the lerp weight 1 − β₁ₜ and 1 − it, β₂ₜ = 1 − 1/t, 1 − β₂ₜ = 1/t, −α_t
P_WEIGHT, P_ONE_MINUS_WEIGHT, P_BETA2, P_ONE_MINUS_BETA2, P_STEP = range(5)


def variant(kw: dict) -> Variant:
    values = hyper(kw["lr"], kw["beta1"], kw["beta1_decay"], kw["eps"])
    return Variant(ADAMNC, values, 2, wide=True)


@numba.njit(error_model="numpy", inline="always")  # compiled inside the kernel's dispatch
def prepare(hyper, schedule, start, n, k, p):  # noqa: PLR0917
    k[K_EPS] = hyper[3]
    for i in range(n):
        t = start + i
        lerp_weight(p[i], P_WEIGHT, 1.0 - beta1_t(hyper[1], hyper[2], t))
        p[i, P_BETA2] = 1.0 - 1.0 / t
        p[i, P_ONE_MINUS_BETA2] = 1.0 / t
        p[i, P_STEP] = -rate(hyper[0], schedule, t)


@numba.njit(error_model="numpy", inline="always")  # compiled inside the kernel's dispatch
def before_root(code, k, p, state, r, x, g):  # noqa: PLR0917
    state[EXP_AVG, r] = lerp(state[EXP_AVG, r], g, p[P_WEIGHT], p[P_ONE_MINUS_WEIGHT])
    state[EXP_AVG_SQ, r] = fma(p[P_ONE_MINUS_BETA2] * g, g, state[EXP_AVG_SQ, r] * p[P_BETA2])
    return state[EXP_AVG_SQ, r]


@numba.njit(error_model="numpy", inline="always")  # compiled inside the kernel's dispatch
def after_root(code, k, p, state, r, x, g, root):  # noqa: PLR0917
    return adaptive_step(k, x, state[EXP_AVG, r], root + k[K_EPS], p[P_STEP], True)


CODES = (ADAMNC,)
OPTIMIZERS = (Registration(AdamNC, variant, second_moment="exp_avg_sq"),)
