"""torch.optim.SGD (momentum, dampening, nesterov, weight decay): the fast engine's rule, as its
default for-loop implementation computes it, and the registration.

    g ← g + λ·x                                  grad.add(param, alpha=weight_decay)
    b ← g (t = 1), else μ·b + (1 − τ)·g          buf.mul_(momentum).add_(grad, alpha=1 − d)
    g ← g + μ·b (nesterov), else b               (only with momentum μ ≠ 0)
    x ← x − α_t·g                                param.add_(grad, alpha=−lr)

hyper: lr, momentum, dampening, weight decay, nesterov. No square root.
"""

from __future__ import annotations

import numba
import torch

from src.optimizers.base import Registration, Variant, hyper, torch_only
from src.optimizers.numerics import fma, rate

SGD = 2
MOMENTUM_BUFFER = 0  # state
# constants: μ, 1 − dampening, λ, nesterov, whether there is a momentum buffer at all
K_MOMENTUM, K_ONE_MINUS_DAMPENING, K_L2, K_NESTEROV, K_BUFFER = range(5)
P_STEP, P_FIRST = 0, 1  # per step: −α_t, whether t = 1 (the buffer starts as a copy of g)


def variant(kw: dict) -> Variant | str:
    why = torch_only(kw)
    values = hyper(
        kw["lr"], kw["momentum"], kw["dampening"], kw["weight_decay"], bool(kw["nesterov"])
    )
    return why or Variant(SGD, values, 1)


@numba.njit(error_model="numpy", inline="always")  # compiled inside the kernel's dispatch
def prepare(hyper, schedule, start, n, k, p):  # noqa: PLR0917
    k[K_MOMENTUM] = hyper[1]
    k[K_ONE_MINUS_DAMPENING] = 1.0 - hyper[2]
    k[K_L2] = hyper[3]
    k[K_NESTEROV] = hyper[4]
    k[K_BUFFER] = 1.0 if hyper[1] != 0 else 0.0
    for i in range(n):
        t = start + i
        p[i, P_STEP] = -rate(hyper[0], schedule, t)
        p[i, P_FIRST] = 1.0 if t == 1 else 0.0


@numba.njit(error_model="numpy", inline="always")  # compiled inside the kernel's dispatch
def before_root(code, k, p, state, r, x, g):  # noqa: PLR0917
    return -1.0


@numba.njit(error_model="numpy", inline="always")  # compiled inside the kernel's dispatch
def after_root(code, k, p, state, r, x, g, root):  # noqa: PLR0917
    if k[K_L2] != 0:
        g = fma(k[K_L2], x, g)
    if k[K_BUFFER] != 0:
        buffer = state[MOMENTUM_BUFFER, r]
        buffer = g if p[P_FIRST] != 0 else fma(k[K_ONE_MINUS_DAMPENING], g, buffer * k[K_MOMENTUM])
        state[MOMENTUM_BUFFER, r] = buffer
        g = fma(k[K_MOMENTUM], buffer, g) if k[K_NESTEROV] != 0 else buffer
    return fma(p[P_STEP], g, x)


CODES = (SGD,)
OPTIMIZERS = (Registration(torch.optim.SGD, variant),)  # no second moment
