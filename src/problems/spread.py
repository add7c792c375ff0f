"""A replicated number reported with its spread: the mean over R replicates, the sample standard
deviation and the half-width of the 95% confidence interval for the mean (Student's t, R − 1
degrees of freedom; the replicates are independent runs)."""

from __future__ import annotations

import numpy as np


def t_quantile(level: float, freedom: int) -> float:
    """The `level` quantile of Student's t with `freedom` degrees of freedom (scipy)."""
    from scipy.special import stdtrit  # noqa: PLC0415  (only when there is a spread to report)

    return float(stdtrit(freedom, level))


def spread(name: str, values: np.ndarray) -> dict[str, float]:
    """`name`: the mean of `values` [R]; with R > 1 also `name_std` (sd, ddof 1) and `name_ci95`
    (t_{0.975, R−1}·sd/√R). Non-finite replicates make every one of them NaN (left out by the
    caller), never a mean over the finite ones only."""
    values = np.asarray(values, np.float64).reshape(-1)
    out = {name: float(values.mean())}
    if len(values) > 1:
        sd = float(values.std(ddof=1))
        out[f"{name}_std"] = sd
        out[f"{name}_ci95"] = t_quantile(0.975, len(values) - 1) * sd / np.sqrt(len(values))
    return out


def spreads(per_replicate: dict[str, np.ndarray]) -> dict[str, float]:
    """`spread` of every named array, the finite results only."""
    out: dict[str, float] = {}
    for name, values in per_replicate.items():
        out.update(spread(name, values))
    return {k: v for k, v in out.items() if np.isfinite(v)}
