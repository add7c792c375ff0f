"""Online problems whose x is a vector of dimension d ≥ 2 (the `fn` choices with a `dim` key).

Every function here is convex and of the form (constant terms dropped: they cancel in regret)

    f_t(x) = a_tᵀx + ½ Σ_i b_{t,i} x_i²        (separable: b_t ≥ 0 a diagonal, or none)
    f_t(x) = a_tᵀx + ½ xᵀ Q x                  (coupled: Q a fixed symmetric PSD matrix)

so, as in 1-D (`src.problems.functions`), a function is its coefficient stream: a_t [n, R', d]
and b_t [n, R', d] or None, plus the fixed `hessian` Q (None when separable). The gradient is
a_t + b_t ⊙ x, or a_t + Q x. The best fixed point in hindsight of the summed loss
Aᵀx + ½ Σ B_i x_i² (or Aᵀx + ½ t·xᵀQx) is computed exactly by `src.problems.vector_regret`.

- `VectorPeriodic`: d independent copies of `Periodic`, each coordinate with its own C (and
  period): f_t(x) = scale·Σ_i (C_i·x_i if t mod period_i = 1 else −x_i).
- `VectorBernoulli`: d independent copies of `Bernoulli`: each coordinate draws its own coin,
  f_t(x) = scale·Σ_i (C_i·x_i w.p. p_i, else −x_i).
- `RotatedQuadratic`: f_t(x) = ½ (x − c_t)ᵀ Rᵀ D R (x − c_t), c_t = center + noise·ξ_t,
  ξ_t ~ N(0, I_d): one coupled problem (R a fixed rotation, D the curvatures).

The coordinates of one replicate are one parameter of the optimizer (`src.engines.vector_loop`),
so an optimizer that couples coordinates (a norm over the parameter) couples these.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from src.problems.functions import Coefficients, OnlineFunction, RandomStreams, slope

LISTED = 3  # up to this many coordinates are described one by one in a title


def per_coordinate(value: float | Sequence[float], dim: int, key: str) -> np.ndarray:
    """`value` as d floats: a list of d numbers, or one number for every coordinate.

    Raises ValueError naming `key` when a list has the wrong length."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return np.full(dim, float(value))
    try:
        values = [float(v) for v in value]
    except (TypeError, ValueError):
        values = []
    if not values or not all(math.isfinite(v) for v in values):
        raise ValueError(f"fn.{key}={value}: must be a number or a list of {dim} finite numbers")
    if len(values) != dim:
        raise ValueError(
            f"fn.{key} has {len(values)} values for fn.dim={dim}: give {dim} numbers "
            "(one per coordinate) or one number for all"
        )
    return np.asarray(values)


class VectorFunction(OnlineFunction):
    """Base class of the d-dimensional functions: coefficients a [n, R', d], b [n, R', d] or
    None, and a fixed `hessian` Q [d, d] (float64) when the problem is coupled.

    `domain` is each coordinate's interval: F = [−1, 1]^d when unprojected."""

    dim: int = 2
    hessian: np.ndarray | None = None

    def check_dim(self, dim: int) -> int:
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 2:
            raise ValueError(f"fn.dim={dim!r}: must be an integer >= 2 (1-D: fn=online etc.)")
        return dim

    def coefficients(self, start: int, n: int, streams: RandomStreams) -> Coefficients:
        raise NotImplementedError

    def expected_optimum(self, low: float, high: float) -> np.ndarray:
        """argmin over the box [low, high]^d of the expected (or long-run average) loss."""
        raise NotImplementedError


def numbers(values: np.ndarray) -> str:
    """[1010, 50]: a per-coordinate value as a short list."""
    return "[" + ", ".join(f"{v:g}" for v in values).replace("-", "−") + "]"


def per_coordinate_words(rules: list[str], summary: str) -> str:
    """'x₀: rule₀; x₁: rule₁' for a few coordinates, else `summary`."""
    if len(rules) > LISTED:
        return summary
    return "; ".join(f"x_{i}: {rule}" for i, rule in enumerate(rules))


def normal_vectors(streams: RandomStreams, n: int, dim: int) -> Tensor:
    """n·d draws from N(0, 1) per replicate as [n, R, d] (float64), step-major per replicate."""
    cols = [torch.randn(n, dim, generator=g, dtype=torch.float64) for g in streams.generators]
    return torch.stack(cols, dim=1)


