"""ADOPT of Taniguchi et al. (NeurIPS 2024) as the authors' code, in which g_t is normalised by
the previous v before it enters m: the torch class, the fast engine's rule, the registration.

    t = 1:  v ← g²; x unchanged                  exp_avg_sq.addcmul_(grad, grad)
    t ≥ 2:  n = clip(g/max(√v, ε), c_t)          c_t = (t − 1)^clip_exponent (`scalars`)
            m ← m + (1 − β₁)(n − m);  x ← x − α_t·m;  v ← β₂·v + (1 − β₂)·g²

hyper: lr, β₁, β₂, eps, clip exponent (NaN: no clipping).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numba
import torch
from torch import Tensor

from src.optimizers.base import Registration, Variant, hyper
from src.optimizers.elementwise import Elementwise, zeros
from src.optimizers.numerics import fma, lerp, lerp_weight, rate
from src.optimizers.scalars import adopt_clip


class ADOPT(Elementwise):
    r"""ADOPT of Taniguchi et al., "ADOPT: Modified Adam Can Converge with Any β₂ with the
    Optimal Rate" (NeurIPS 2024), as in the authors' code (github.com/iShohei220/adopt, with the
    clipping added there in Nov. 2024): g_t is normalised by the *previous* v before it enters m.

    .. code-block:: text

        t = 1:  v_1 = g_1²; x unchanged                 (the paper's v_0 = g_0²)
        t ≥ 2:  n_t = clip(g_t / max(√v_{t−1}, ε), c_t)      c_t = (t − 1)^clip_exponent
                m_t = β₁ m_{t−1} + (1 − β₁) n_t          m.lerp_(n, 1 − β₁)
                x_{t+1} = x_t − α_t m_t                  x.add_(m, alpha=−α_t)
                v_t = β₂ v_{t−1} + (1 − β₂) g_t²         v.mul_(β₂).addcmul_(g, g, 1 − β₂)

    clip(·, c) clamps to [−c, c]; the code's default clip_lambda is step**0.25 with its `step`
    = t − 1, the number of earlier gradients. clip_exponent = None is the unclipped original.
    No weight decay (the code's `weight_decay`, `decouple` are not implemented).
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        *,
        betas: tuple[float, float] = (0.9, 0.9999),
        eps: float = 1e-6,
        clip_exponent: float | None = 0.25,
    ) -> None:
        super().__init__(
            params, {"lr": lr, "betas": tuple(betas), "eps": eps, "clip_exponent": clip_exponent}
        )

    def _init_state(self, p: Tensor, group: dict) -> dict[str, Tensor]:
        return zeros(p, "exp_avg", "exp_avg_sq")

    def _update(self, p: Tensor, g: Tensor, state: dict, group: dict, t: int) -> None:
        beta1, beta2 = group["betas"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        if t == 1:
            v.addcmul_(g, g)
            return
        normed = g.div(torch.clamp(v.sqrt(), min=group["eps"]))
        if group["clip_exponent"] is not None:
            clip = adopt_clip(group["clip_exponent"], t)
            normed.clamp_(-clip, clip)
        m.lerp_(normed, 1 - beta1)
        p.add_(m, alpha=-group["lr"])
        v.mul_(beta2).addcmul_(g, g, value=1 - beta2)


# the fast engine's rule (`base` says what each part does)
ADOPT_CODE = 12  # (ADOPT is the class)
EXP_AVG, EXP_AVG_SQ = 0, 1  # state
K_WEIGHT, K_ONE_MINUS_WEIGHT, K_BETA2, K_ONE_MINUS_BETA2, K_EPS = range(5)
P_FIRST, P_CLIP, P_STEP = 0, 1, 2  # per step: whether t = 1, c_t, −α_t


def variant(kw: dict) -> Variant:
    clip = kw["clip_exponent"]
    values = hyper(kw["lr"], *kw["betas"], kw["eps"], math.nan if clip is None else clip)
    return Variant(ADOPT_CODE, values, 2)


@numba.njit(error_model="numpy", inline="always")  # compiled inside the kernel's dispatch
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


@numba.njit(error_model="numpy", inline="always")  # compiled inside the kernel's dispatch
def before_root(code, k, p, state, r, x, g):  # noqa: PLR0917
    if p[P_FIRST] != 0:
        state[EXP_AVG_SQ, r] = fma(g, g, state[EXP_AVG_SQ, r])
        return -1.0
    return state[EXP_AVG_SQ, r]  # √v_{t−1}: the root comes before v is updated


@numba.njit(error_model="numpy", inline="always")  # compiled inside the kernel's dispatch
def after_root(code, k, p, state, r, x, g, root):  # noqa: PLR0917
    if p[P_FIRST] != 0:
        return x
    normed = g / max(root, k[K_EPS])  # grad.div(clamp(√v, min=eps))
    normed = min(max(normed, -p[P_CLIP]), p[P_CLIP])  # clamp_(−c_t, c_t)
    state[EXP_AVG, r] = lerp(state[EXP_AVG, r], normed, k[K_WEIGHT], k[K_ONE_MINUS_WEIGHT])
    x = fma(p[P_STEP], state[EXP_AVG, r], x)  # param.add_(exp_avg, alpha=−lr)
    state[EXP_AVG_SQ, r] = fma(k[K_ONE_MINUS_BETA2] * g, g, state[EXP_AVG_SQ, r] * k[K_BETA2])
    return x


CODES = (ADOPT_CODE,)
# no second moment: its step divides by the previous v
OPTIMIZERS = (Registration(ADOPT, variant),)
