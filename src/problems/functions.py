"""The online loss sequences f_t of the paper and its follow-ups (the `fn` config group).

Every function here is convex and of the form

    f_t(x) = a_t·x + (b_t / 2)·x²        (b_t ≥ 0; constant terms dropped: they cancel in regret)

so a function is fully described by its *coefficient stream* (a_t, b_t), t = 1, 2, …, which both
engines consume chunk by chunk from the same seeded generators. Gradients are a_t + b_t·x,
and the best fixed point in hindsight over an interval has a closed form
(`src.problems.regret.best_fixed_loss`), so regret is exact for every function.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from src.problems.rare_steps import RareSteps

CHUNK = 1 << 16  # steps per coefficient chunk; both engines use the same boundaries


@dataclass
class Coefficients:
    """a[n, R'] and b[n, R'] (float64) for n consecutive steps; R' is R, or 1 when shared."""

    a: Tensor
    b: Tensor | None = None  # None: a linear loss (b_t = 0)


class RandomStreams:
    """One independent torch.Generator per replicate, seeded from (seed, replicate), for the
    uniform and normal draws; and the rare steps (`rare_steps`, from their own streams:
    `src.problems.rare_steps`), carried from one chunk to the next."""

    def __init__(self, seed: int, replicates: int) -> None:
        self.seed, self.generators = seed, []
        for r in range(replicates):
            state = np.random.SeedSequence([seed, r]).generate_state(1, dtype=np.uint64)[0]
            self.generators.append(torch.Generator().manual_seed(int(state) & (2**63 - 1)))
        self._rare: dict[tuple[float, ...], RareSteps] = {}

    def uniform(self, n: int) -> Tensor:
        """n draws from U[0, 1) per replicate, as a float64 tensor of shape [n, R]."""
        cols = [torch.rand(n, generator=g, dtype=torch.float64) for g in self.generators]
        return torch.stack(cols, dim=1)

    def normal(self, n: int) -> Tensor:
        """n draws from N(0, 1) per replicate, as a float64 tensor of shape [n, R]."""
        cols = [torch.randn(n, generator=g, dtype=torch.float64) for g in self.generators]
        return torch.stack(cols, dim=1)

    def rare_steps(self, start: int, n: int, p: Sequence[float]) -> np.ndarray:
        """Which steps among start, …, start + n − 1 are rare, step t independently with
        probability p[i] for coordinate i: a boolean [n, R, d]. Steps are asked in order (one
        `RareSteps` per p, kept here across chunks). Common random numbers: at one seed, the
        rare steps at p are among those at any p' > p."""
        key = tuple(float(q) for q in p)
        if key not in self._rare:
            self._rare[key] = RareSteps(key, self.seed, len(self.generators))
        return self._rare[key].take(start, n)


def steps(start: int, n: int) -> Tensor:
    """The step numbers start, …, start + n − 1 as a float64 column [n, 1]."""
    return torch.arange(start, start + n, dtype=torch.float64).unsqueeze(1)


def slope(value: float) -> str:
    """A linear loss's term in words: 1010x, −10x, −x, 0.5x."""
    text = f"{value:g}x".replace("-", "−")
    return {"1x": "x", "−1x": "−x"}.get(text, text)


class OnlineFunction:
    """Base class: a coefficient stream plus what regret needs to know about it."""

    domain: tuple[float, float] = (-1.0, 1.0)  # the paper's F, the comparator set when unprojected
    random: bool = False  # whether coefficients depend on the random streams

    def describe(self) -> str:
        """The problem in one line, for a figure's title: f_t with its numbers. The default (a
        user's class that does not say): its class name and the first line of its docstring."""
        doc = (type(self).__doc__ or "").strip().splitlines()
        first = doc[0].strip().rstrip(".") if doc else ""
        return f"{type(self).__name__}: {first}" if first else type(self).__name__

    def coefficients(self, start: int, n: int, streams: RandomStreams) -> Coefficients:
        raise NotImplementedError

    def expected_optimum(self, low: float, high: float) -> float:
        """argmin over [low, high] of the expected (or long-run average) loss."""
        raise NotImplementedError

    def gradient_bound(self, low: float, high: float) -> float | None:
        """An upper bound of |∇f_t(x)| = |a_t + b_t·x| over x in [low, high] and every t (None if
        unknown): the run's dtype must hold it (`src.config.checks`)."""
        return None


def _linear_optimum(mean_slope: float, low: float, high: float) -> float:
    return low if mean_slope > 0 else high


