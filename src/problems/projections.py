"""Feasible sets and the projection onto them after each step (the `projection` config group).

The paper projects with Π_{F,√V̂}(y) = argmin_{x∈F} ‖V̂^{1/4}(x − y)‖. Every replicate here is a
1-D problem, and on a 1-D set (or any box, coordinate-wise) the weighted projection is the plain
clamp whatever the positive weights are, so `Box` and `Ball` are exactly the paper's projection. In
d > 1 a ball's weighted projection differs from the Euclidean one; the problems here have d = 1.
"""

from __future__ import annotations

import math

from torch import Tensor


class Projection:
    """Base class: projects x in place; `bounds` is the feasible interval (−inf, inf if none)."""

    kind: int = 0  # the fast engine's code for this projection
    bounds: tuple[float, float] = (-math.inf, math.inf)

    def __call__(self, x: Tensor) -> None:
        raise NotImplementedError


class Box(Projection):
    """F = [low, high]: x ← clamp(x, low, high); the paper's F = [−1, 1], the tutorial's clamp."""

    kind = 1

    def __init__(self, low: float = -1.0, high: float = 1.0) -> None:
        self.bounds = (float(low), float(high))

    def __call__(self, x: Tensor) -> None:
        x.clamp_(*self.bounds)


class Ball(Box):
    """F = {x : |x| ≤ radius}, the Euclidean ball; in 1-D the box [−radius, radius]."""

    def __init__(self, radius: float = 1.0) -> None:
        super().__init__(-float(radius), float(radius))
        self.radius = float(radius)


class Unconstrained(Projection):
    """F = ℝ: no projection. Regret is still measured against the function's domain."""

    def __call__(self, x: Tensor) -> None:
        return None
