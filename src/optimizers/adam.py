"""torch.optim.Adam and AdamW (amsgrad, either weight decay): the fast engine's rule, as torch's
default for-loop implementation computes them, and the registration of both classes. NAdam and
RAdam (`nadam`, `radam`) reuse its constants and moments.

    g ← g + λ·x                                  grad.add(param, alpha=weight_decay)  (L2)
    x ← x·(1 − α_t·λ)                            param.mul_(1 − lr·weight_decay)  (AdamW)
    m ← m + (1 − β₁)(g − m)                      exp_avg.lerp_(grad, 1 − beta1)
    v ← β₂·v + (1 − β₂)·g²                       exp_avg_sq.mul_(beta2).addcmul_(g, g, 1 − beta2)
    v̂ ← max(v̂, v)                                (amsgrad: the max of the uncorrected moment)
    x ← x − α_t/(1 − β₁ᵗ) · m / (√v̂ / √(1 − β₂ᵗ) + ε)

hyper: lr, β₁, β₂, eps, weight decay, decoupled.
"""

from __future__ import annotations

import functools

import numba
import torch

from src.optimizers.base import Registration, Variant, hyper, torch_only
from src.optimizers.numerics import fma, lerp, lerp_weight, rate
from src.optimizers.scalars import pow_py, power

ADAM, AMSGRAD = 0, 1
EXP_AVG, EXP_AVG_SQ, MAX_EXP_AVG_SQ = 0, 1, 2  # state
# constants (shared with NAdam and RAdam): lerp weight 1 − β₁ and 1 − it, β₂, 1 − β₂, eps, the L2
# coefficient (0 when decoupled), whether x decays (decoupled and λ ≠ 0)
K_WEIGHT, K_ONE_MINUS_WEIGHT, K_BETA2, K_ONE_MINUS_BETA2, K_EPS, K_L2, K_DECOUPLED = range(7)
P_BIAS2_SQRT, P_STEP = 0, 1  # per step: √(1 − β₂ᵗ), the addcdiv value −α_t/(1 − β₁ᵗ)
P_DECAY = 7  # per step, shared with NAdam and RAdam: 1 − α_t·λ (decoupled weight decay)


def variant(kw: dict, decoupled: bool = False) -> Variant | str:
    why = torch_only(kw)
    if why:
        return why
    decoupled = decoupled or bool(kw["decoupled_weight_decay"])
    values = hyper(kw["lr"], *kw["betas"], kw["eps"], kw["weight_decay"], decoupled)
    amsgrad = bool(kw["amsgrad"])
    return Variant(AMSGRAD if amsgrad else ADAM, values, 3 if amsgrad else 2)


@numba.njit(error_model="numpy", inline="always")  # compiled inside the kernel's dispatch
def constants(hyper, k):
    """k's shared slots from hyper = lr, β₁, β₂, eps, weight decay, …, decoupled (last)."""
    beta1, beta2, wd = hyper[1], hyper[2], hyper[4]
    decoupled = hyper[hyper.shape[0] - 1] != 0
    lerp_weight(k, K_WEIGHT, 1.0 - beta1)
    k[K_BETA2] = beta2
    k[K_ONE_MINUS_BETA2] = 1.0 - beta2
    k[K_EPS] = hyper[3]
    k[K_L2] = 0.0 if decoupled else wd  # grad.add(param, alpha=weight_decay)
    k[K_DECOUPLED] = 1.0 if decoupled and wd != 0 else 0.0  # param.mul_(1 − lr·weight_decay)


@numba.njit(error_model="numpy", inline="always")  # compiled inside the kernel's dispatch
def prepare(hyper, schedule, start, n, k, p):  # noqa: PLR0917
    constants(hyper, k)
    lr, beta1, beta2, wd = hyper[0], hyper[1], hyper[2], hyper[4]
    for i in range(n):
        t = start + i
        rate_t = rate(lr, schedule, t)
        p[i, P_DECAY] = 1.0 - rate_t * wd
        p[i, P_BIAS2_SQRT] = pow_py(1.0 - power(beta2, t), 0.5)  # bias_correction2**0.5
        p[i, P_STEP] = -(rate_t / (1.0 - power(beta1, t)))  # −lr/bias_correction1


@numba.njit(error_model="numpy", inline="always")  # compiled inside the kernel's dispatch
def moments(k, state, r, x, g):
    """m and v of Adam, NAdam and RAdam (with the L2 term): v·β₂, then fma((1−β₂)·g, g, ·)."""
    if k[K_L2] != 0:
        g = fma(k[K_L2], x, g)
    state[EXP_AVG, r] = lerp(state[EXP_AVG, r], g, k[K_WEIGHT], k[K_ONE_MINUS_WEIGHT])
    state[EXP_AVG_SQ, r] = fma(k[K_ONE_MINUS_BETA2] * g, g, state[EXP_AVG_SQ, r] * k[K_BETA2])


@numba.njit(error_model="numpy", inline="always")  # compiled inside the kernel's dispatch
def before_root(code, k, p, state, r, x, g):  # noqa: PLR0917
    moments(k, state, r, x, g)
    if code == AMSGRAD:
        state[MAX_EXP_AVG_SQ, r] = max(state[MAX_EXP_AVG_SQ, r], state[EXP_AVG_SQ, r])
        return state[MAX_EXP_AVG_SQ, r]
    return state[EXP_AVG_SQ, r]


@numba.njit(error_model="numpy", inline="always")  # compiled inside the kernel's dispatch
def after_root(code, k, p, state, r, x, g, root):  # noqa: PLR0917
    if k[K_DECOUPLED] != 0:
        x = x * p[P_DECAY]
    denom = root / p[P_BIAS2_SQRT] + k[K_EPS]  # (√v / bias_correction2_sqrt).add_(eps)
    return x + p[P_STEP] * state[EXP_AVG, r] / denom  # param.addcdiv_(exp_avg, denom, −step)


def second_moment(group: dict) -> str:
    """The state whose root the step divides by: v, or v̂ = max v with amsgrad."""
    return "max_exp_avg_sq" if group.get("amsgrad") else "exp_avg_sq"


CODES = (ADAM, AMSGRAD)
OPTIMIZERS = (
    Registration(torch.optim.Adam, variant, second_moment),
    Registration(torch.optim.AdamW, functools.partial(variant, decoupled=True), second_moment),
)
