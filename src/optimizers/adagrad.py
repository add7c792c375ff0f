"""torch.optim.Adagrad (lr decay, weight decay, initial accumulator): the fast engine's rule, as
its default for-loop implementation computes it, and the registration.

    g ← g + λ·x                                  grad.add(param, alpha=weight_decay)
    s ← s + g²                                   state_sum.addcmul_(grad, grad, value=1)
    x ← x − α_t/(1 + (t − 1)·lr_decay) · g/(√s + ε)

hyper: lr, lr decay, weight decay, eps; the state starts at initial_accumulator_value.
"""

from __future__ import annotations

import numba
import torch

from src.optimizers.base import Registration, Variant, hyper, torch_only
from src.optimizers.numerics import fma, rate

ADAGRAD = 3
STATE_SUM = 0  # state
K_L2, K_EPS = 0, 1
P_STEP = 0  # per step: −clr = −α_t/(1 + (t − 1)·lr_decay)


def variant(kw: dict) -> Variant | str:
    why = torch_only(kw)
    values = hyper(kw["lr"], kw["lr_decay"], kw["weight_decay"], kw["eps"])
    return why or Variant(ADAGRAD, values, 1, initial=(kw["initial_accumulator_value"],))


@numba.njit(error_model="numpy", inline="always")  # compiled inside the kernel's dispatch
def prepare(hyper, schedule, start, n, k, p):  # noqa: PLR0917
    k[K_L2] = hyper[2]
    k[K_EPS] = hyper[3]
    for i in range(n):
        t = start + i
        p[i, P_STEP] = -(rate(hyper[0], schedule, t) / (1 + (t - 1) * hyper[1]))


@numba.njit(error_model="numpy", inline="always")  # compiled inside the kernel's dispatch
def before_root(code, k, p, state, r, x, g):  # noqa: PLR0917
    if k[K_L2] != 0:
        g = fma(k[K_L2], x, g)
    state[STATE_SUM, r] = fma(g, g, state[STATE_SUM, r])
    return state[STATE_SUM, r]


@numba.njit(error_model="numpy", inline="always")  # compiled inside the kernel's dispatch
def after_root(code, k, p, state, r, x, g, root):  # noqa: PLR0917
    if k[K_L2] != 0:
        g = fma(k[K_L2], x, g)
    return x + p[P_STEP] * g / (root + k[K_EPS])  # addcdiv_(grad, sqrt().add_(eps), value=−clr)


CODES = (ADAGRAD,)
OPTIMIZERS = (Registration(torch.optim.Adagrad, variant, second_moment="sum"),)
