"""Yogi, Algorithm 2 of Zaheer et al. (NeurIPS 2018), in which v moves additively: the torch
class, the fast engine's rule, the registration.

    m ← m + (1 − β₁)(g − m)                      m.lerp_(g, 1 − β₁)
    v ← v − (1 − β₂)·sign(v − g²)·g²             v.addcmul_(sign(v − g·g), g·g, −(1 − β₂))
    x ← x − α_t·m/(√v + ε)                       (a zero denominator: `adaptive_step`)

hyper: lr, β₁, β₂, eps; v starts at initial_accumulator.
"""

from __future__ import annotations

from collections.abc import Iterable

import numba
import numpy as np
import torch
from torch import Tensor

from src.optimizers.base import Registration, Variant, adaptive_step, hyper
from src.optimizers.elementwise import Elementwise, safe
from src.optimizers.numerics import cast, fma, lerp, lerp_weight, rate


class Yogi(Elementwise):
    r"""Yogi, Algorithm 2 of Zaheer, Reddi, Sachan, Kale & Kumar, "Adaptive Methods for
    Nonconvex Optimization" (NeurIPS 2018): Adam whose v moves additively, by (1−β₂)g_t² towards
    g_t², so after large gradients v shrinks slowly and the effective step α/√v grows slowly
    (Adam's v decays geometrically, and its step can jump).

    .. code-block:: text

        m_t = β₁ m_{t−1} + (1 − β₁) g_t                 m.lerp_(g, 1 − β₁)
        v_t = v_{t−1} − (1 − β₂) sign(v_{t−1} − g_t²) g_t²
                                     v.addcmul_(sign(v − g·g), g·g, value=−(1 − β₂))
        x_{t+1} = x_t − α_t m_t / (√v_t + ε)            (√v_t + ε = 0: no step)

    The paper's algorithm: no bias correction (the TensorFlow implementations add Adam's),
    m_0 = 0. ε = 1e-3 as in the paper's experiments; v_0 = initial_accumulator = 1e-6, the
    TensorFlow (Addons / Federated) default, so v_t > 0 from the start.
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-2,
        *,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-3,
        initial_accumulator: float = 1e-6,
    ) -> None:
        super().__init__(
            params,
            {
                "lr": lr,
                "betas": tuple(betas),
                "eps": eps,
                "initial_accumulator": initial_accumulator,
            },
        )

    def _init_state(self, p: Tensor, group: dict) -> dict[str, Tensor]:
        return {
            "exp_avg": torch.zeros_like(p),
            "exp_avg_sq": torch.full_like(p, group["initial_accumulator"]),
        }

    def _update(self, p: Tensor, g: Tensor, state: dict, group: dict, t: int) -> None:
        beta1, beta2 = group["betas"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m.lerp_(g, 1 - beta1)
        g2 = g * g
        v.addcmul_(torch.sign(v - g2), g2, value=-(1 - beta2))
        p.addcdiv_(m, safe(v.sqrt().add_(group["eps"])), value=-group["lr"])


# the fast engine's rule (`base` says what each part does)
YOGI = 10
EXP_AVG, EXP_AVG_SQ = 0, 1  # state
K_WEIGHT, K_ONE_MINUS_WEIGHT, K_VALUE, K_EPS = range(4)  # 1 − β₁ and 1 − it, −(1 − β₂), eps
P_STEP = 0  # per step: −α_t


def variant(kw: dict) -> Variant:
    values = hyper(kw["lr"], *kw["betas"], kw["eps"])
    return Variant(YOGI, values, 2, initial=(0.0, kw["initial_accumulator"]))


@numba.njit(error_model="numpy", inline="always")  # compiled inside the kernel's dispatch
def prepare(hyper, schedule, start, n, k, p):  # noqa: PLR0917
    lerp_weight(k, K_WEIGHT, 1.0 - hyper[1])
    k[K_VALUE] = -(1.0 - hyper[2])  # addcmul value
    k[K_EPS] = hyper[3]
    for i in range(n):
        p[i, P_STEP] = -rate(hyper[0], schedule, start + i)


@numba.njit(error_model="numpy", inline="always")  # compiled inside the kernel's dispatch
def before_root(code, k, p, state, r, x, g):  # noqa: PLR0917
    state[EXP_AVG, r] = lerp(state[EXP_AVG, r], g, k[K_WEIGHT], k[K_ONE_MINUS_WEIGHT])
    g2 = g * g
    v = state[EXP_AVG_SQ, r]
    state[EXP_AVG_SQ, r] = fma(k[K_VALUE] * cast(k, np.sign(v - g2)), g2, v)
    return state[EXP_AVG_SQ, r]


@numba.njit(error_model="numpy", inline="always")  # compiled inside the kernel's dispatch
def after_root(code, k, p, state, r, x, g, root):  # noqa: PLR0917
    return adaptive_step(k, x, state[EXP_AVG, r], root + k[K_EPS], p[P_STEP], False)


CODES = (YOGI,)
OPTIMIZERS = (Registration(Yogi, variant, second_moment="exp_avg_sq"),)
