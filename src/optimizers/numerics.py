"""The fast engine's scalar arithmetic, operation for operation as torch's CPU kernels do it: a
scalar cast to the tensor's dtype, fused multiply-adds, torch's lerp, LambdaLR's α_t. The rules
of the family modules are written with these (compiled inside the engine's kernel)."""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic, overload


def cast(like, value):  # value in the dtype of the array `like` (compiled below)
    raise NotImplementedError


@overload(cast)
def _cast_impl(like, value):
    if like.dtype == types.float32:
        return lambda like, value: np.float32(value)
    return lambda like, value: np.float64(value)


@intrinsic
def fma(typingctx, a, b, c):
    """a·b + c rounded once, in the operands' dtype (torch's CPU kernels are built with FMA)."""
    sig = a(a, a, a)

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return sig, codegen


@numba.njit(cache=True)
def lerp(start, end, weight, one_minus_weight):
    """torch's CPU lerp: start + w·(end − start) for |w| < 0.5, else end − (end − start)·(1 − w),
    each as one fused multiply-add, in the operands' dtype."""
    if abs(weight) < 0.5:
        return fma(weight, end - start, start)
    return fma(-(end - start), one_minus_weight, end)


@numba.njit(cache=True)
def lerp_weight(target, at, weight):
    """target[at] = a lerp weight, target[at + 1] = 1 − it in the dtype (torch's opmath(1) − w)."""
    target[at] = weight
    target[at + 1] = 1.0 - target[at]


@numba.njit(cache=True)
def rate(lr, schedule, t):
    """α_t as LambdaLR sets group["lr"] for step t (src.problems.schedules): lr/√t, inv_sqrt."""
    return lr * (1.0 / math.sqrt(t)) if schedule == 1 else lr