class Periodic(OnlineFunction):
    """f_t(x) = scale·(C·x if t mod period = 1 else −x), t from 1.

    Reddi et al. (2018): Figure 1's online problem is scale 10, C 101, period 101; Theorem 1's is
    scale 1, C > 2, period 3. The rare step is t ≡ 1 (mod period); with period 1 every step is rare.
    """

    def __init__(self, scale: float = 10.0, C: float = 101.0, period: int = 101) -> None:
        self.scale, self.C, self.period = float(scale), float(C), int(period)

    def describe(self) -> str:
        """'1010x once every 101 steps, else −10x'."""
        rare, other = slope(self.scale * self.C), slope(-self.scale)
        return f"{rare} once every {self.period} steps, else {other}"

    def coefficients(self, start: int, n: int, streams: RandomStreams) -> Coefficients:
        rare = (np.arange(start - 1, start - 1 + n) % self.period == 0)[:, None]
        return Coefficients(torch.from_numpy(np.where(rare, self.scale * self.C, -self.scale)))

    def expected_optimum(self, low: float, high: float) -> float:
        mean = self.scale * (self.C - (self.period - 1)) / self.period
        return _linear_optimum(mean, low, high)

    def gradient_bound(self, low: float, high: float) -> float:
        """|a_t| ≤ |scale|·max(|C|, 1)."""
        return abs(self.scale) * max(abs(self.C), 1.0)


class Bernoulli(OnlineFunction):
    """f_t(x) = scale·(C·x with probability p, else −x), drawn independently each step
    (`src.problems.rare_steps`: at one seed, the rare steps at p are among those at p' > p).

    Figure 1's stochastic problem is scale 10, C 101, p 0.01. Theorem 3 takes p = (1+δ)/(C+1), so
    that E[f_t(x)] = scale·δ·x and x* = −1 (see `theorem3_probability`).
    """

    random = True

    def __init__(self, scale: float = 10.0, C: float = 101.0, p: float = 0.01) -> None:
        self.scale, self.C, self.p = float(scale), float(C), float(p)

    def describe(self) -> str:
        """'1010x w.p. 0.01, else −10x'."""
        return f"{slope(self.scale * self.C)} w.p. {self.p:.4g}, else {slope(-self.scale)}"

    def coefficients(self, start: int, n: int, streams: RandomStreams) -> Coefficients:
        rare = streams.rare_steps(start, n, [self.p])[:, :, 0]
        return Coefficients(torch.from_numpy(np.where(rare, self.scale * self.C, -self.scale)))

    def expected_optimum(self, low: float, high: float) -> float:
        mean = self.scale * (self.p * self.C - (1 - self.p))
        return _linear_optimum(mean, low, high)

    def gradient_bound(self, low: float, high: float) -> float:
        """|a_t| ≤ |scale|·max(|C|, 1)."""
        return abs(self.scale) * max(abs(self.C), 1.0)


def theorem3_probability(C: float, delta: float) -> float:
    """Theorem 3's p = (1+δ)/(C+1): E[C·x w.p. p, else −x] = δ·x."""
    return (1.0 + delta) / (C + 1.0)


class Theorem3(Bernoulli):
    """Bernoulli with Theorem 3's probability p = (1+δ)/(C+1), so E[f_t(x)] = scale·δ·x."""

    def __init__(self, scale: float = 1.0, C: float = 101.0, delta: float = 0.01) -> None:
        super().__init__(scale, C, theorem3_probability(C, delta))
        self.delta = float(delta)

    def describe(self) -> str:
        """'101x w.p. (1+δ)/(C+1) = 0.01, δ = 0.02, else −x'."""
        rare, other = slope(self.scale * self.C), slope(-self.scale)
        return f"{rare} w.p. (1+δ)/(C+1) = {self.p:.4g}, δ = {self.delta:g}, else {other}"


class NoisyQuadratic(OnlineFunction):
    """f_t(x) = (curvature/2)·(x − c_t)², c_t = center + noise·ξ_t, ξ_t ~ N(0, 1).

    A smooth, strongly convex loss whose gradient curvature·(x − c_t) depends on x: written here as
    a_t = −curvature·c_t, b_t = curvature. Its expected minimiser is clamp(center, F).
    """

    random = True

    def __init__(self, curvature: float = 1.0, center: float = -0.5, noise: float = 1.0) -> None:
        self.curvature, self.center, self.noise = float(curvature), float(center), float(noise)

    def describe(self) -> str:
        """'(1/2)·(x − c_t)², c_t ~ N(−0.5, 1²)'."""
        center = f"{self.center:g}".replace("-", "−")
        return f"({self.curvature:g}/2)·(x − c_t)², c_t ~ N({center}, {self.noise:g}²)"

    def coefficients(self, start: int, n: int, streams: RandomStreams) -> Coefficients:
        c = self.center + self.noise * streams.normal(n)
        b = torch.full((n, 1), self.curvature, dtype=torch.float64)
        return Coefficients(-self.curvature * c, b)

    def expected_optimum(self, low: float, high: float) -> float:
        return min(max(self.center, low), high)

    def gradient_bound(self, low: float, high: float) -> float:
        """|curvature·(x − c_t)| ≤ curvature·(max|x| + |center| + 8·noise) (|ξ_t| > 8 has
        probability 1e-15 a step)."""
        reach = max(abs(low), abs(high))
        return abs(self.curvature) * (reach + abs(self.center) + 8.0 * abs(self.noise))