def _linear_optimum(mean_slopes: np.ndarray, low: float, high: float) -> np.ndarray:
    return np.where(mean_slopes > 0, low, high)


class VectorPeriodic(VectorFunction):
    """f_t(x) = scale·Σ_i (C_i·x_i if t mod period_i = 1 else −x_i), t from 1.

    d independent copies of `Periodic` (Reddi et al. 2018, Figure 1 / Theorem 1) with their own
    C_i and period_i (a list of d numbers, or one for all); x*_i = −1 where C_i > period_i − 1."""

    def __init__(
        self,
        dim: int = 2,
        scale: float = 10.0,
        C: float | list[float] = 101.0,
        period: int | list[int] = 101,
    ) -> None:
        self.dim = self.check_dim(dim)
        self.scale = float(scale)
        self.C = per_coordinate(C, self.dim, "C")
        periods = per_coordinate(period, self.dim, "period")
        if not np.all((periods >= 1) & (periods == np.floor(periods))):
            raise ValueError(f"fn.period={periods.tolist()}: every period must be an integer >= 1")
        self.period = periods.astype(np.int64)

    def describe(self) -> str:
        """'x_0: 1010x once every 101 steps; x_1: 50x once every 3 steps; else −10x'."""
        rules = [
            f"{slope(self.scale * c)} once every {p} steps"
            for c, p in zip(self.C, self.period, strict=True)
        ]
        summary = (
            f"x_i: {numbers(self.scale * self.C)}_i·x_i once every {numbers(self.period)}_i steps"
        )
        return f"{per_coordinate_words(rules, summary)}; else {slope(-self.scale)}"

    def coefficients(self, start: int, n: int, streams: RandomStreams) -> Coefficients:
        t0 = np.arange(start - 1, start - 1 + n)[:, None]  # t − 1
        rare = (t0 % self.period[None, :] == 0)[:, None, :]  # [n, 1, d]
        a = np.where(rare, self.scale * self.C, -self.scale)
        return Coefficients(torch.from_numpy(a))

    def expected_optimum(self, low: float, high: float) -> np.ndarray:
        return _linear_optimum(self.scale * (self.C - (self.period - 1)) / self.period, low, high)

    def gradient_bound(self, low: float, high: float) -> float:
        """|a_{t,i}| ≤ |scale|·max(|C_i|, 1)."""
        return abs(self.scale) * max(float(np.abs(self.C).max()), 1.0)


class VectorBernoulli(VectorFunction):
    """f_t(x) = scale·Σ_i (C_i·x_i with probability p_i, else −x_i), every coordinate's coin
    drawn independently each step (d independent copies of `Bernoulli`, each coordinate from its
    own streams: `src.problems.rare_steps`). Coordinate 0 draws what the 1-D `Bernoulli` draws at
    the same seed: with p_0 and C_0 it is that run's coefficient stream."""

    random = True

    def __init__(
        self,
        dim: int = 2,
        scale: float = 10.0,
        C: float | list[float] = 101.0,
        p: float | list[float] = 0.01,
    ) -> None:
        self.dim = self.check_dim(dim)
        self.scale = float(scale)
        self.C = per_coordinate(C, self.dim, "C")
        self.p = per_coordinate(p, self.dim, "p")
        if not ((self.p >= 0) & (self.p <= 1)).all():
            raise ValueError(f"fn.p={self.p.tolist()}: every probability must be in [0, 1]")

    def describe(self) -> str:
        """'x_0: 1010x w.p. 0.01; x_1: 50x w.p. 0.3; else −10x'."""
        rules = [
            f"{slope(self.scale * c)} w.p. {p:.4g}" for c, p in zip(self.C, self.p, strict=True)
        ]
        summary = f"x_i: {numbers(self.scale * self.C)}_i·x_i w.p. {numbers(self.p)}_i"
        return f"{per_coordinate_words(rules, summary)}; else {slope(-self.scale)}"

    def coefficients(self, start: int, n: int, streams: RandomStreams) -> Coefficients:
        rare = streams.rare_steps(start, n, self.p.tolist())
        return Coefficients(torch.from_numpy(np.where(rare, self.scale * self.C, -self.scale)))

    def expected_optimum(self, low: float, high: float) -> np.ndarray:
        return _linear_optimum(self.scale * (self.p * self.C - (1 - self.p)), low, high)

    def gradient_bound(self, low: float, high: float) -> float:
        """|a_{t,i}| ≤ |scale|·max(|C_i|, 1)."""
        return abs(self.scale) * max(float(np.abs(self.C).max()), 1.0)


