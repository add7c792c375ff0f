"""The scalar rules an optimizer computes per step in float64 (β₁ₜ, AdamX's ratio, AdaBound's step
size and bounds, ADOPT's clip), written once: numba-compiled, so a family's torch class calls
them from Python and its rule (`prepare`, compiled in the fast engine's kernel) calls the same
compiled code.

Powers are the C library's pow() — what Python's `**` on floats calls — with two exact shortcuts
(`power`): x⁰ = 1, 1ʸ = 1, and 0 once the power is below 1e−18, where every rule here takes
1 − β·(power) = 1.0 in float64 either way. So each value is bit for bit what the plain Python
formula in each docstring gives.
"""

from __future__ import annotations

import math

import numba
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def c_pow(typingctx, base, exponent):
    """base ** exponent for floats exactly as Python computes it: the C library's pow(), called as
    an opaque function. (LLVM would rewrite pow(x, 0.5) as sqrt(x), which is correctly rounded
    where glibc's pow is not: pow(1 − 2⁻⁵³, 0.5) is 1.0, √ gives 1 − 2⁻⁵³.)"""
    sig = types.float64(types.float64, types.float64)

    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(ir.DoubleType(), [ir.DoubleType(), ir.DoubleType()])
        function = cgutils.get_or_insert_function(builder.module, fnty, "pow")
        function.attributes.add("nobuiltin")  # no constant folding or rewriting of the call
        return builder.call(function, args)

    return sig, codegen


@numba.njit(cache=True)
def pow_py(base, exponent):
    """Python's base ** exponent (the C library's pow()); pow(1, y) is exactly 1 (C99 F.9.4.4),
    which a vanished bias correction hits every step: no call then."""
    if base == 1.0:
        return 1.0
    return c_pow(float(base), float(exponent))


@numba.njit(cache=True)
def power(base, t):
    """base**t for an integer t ≥ 0 as Python computes it, or exactly 0 once it is below 1e−18
    (then 1 − β·base**t is 1.0 in float64 either way, for |β| ≤ 1): no pow per step."""
    if t == 0:
        return 1.0
    if base <= 0.0:
        return 0.0
    # base**t ≤ e^{t(base − 1)} (log x ≤ x − 1): no log per step, and e^−41.5 < 1e−18
    if base < 1.0 and t * (base - 1.0) < -41.5:
        return 0.0
    return pow_py(base, float(t))


@numba.njit(cache=True)
def beta1_t(beta1, decay, t):
    """β₁ₜ = β₁·λ^{t−1} (Corollary 1 of Reddi et al.) in float64; λ = 1 keeps β₁ constant.
    Exactly 0 once λ^{t−1} < 1e−18 (`power`): the lerp weight 1 − β₁ₜ is 1.0 either way."""
    return beta1 * power(decay, t - 1)


@numba.njit(cache=True)
def adamx_ratio(beta1, decay, t):
    """(1 − β₁ₜ)² / (1 − β₁,ₜ₋₁)² with β₁ₜ = β₁·λ^{t−1}, in float64; 1 at t = 1."""
    if t == 1:
        return 1.0
    now, before = 1.0 - beta1_t(beta1, decay, t), 1.0 - beta1_t(beta1, decay, t - 1)
    return (now * now) / (before * before)


@numba.njit(cache=True)
def adabound_step_size(lr, beta1, beta2, t):
    """η = α_t √(1 − β₂ᵗ) / (1 − β₁ᵗ): Adam's bias-corrected step size, as the authors' code."""
    return lr * math.sqrt(1.0 - power(beta2, t)) / (1.0 - power(beta1, t))


@numba.njit(cache=True)
def adabound_bounds(final_lr, lr, base_lr, gamma, t):
    """(η_l(t), η_u(t)) as the authors' code computes them, in float64: with α* = final_lr·α_t/α,
    η_l = α*(1 − 1/(γt + 1)) and η_u = α*(1 + 1/(γt))."""
    rate = final_lr * lr / base_lr
    return rate * (1.0 - 1.0 / (gamma * t + 1)), rate * (1.0 + 1.0 / (gamma * t))


@numba.njit(cache=True)
def adopt_clip(exponent, t):
    """ADOPT's clip bound c_t = (t − 1)^exponent (the authors' code: step**0.25 with step = t − 1);
    +inf at t = 1 or without clipping (exponent NaN, the config's null)."""
    if t == 1 or math.isnan(exponent):
        return float("inf")
    return c_pow(float(t - 1), float(exponent))
