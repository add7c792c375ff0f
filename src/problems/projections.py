"""Feasible sets and the projection onto them after each step (the `projection` config group).

The paper projects with Π_{F,√V̂}(y) = argmin_{x∈F} ‖V̂^{1/4}(x − y)‖. Every replicate here is a
1-D problem, and on a 1-D set (or any box, coordinate-wise) the weighted projection is the plain
clamp whatever the positive weights are, so `Box` and `Ball` are exactly the paper's projection. In
d > 1 a ball's weighted projection differs from the Euclidean one: `BallWeighted`
(`projection=ball_weighted`) for the d-dimensional problems (`src.problems.vector`).

d dimensions: a d-dimensional run (`src.engines.vector_loop`) holds its iterates as the rows of
x [R, d], calls `projection.bind(optimizer, params)` once (params[r] is row r: a projection that
reads the optimizer's state keeps them), then `projection.vector(x)` after each step.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from src.optimizers import SECOND_MOMENTS, second_moment_name  # the registry's, read by name


class Projection:
    """Base class: projects x in place; `bounds` is the feasible interval (−inf, inf if none)."""

    kind: int = 0  # the fast engine's code for this projection
    bounds: tuple[float, float] = (-math.inf, math.inf)

    def __call__(self, x: Tensor) -> None:
        raise NotImplementedError

    def bind(self, optimizer: object, params: list[Tensor]) -> None:
        """Called once with the run's optimizer; only a projection that reads its state uses it."""
        return None

    def vector(self, x: Tensor) -> None:
        """Projects each row of x [R, d] onto F in d dimensions, in place."""
        raise NotImplementedError


class Box(Projection):
    """F = [low, high]: x ← clamp(x, low, high); the paper's F = [−1, 1], the tutorial's clamp."""

    kind = 1

    def __init__(self, low: float = -1.0, high: float = 1.0) -> None:
        self.bounds = (float(low), float(high))

    def __call__(self, x: Tensor) -> None:
        x.clamp_(*self.bounds)

    def vector(self, x: Tensor) -> None:
        """[low, high]^d: the coordinate-wise clamp (also the paper's weighted projection)."""
        x.clamp_(*self.bounds)


class Ball(Box):
    """F = {x : |x| ≤ radius}, the Euclidean ball; in 1-D the box [−radius, radius]."""

    def __init__(self, radius: float = 1.0) -> None:
        super().__init__(-float(radius), float(radius))
        self.radius = float(radius)

    def vector(self, x: Tensor) -> None:
        """‖x‖ ≤ radius: each row y ← y·radius/‖y‖ where ‖y‖ > radius (the Euclidean one)."""
        norms = x.norm(dim=1, keepdim=True)
        x.mul_(torch.where(norms > self.radius, self.radius / norms, torch.ones_like(norms)))


class Unconstrained(Projection):
    """F = ℝ: no projection. Regret is still measured against the function's domain."""

    def __call__(self, x: Tensor) -> None:
        return None

    def vector(self, x: Tensor) -> None:
        return None


class BallWeighted(Ball):
    """F = {x : ‖x‖ ≤ radius} with the paper's weighted projection (Reddi et al. 2018, §2):

        Π_{F,√V̂}(y) = argmin_{x∈F} ‖V̂^{1/4}(x − y)‖,

    V̂ the diagonal second moment the optimizer's step divides by, read by name from its state
    after each step (`second_moment_name`: each optimizer's family module in `src.optimizers`
    names it, e.g. Adam's v, AMSGrad's v̂ = max v, Adagrad's sum). With
    w = √V̂, the KKT conditions of min Σ w_i (x_i − y_i)² s.t. ‖x‖² ≤ r² give

        x_i = y_i·w_i/(w_i + λ),  λ ≥ 0 the root of ‖x(λ)‖ = r  (λ = 0, x = y if ‖y‖ ≤ r),

    found by bisection to machine precision, in float64 (`weighted_ball_projection`). Scaling w
    leaves x unchanged (λ absorbs it), so bias corrections do not matter; torch's ε is left out
    (the paper's Adam has none). In 1-D it is the clamp for any positive weight, so the 1-D path
    is `Ball`'s; the fast engine declines it anyway (kind 3)."""

    kind = 3

    def bind(self, optimizer: object, params: list[Tensor]) -> None:
        """Keep the optimizer and its parameters (row r of x is params[r]) to read V̂ from
        `optimizer.state[params[r]][name]`; ValueError if the optimizer has no V̂."""
        name = second_moment_name(optimizer)
        if name is None:
            kind = type(optimizer)
            raise ValueError(
                f"projection=ball_weighted: optim {kind.__module__}.{kind.__name__} has no "
                f"second moment V̂ to weight by (allowed: {', '.join(SECOND_MOMENTS)})"
            )
        self.optimizer, self.params, self.name = optimizer, params, name

    def weights(self) -> Tensor:
        """w = √V̂ [R, d] (float64), row r from params[r]'s state."""
        state = self.optimizer.state  # type: ignore[attr-defined]
        return torch.stack([state[p][self.name] for p in self.params]).to(torch.float64).sqrt()

    def vector(self, x: Tensor) -> None:
        x.copy_(weighted_ball_projection(x.to(torch.float64), self.weights(), self.radius))


def weighted_ball_projection(y: Tensor, w: Tensor, radius: float) -> Tensor:
    """argmin over ‖x‖ ≤ radius of Σ_i w_i (x_i − y_i)², per row of y, w [R, d] (float64, w ≥ 0).

    A coordinate with w_i = 0 (its gradients all 0 so far) costs nothing wherever it is: when
    y is outside the ball it goes to 0, leaving the others the most room. A row whose weights
    are all 0 is projected as with equal weights (the Euclidean projection). In 1-D the root is
    λ = w·(|y|/r − 1) and x = y·r/|y|: the clamp, returned as such (exact, not to the last bit
    of a root find)."""
    from src.problems.vector_regret import weighted_ball_rows  # noqa: PLC0415

    if y.shape[1] == 1:
        return y.clamp(-radius, radius)
    out = y.numpy().copy()
    weighted_ball_rows(y.numpy(), w.numpy(), radius, out)
    return torch.from_numpy(out)