def givens_rotation(dim: int, angle: float) -> np.ndarray:
    """R = G_{d−2,d−1}(θ)·…·G_{1,2}(θ)·G_{0,1}(θ): a rotation by θ (radians) in each plane of
    consecutive coordinates (i, i+1), composed; for d = 2 it is [[cos θ, −sin θ], [sin θ, cos θ]].
    """
    rotation = np.eye(dim)
    c, s = math.cos(angle), math.sin(angle)
    for i in range(dim - 1):
        givens = np.eye(dim)
        givens[i, i], givens[i, i + 1], givens[i + 1, i], givens[i + 1, i + 1] = c, -s, s, c
        rotation = givens @ rotation
    return rotation


class RotatedQuadratic(VectorFunction):
    """f_t(x) = ½ (x − c_t)ᵀ Q (x − c_t), Q = Rᵀ D R, c_t = center + noise·ξ_t, ξ_t ~ N(0, I_d).

    One coupled convex problem: R = `givens_rotation(dim, angle)` (angle in degrees in the
    config), D = diag(curvatures) ≥ 0. Written as a_t = −Q c_t with the fixed Hessian Q. Its
    expected minimiser is the center when the center is in F (else the Q-weighted projection of
    the center onto F, not the clamp: the coordinates are coupled)."""

    random = True

    def __init__(
        self,
        dim: int = 2,
        curvatures: float | list[float] = (1.0, 10.0),
        angle: float = 30.0,
        center: float | list[float] = (0.9, -0.9),
        noise: float = 1.0,
    ) -> None:
        self.dim = self.check_dim(dim)
        self.curvatures = per_coordinate(curvatures, self.dim, "curvatures")
        if not (self.curvatures >= 0).all():
            raise ValueError(f"fn.curvatures={self.curvatures.tolist()}: must all be >= 0")
        self.angle = float(angle)
        self.center = per_coordinate(center, self.dim, "center")
        self.noise = float(noise)
        self.rotation = givens_rotation(self.dim, math.radians(self.angle))
        q = self.rotation.T @ np.diag(self.curvatures) @ self.rotation
        self.hessian = 0.5 * (q + q.T)  # exactly symmetric

    def describe(self) -> str:
        """'½(x − c_t)ᵀQ(x − c_t), Q = RᵀDR, D = [1, 10], R 30° (Givens),
        c_t ~ N([0.9, −0.9], 1²I)'."""
        return (
            f"½(x − c_t)ᵀQ(x − c_t), Q = RᵀDR, D = {numbers(self.curvatures)}, "
            f"R {self.angle:g}° (Givens), c_t ~ N({numbers(self.center)}, {self.noise:g}²I)"
        )

    def coefficients(self, start: int, n: int, streams: RandomStreams) -> Coefficients:
        c = torch.from_numpy(self.center) + self.noise * normal_vectors(streams, n, self.dim)
        return Coefficients(-(c @ torch.from_numpy(self.hessian)))  # −Q c_t (Q symmetric)

    def expected_optimum(self, low: float, high: float) -> np.ndarray:
        """argmin over [low, high]^d of ½ (x − center)ᵀ Q (x − center) (a box QP: coupled)."""
        from src.problems.vector_regret import box_qp  # noqa: PLC0415

        return box_qp(-self.hessian @ self.center, self.hessian, low, high)

    def gradient_bound(self, low: float, high: float) -> float:
        """|Q(x − c_t)|_∞ ≤ ‖Q‖₂·√d·(max|x| + max|center| + 8·noise) (|ξ| > 8: 1e-15 a draw)."""
        reach = max(abs(low), abs(high)) + float(np.abs(self.center).max()) + 8 * abs(self.noise)
        return float(self.curvatures.max()) * math.sqrt(self.dim) * reach
