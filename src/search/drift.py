"""Where an optimizer's own boundary is predicted to lie: the sign of its drift over one period at
its stationary cycle, on a periodic linear problem (Reddi et al. 2018, §3; docs/search.md).

On f_t(x) = a_t·x with a_t periodic, the gradients do not depend on x, so Adam's moments settle
into a cycle of the period whatever x does: at t → ∞ (bias corrections → 1) the first moment at
phase k is m_k = (1 − β₁)/(1 − β₁^P)·Σ_{j<P} β₁^j·a_{k−j} and the second v_k likewise with β₂ and
a². The iterate then moves by D = −α·Σ_k m_k / (√v̂_k + ε) per period (v̂_k = v_k, or max_k v_k
for AMSGrad): D > 0 carries x to the top of F, D < 0 to the bottom. Where D changes sign is the
optimizer's boundary; where the best point in hindsight flips (the mean slope's sign) is the
problem's. Pure numpy: nothing here knows Hydra, MLflow or figures.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np


def periodic_slopes(scale: float, C: float, period: int) -> np.ndarray:
    """a_t for one period of `Periodic` (t mod period = 1: scale·C, else −scale), as phases
    0, …, period − 1 of t mod period (period 1: every step is t mod 1 = 0 ≠ 1)."""
    slopes = np.full(int(period), -float(scale))
    if period > 1:
        slopes[1] = scale * C
    return slopes


def stationary_moment(values: np.ndarray, beta: float) -> np.ndarray:
    """The exponential moving average (weight 1 − β on the newest) of the periodic sequence
    `values` at each phase once it has settled: (1 − β)/(1 − β^P)·Σ_{j<P} β^j·values_{k−j}."""
    period = len(values)
    lags = (np.arange(period)[:, None] - np.arange(period)[None, :]) % period
    weights = beta ** np.arange(period, dtype=np.float64)
    if beta == 0:
        return values.astype(np.float64)
    return (1 - beta) / (1 - beta**period) * (weights * values[lags]).sum(1)


def adam_drift(
    slopes: np.ndarray,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    amsgrad: bool = False,
) -> float:
    """D: Adam's (torch.optim.Adam's) displacement over one period of `slopes` at its stationary
    cycle, unprojected."""
    m = stationary_moment(slopes, beta1)
    v = stationary_moment(slopes**2, beta2)
    if amsgrad:
        v = np.full_like(v, v.max())
    return float(-lr * (m / (np.sqrt(v) + eps)).sum())


def sign_change(
    f: Callable[[float], float], low: float, high: float, log_scale: bool = False
) -> float | None:
    """Where f changes sign in [low, high] (bisection to a relative 1e-10, geometric with
    `log_scale`); None if f has the same sign at both ends."""
    f_low, f_high = f(low), f(high)
    if not (math.isfinite(f_low) and math.isfinite(f_high)) or (f_low > 0) == (f_high > 0):
        return None
    for _ in range(200):
        if high - low <= 1e-10 * max(abs(low), abs(high), 1e-300):
            break
        mid = math.sqrt(low * high) if log_scale else 0.5 * (low + high)
        if (f(mid) > 0) == (f_low > 0):
            low = mid
        else:
            high = mid
    return 0.5 * (low + high)
