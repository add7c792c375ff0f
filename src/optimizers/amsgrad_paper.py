"""AMSGrad exactly as the paper's Algorithm 2 (`AMSGradPaper`) and AdamX, whose max is rescaled
when β₁ₜ decays (`AdamX`): the torch classes, the fast engine's rule, the registration. No bias
correction, eps 0 by default.

    m ← m + (1 − β₁ₜ)(g − m)                     m.lerp_(g, 1 − β₁ₜ),  β₁ₜ = β₁·λ^{t−1}
    v ← β₂·v + (1 − β₂)·g²                       v.mul_(β₂).addcmul_(g, g, 1 − β₂)
    v̂ ← max(v̂, v);  AdamX: max((1 − β₁ₜ)²/(1 − β₁,ₜ₋₁)² · v̂, v)
    x ← x − α_t·m/(√v̂ + ε)                       (a zero denominator: `adaptive_step`)

hyper: lr, β₁, β₂, λ (beta1_decay), eps. Both classes keep v and v̂ in float64 too for a float32
parameter (`elementwise`: underflow).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import numba
import torch
from torch import Tensor

from src.optimizers.base import Registration, Variant, adaptive_step, hyper
from src.optimizers.elementwise import WIDE, Elementwise, adaptive_update, wide_state, zeros
from src.optimizers.numerics import fma, lerp, lerp_weight, rate
from src.optimizers.scalars import adamx_ratio, beta1_t


class AMSGradPaper(Elementwise):
    r"""AMSGrad exactly as Algorithm 2 of Reddi, Kale & Kumar, "On the Convergence of Adam and
    Beyond" (ICLR 2018): no bias correction, eps 0 by default, the max on the raw v_t.

    .. code-block:: text

        β₁ₜ = β₁·λ^{t−1}                               (λ = beta1_decay; 1: β₁ₜ = β₁)
        m_t = β₁ₜ m_{t−1} + (1 − β₁ₜ) g_t               m.lerp_(g, 1 − β₁ₜ)
        v_t = β₂ v_{t−1} + (1 − β₂) g_t²                v.mul_(β₂).addcmul_(g, g, 1 − β₂)
        v̂_t = max(v̂_{t−1}, v_t)
        x_{t+1} = x_t − α_t m_t / (√v̂_t + ε)            (√v̂_t + ε = 0: no step)

    α_t is the group's lr (α/√t with schedule=inv_sqrt, the paper's Theorem 4). With g_1 ≠ 0,
    v̂_t > 0 for every t, so eps = 0 is safe; PyTorch's `Adam(amsgrad=True)` differs by its bias
    corrections and eps.
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        *,
        betas: tuple[float, float] = (0.9, 0.99),
        beta1_decay: float = 1.0,
        eps: float = 0.0,
    ) -> None:
        super().__init__(
            params, {"lr": lr, "betas": tuple(betas), "beta1_decay": beta1_decay, "eps": eps}
        )

    def _init_state(self, p: Tensor, group: dict) -> dict[str, Tensor]:
        return {**zeros(p, "exp_avg", "exp_avg_sq", "max_exp_avg_sq"), **wide_state(p)}

    def _update(self, p: Tensor, g: Tensor, state: dict, group: dict, t: int) -> None:
        beta2 = group["betas"][1]
        m, v, v_hat = state["exp_avg"], state["exp_avg_sq"], state["max_exp_avg_sq"]
        m.lerp_(g, 1 - beta1_t(group["betas"][0], group["beta1_decay"], t))
        v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        self._rescale_max(v_hat, group, t)
        torch.maximum(v_hat, v, out=v_hat)
        wide = None
        if WIDE[0] in state:  # the same recurrence in float64 (module docstring: underflow)
            v_wide, v_hat_wide, g_wide = state[WIDE[0]], state[WIDE[1]], g.double()
            v_wide.mul_(beta2).addcmul_(g_wide, g_wide, value=1 - beta2)
            self._rescale_max(v_hat_wide, group, t)
            torch.maximum(v_hat_wide, v_wide, out=v_hat_wide)
            wide = v_hat_wide.sqrt().add_(group["eps"])
        adaptive_update(p, m, v_hat.sqrt().add_(group["eps"]), group["lr"], wide)

    def _rescale_max(self, v_hat: Tensor, group: dict, t: int) -> None:
        """What happens to v̂_{t−1} before the max: nothing here (AdamX rescales it)."""


