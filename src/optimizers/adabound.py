"""AdaBound as the authors' code: Adam's bias-corrected step size, clipped per coordinate into
[η_l(t), η_u(t)] → final_lr. The torch class, the fast engine's rule, the registration.

    m ← β₁·m + (1 − β₁)·g                        m.mul_(β₁).add_(g, alpha=1 − β₁)
    v ← β₂·v + (1 − β₂)·g²                       v.mul_(β₂).addcmul_(g, g, 1 − β₂)
    x ← x − clip(η/(√v + ε), η_l(t), η_u(t))·m   (η, η_l, η_u: `scalars`)

hyper: lr, β₁, β₂, final_lr, γ, eps.
"""

from __future__ import annotations

from collections.abc import Iterable

import numba
import torch
from torch import Tensor

from src.optimizers.base import Registration, Variant, hyper
from src.optimizers.elementwise import Elementwise, zeros
from src.optimizers.numerics import fma, rate
from src.optimizers.scalars import adabound_bounds, adabound_step_size


class AdaBound(Elementwise):
    r"""AdaBound of Luo, Xiong, Liu & Sun, "Adaptive Gradient Methods with Dynamic Bound of
    Learning Rate" (ICLR 2019), as in the authors' code (github.com/Luolc/AdaBound): Adam's
    bias-corrected step size, clipped per coordinate into [η_l(t), η_u(t)] → final_lr.

    .. code-block:: text

        m_t = β₁ m_{t−1} + (1 − β₁) g_t                 m.mul_(β₁).add_(g, alpha=1 − β₁)
        v_t = β₂ v_{t−1} + (1 − β₂) g_t²                v.mul_(β₂).addcmul_(g, g, 1 − β₂)
        η   = α_t √(1 − β₂ᵗ) / (1 − β₁ᵗ)                (Python float)
        α*  = final_lr · α_t / α                        (final_lr follows the lr schedule)
        η_l(t) = α* (1 − 1/(γt + 1)),  η_u(t) = α* (1 + 1/(γt))
        x_{t+1} = x_t − clip(η / (√v_t + ε), η_l(t), η_u(t)) · m_t

    The paper's Algorithm 2 has no bias correction, uses η_t/√t and writes γ as 1 − β₂; the code
    (this class) has bias correction and a separate γ (default 1e-3 = 1 − 0.999). With
    schedule=inv_sqrt, α_t = α/√t scales both the step and the bounds: the paper's η̂_t/√t.
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        *,
        betas: tuple[float, float] = (0.9, 0.999),
        final_lr: float = 0.1,
        gamma: float = 1e-3,
        eps: float = 1e-8,
    ) -> None:
        super().__init__(
            params,
            {"lr": lr, "betas": tuple(betas), "final_lr": final_lr, "gamma": gamma, "eps": eps},
        )
        for group in self.param_groups:
            group.setdefault("base_lr", group["lr"])  # α, before any schedule changes lr

    def _init_state(self, p: Tensor, group: dict) -> dict[str, Tensor]:
        return zeros(p, "exp_avg", "exp_avg_sq")

    def _update(self, p: Tensor, g: Tensor, state: dict, group: dict, t: int) -> None:
        beta1, beta2 = group["betas"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m.mul_(beta1).add_(g, alpha=1 - beta1)
        v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        denom = v.sqrt().add_(group["eps"])
        step_size = adabound_step_size(group["lr"], beta1, beta2, t)
        lower, upper = adabound_bounds(
            group["final_lr"], group["lr"], group["base_lr"], group["gamma"], t
        )
        step = torch.full_like(denom, step_size).div_(denom).clamp_(lower, upper).mul_(m)
        p.sub_(step)


# the fast engine's rule (`base` says what each part does)
ADABOUND = 11
EXP_AVG, EXP_AVG_SQ = 0, 1  # state
K_BETA1, K_ONE_MINUS_BETA1, K_BETA2, K_ONE_MINUS_BETA2, K_EPS = range(5)
P_STEP_SIZE, P_LOWER, P_UPPER = 0, 1, 2  # per step: η, η_l(t), η_u(t)


def variant(kw: dict) -> Variant:
    values = hyper(kw["lr"], *kw["betas"], kw["final_lr"], kw["gamma"], kw["eps"])
    return Variant(ADABOUND, values, 2)


@numba.njit(error_model="numpy", inline="always")  # compiled inside the kernel's dispatch
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


@numba.njit(error_model="numpy", inline="always")  # compiled inside the kernel's dispatch
def before_root(code, k, p, state, r, x, g):  # noqa: PLR0917
    state[EXP_AVG, r] = fma(k[K_ONE_MINUS_BETA1], g, state[EXP_AVG, r] * k[K_BETA1])
    state[EXP_AVG_SQ, r] = fma(k[K_ONE_MINUS_BETA2] * g, g, state[EXP_AVG_SQ, r] * k[K_BETA2])
    return state[EXP_AVG_SQ, r]


@numba.njit(error_model="numpy", inline="always")  # compiled inside the kernel's dispatch
def after_root(code, k, p, state, r, x, g, root):  # noqa: PLR0917
    # full_like(denom, step_size).div_(denom).clamp_(η_l, η_u).mul_(m); param.sub_(step)
    step = min(max(p[P_STEP_SIZE] / (root + k[K_EPS]), p[P_LOWER]), p[P_UPPER])
    return x - step * state[EXP_AVG, r]


CODES = (ADABOUND,)
# no second moment: its clipped step divides by none exactly
OPTIMIZERS = (Registration(AdaBound, variant),)
