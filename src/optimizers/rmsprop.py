"""torch.optim.RMSprop (momentum, centered, weight decay): the fast engine's rule, as its default
for-loop implementation computes it, and the registration.

    g ← g + λ·x                                  grad.add(param, alpha=weight_decay)
    s ← α·s + (1 − α)·g²                         square_avg.mul_(alpha).addcmul_(g, g, 1 − α)
    ḡ ← ḡ + (1 − α)(g − ḡ)                       grad_avg.lerp_(grad, 1 − alpha)  (centered)
    d = √(s − ḡ²) + ε (centered), else √s + ε
    b ← μ·b + g/d;  x ← x − α_t·b  (momentum μ > 0), else x ← x − α_t·g/d

hyper: lr, alpha, eps, weight decay, momentum, centered.
"""

from __future__ import annotations

import numba
import torch

from src.optimizers.base import Registration, Variant, hyper, torch_only
from src.optimizers.numerics import fma, lerp, lerp_weight, rate

RMSPROP = 4
SQUARE_AVG, GRAD_AVG, MOMENTUM_BUFFER = 0, 1, 2  # state
# constants: α, 1 − α (the addcmul value and lerp weight) and 1 − it in the dtype, eps, λ, μ,
# whether there is a momentum buffer, centered
K_ALPHA, K_WEIGHT, K_ONE_MINUS_WEIGHT, K_EPS, K_L2, K_MOMENTUM, K_BUFFER, K_CENTERED = range(8)
P_STEP = 0  # per step: −α_t


def variant(kw: dict) -> Variant | str:
    why = torch_only(kw)
    values = hyper(
        kw["lr"], kw["alpha"], kw["eps"], kw["weight_decay"], kw["momentum"], bool(kw["centered"])
    )
    return why or Variant(RMSPROP, values, 3)


@numba.njit(error_model="numpy", inline="always")  # compiled inside the kernel's dispatch
def prepare(hyper, schedule, start, n, k, p):  # noqa: PLR0917
    k[K_ALPHA] = hyper[1]
    lerp_weight(k, K_WEIGHT, 1.0 - hyper[1])
    k[K_EPS] = hyper[2]
    k[K_L2] = hyper[3]
    k[K_MOMENTUM] = hyper[4]
    k[K_BUFFER] = 1.0 if hyper[4] > 0 else 0.0
    k[K_CENTERED] = hyper[5]
    for i in range(n):
        p[i, P_STEP] = -rate(hyper[0], schedule, start + i)


@numba.njit(error_model="numpy", inline="always")  # compiled inside the kernel's dispatch
def before_root(code, k, p, state, r, x, g):  # noqa: PLR0917
    if k[K_L2] != 0:
        g = fma(k[K_L2], x, g)
    state[SQUARE_AVG, r] = fma(k[K_WEIGHT] * g, g, state[SQUARE_AVG, r] * k[K_ALPHA])
    if k[K_CENTERED] != 0:  # √(square_avg − grad_avg²): addcmul(grad_avg, grad_avg, value=−1)
        state[GRAD_AVG, r] = lerp(state[GRAD_AVG, r], g, k[K_WEIGHT], k[K_ONE_MINUS_WEIGHT])
        return fma(-state[GRAD_AVG, r], state[GRAD_AVG, r], state[SQUARE_AVG, r])
    return state[SQUARE_AVG, r]


@numba.njit(error_model="numpy", inline="always")  # compiled inside the kernel's dispatch
def after_root(code, k, p, state, r, x, g, root):  # noqa: PLR0917
    if k[K_L2] != 0:
        g = fma(k[K_L2], x, g)
    avg = root + k[K_EPS]
    if k[K_BUFFER] != 0:  # buf.mul_(momentum).addcdiv_(grad, avg); param.add_(buf, alpha=−lr)
        state[MOMENTUM_BUFFER, r] = state[MOMENTUM_BUFFER, r] * k[K_MOMENTUM] + g / avg
        return fma(p[P_STEP], state[MOMENTUM_BUFFER, r], x)
    return x + p[P_STEP] * g / avg


def second_moment(group: dict) -> str | None:
    """The square average, whose root the step divides by; none when centered (it divides by
    √(s − ḡ²))."""
    return None if group.get("centered") else "square_avg"


CODES = (RMSPROP,)
OPTIMIZERS = (Registration(torch.optim.RMSprop, variant, second_moment),)