class AdamX(AMSGradPaper):
    r"""AdamX of Phuong & Phong, "On the Convergence Proof of AMSGrad and a New Version" (IEEE
    Access 2019): AMSGrad whose running max is rescaled when β₁ₜ decays; no bias correction.

    .. code-block:: text

        β₁ₜ = β₁·λ^{t−1}                               (λ = beta1_decay)
        m_t = β₁ₜ m_{t−1} + (1 − β₁ₜ) g_t               m.lerp_(g, 1 − β₁ₜ)
        v_t = β₂ v_{t−1} + (1 − β₂) g_t²                v.mul_(β₂).addcmul_(g, g, 1 − β₂)
        v̂_t = max((1 − β₁ₜ)²/(1 − β₁,ₜ₋₁)² · v̂_{t−1}, v_t)   (v̂_0 = 0; the ratio is 1 at t = 1)
        x_{t+1} = x_t − α_t m_t / (√v̂_t + ε)           (√v̂_t + ε = 0: no step)

    With λ = 1 the ratio is exactly 1 and AdamX is `AMSGradPaper`.
    """

    def _rescale_max(self, v_hat: Tensor, group: dict, t: int) -> None:
        v_hat.mul_(adamx_ratio(group["betas"][0], group["beta1_decay"], t))


# the fast engine's rule (`base` says what each part does)
AMSGRAD_PAPER, ADAMX = 7, 9
EXP_AVG, EXP_AVG_SQ, MAX_EXP_AVG_SQ = 0, 1, 2  # state
K_BETA2, K_ONE_MINUS_BETA2, K_EPS = 0, 1, 2
# per step: the lerp weight 1 − β₁ₜ and 1 − it, AdamX's ratio (1 at t = 1), −α_t
P_WEIGHT, P_ONE_MINUS_WEIGHT, P_RATIO, P_STEP = range(4)


def variant(kw: dict, code: int = AMSGRAD_PAPER) -> Variant:
    values = hyper(kw["lr"], *kw["betas"], kw["beta1_decay"], kw["eps"])
    return Variant(code, values, 3, wide=True)


@numba.njit(error_model="numpy", inline="always")  # compiled inside the kernel's dispatch
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


@numba.njit(error_model="numpy", inline="always")  # compiled inside the kernel's dispatch
def before_root(code, k, p, state, r, x, g):  # noqa: PLR0917
    state[EXP_AVG, r] = lerp(state[EXP_AVG, r], g, p[P_WEIGHT], p[P_ONE_MINUS_WEIGHT])
    state[EXP_AVG_SQ, r] = fma(k[K_ONE_MINUS_BETA2] * g, g, state[EXP_AVG_SQ, r] * k[K_BETA2])
    v_hat = state[MAX_EXP_AVG_SQ, r]
    if code == ADAMX:  # max_exp_avg_sq.mul_(ratio), then the max
        v_hat = v_hat * p[P_RATIO]
    state[MAX_EXP_AVG_SQ, r] = max(v_hat, state[EXP_AVG_SQ, r])
    return state[MAX_EXP_AVG_SQ, r]


@numba.njit(error_model="numpy", inline="always")  # compiled inside the kernel's dispatch
def after_root(code, k, p, state, r, x, g, root):  # noqa: PLR0917
    return adaptive_step(k, x, state[EXP_AVG, r], root + k[K_EPS], p[P_STEP], True)


CODES = (AMSGRAD_PAPER, ADAMX)
OPTIMIZERS = (
    Registration(AMSGradPaper, variant, second_moment="max_exp_avg_sq"),
    Registration(AdamX, functools.partial(variant, code=ADAMX), second_moment="max_exp_avg_sq"),
)
