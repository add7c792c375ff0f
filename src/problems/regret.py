"""Regret bookkeeping shared by the engines, and the result of a run.

R_t = Σ_{s≤t} f_s(x_s) − min_{x∈F} Σ_{s≤t} f_s(x), computed exactly for the realised sequence: the
loss sums are kept in float64 whatever the iterate's dtype, and the comparator is the closed-form
best fixed point of the summed quadratic (`best_fixed_loss`, the one implementation both engines
call: the torch loop on arrays, the compiled loop on scalars).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numba
import numpy as np
import torch
from torch import Tensor

from src.problems.functions import Coefficients
from src.problems.spread import spreads

FINISHED, DIVERGED, INTERRUPTED = "finished", "diverged", "interrupted"


@numba.vectorize(["float64(float64, float64, float64, float64)"], cache=True)
def best_fixed_loss(A: float, B: float, low: float, high: float) -> float:
    """min over x in [low, high] of A·x + (B/2)·x² (B ≥ 0): the loss of the best fixed point in
    hindsight for the summed slopes A = Σa_t and curvatures B = Σb_t. A ufunc: elementwise on
    arrays, and callable with scalars from compiled code."""
    if B > 0.0:
        x = min(max(-A / B, low), high)
        return A * x + 0.5 * B * x * x
    return A * low if A > 0.0 else A * high


@numba.vectorize(["float64(float64, float64, float64, float64)"], cache=True)
def best_fixed_point(A: float, B: float, low: float, high: float) -> float:
    """x* = argmin over x in [low, high] of A·x + (B/2)·x² (B ≥ 0), the point whose loss
    `best_fixed_loss` gives: clamp(−A/B) if B > 0, else low if A > 0, high if A < 0, and the
    midpoint of F when A = B = 0 (every point is a minimiser then)."""
    if B > 0.0:
        return min(max(-A / B, low), high)
    if A > 0.0:
        return low
    return high if A < 0.0 else 0.5 * (low + high)


def log_grid(steps: int, points: int) -> np.ndarray:
    """`points` step numbers evenly spaced over 1..steps, always including the last step."""
    grid = np.round(np.linspace(1, steps, max(2, min(points, steps)))).astype(np.int64)
    return np.unique(grid)


def tail_start(steps: int) -> int:
    """The first step of the run's last 10%: t > T − ⌊T/10⌋ (at least the last step)."""
    return steps - max(1, steps // 10) + 1


def tail_stats(x_sum: np.ndarray, x_min: np.ndarray, x_max: np.ndarray, count: int) -> np.ndarray:
    """[3, R] (or [3, R, d]): the mean, min and max of x over the tail's `count` steps (NaN if
    0)."""
    if count == 0:
        return np.full((3, *np.shape(x_sum)), np.nan)
    return np.stack([x_sum / count, x_min, x_max])


@dataclass
class RunResult:
    """What one run produced: per-replicate trajectories on the log grid and final values.

    `x[k]` is the iterate *after* step `log_steps[k]` (so the last row is x_{T+1} = final_x) and
    `avg_regret[k]` is R_t/t at t = `log_steps[k]`. `tail_x` [3, R]: the mean, min and max of
    x_{t+1} over every step t of the last 10% (`tail_start`), NaN if the run stopped before them.
    `x_min[k]`, `x_max[k]`: the min and max of x after each step of the logging window
    (log_steps[k−1], log_steps[k]], per replicate (`Windows`): what the sampled `x` may hide.
    """

    log_steps: np.ndarray  # [P] int64
    x: np.ndarray  # [P, R]
    avg_regret: np.ndarray  # [P, R]
    final_x: np.ndarray  # [R]
    final_regret: np.ndarray  # [R]
    steps_done: int
    status: str = FINISHED
    reason: str = ""
    elapsed: float = 0.0
    info: dict = field(default_factory=dict)
    tail_x: np.ndarray | None = None
    best_x: np.ndarray | None = None  # [R] x*, the best fixed point in hindsight
    scales: tuple[float, float] | None = None  # (diam F, G): F's width, the largest |gradient|
    width: float | None = None  # F's extent along one axis (a d-dimensional run)
    x_min: np.ndarray | None = None  # [P, R] min of x over each logging window
    x_max: np.ndarray | None = None  # [P, R] max of x over each logging window

    artifact = "trajectory"  # the name of its .npz and .png in the run's artifacts

    @property
    def final_avg_regret(self) -> np.ndarray:
        return self.final_regret / max(self.steps_done, 1)

    def histories(self) -> dict[str, np.ndarray]:
        """The metric histories on `log_steps`: the iterate and R_t/t, means over replicates,
        and with R > 1 their standard deviations over replicates (`x_std`, `avg_regret_std`)."""
        return band_histories({"x": self.x, "avg_regret": self.avg_regret})

    def finals(self) -> dict[str, float]:
        """The final metrics: every replicated one (`per_replicate`) as its mean over replicates,
        and with R > 1 its `_std` and `_ci95` (`src.problems.spread`); speed and steps done; the
        tail's range over all replicates (`tail_x_min`, `tail_x_max`) if it ran."""
        out = {
            "steps_per_second": self.steps_done / max(self.elapsed, 1e-9),
            "steps_done": float(self.steps_done),
        }
        if self.tail_x is not None and not np.isnan(self.tail_x).any():
            out.update(
                tail_x_min=float(self.tail_x[1].min()), tail_x_max=float(self.tail_x[2].max())
            )
        return {**spreads(self.per_replicate()), **out}

    def per_replicate(self) -> dict[str, np.ndarray]:
        """The final metrics of each replicate [R]: x_{T+1}, R_T, R_T/T, the tail's mean of x (if
        it ran) and the scale-free ones (`scale_free`)."""
        out = {
            "final_x": self.final_x,
            "final_regret": self.final_regret,
            "final_avg_regret": self.final_avg_regret,
        }
        if self.tail_x is not None and not np.isnan(self.tail_x).any():
            out["tail_x_mean"] = self.tail_x[0]
        return {**out, **self.scale_free_per_replicate()}

    def scale_free(self) -> dict[str, float]:
        """The finals a search compares across problems (means over replicates, with their
        spread when R > 1), where F is bounded and the run did not diverge:

        - `final_distance` = |x_{T+1} − x*| / diam(F), x* the best fixed point in hindsight of
          the realised sequence: 0 at x*, 1.0 at the far end of F (Adam on Figure 1's problem);
        - `final_avg_regret_norm` = (R_T/T) / G, G the largest |∇f_t| on F
          (`OnlineFunction.gradient_bound`): R_T/T ≤ G·diam(F) on a linear problem."""
        return spreads(self.scale_free_per_replicate())

    def scale_free_per_replicate(self) -> dict[str, np.ndarray]:
        if self.best_x is None or self.scales is None or self.status == DIVERGED:
            return {}
        diameter, gradient = self.scales
        return {
            "final_distance": np.abs(self.final_x - self.best_x) / diameter,
            "final_avg_regret_norm": self.final_avg_regret / (gradient or np.nan),
        }

    def arrays(self) -> dict[str, np.ndarray]:
        """Every replicate on the logged grid, for `trajectory.npz`."""
        return {
            "log_steps": self.log_steps,
            "x": self.x,
            "avg_regret": self.avg_regret,
            "final_x": self.final_x,
            "final_regret": self.final_regret,
            **({"x_min": self.x_min} if self.x_min is not None else {}),
            **({"x_max": self.x_max} if self.x_max is not None else {}),
        }


def band_histories(histories: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each history [P, R, …] as its mean over replicates (axis 1), and with R > 1 its standard
    deviation over replicates (`<name>_std`, ddof 1): a band around the mean."""
    out = {}
    for name, values in histories.items():
        out[name] = values.mean(1)
        if values.shape[1] > 1:
            out[f"{name}_std"] = values.std(1, ddof=1)
    return out


def running_sum(carry: Tensor, terms: Tensor) -> Tensor:
    """[carry + t₁, (carry + t₁) + t₂, …]: the carried sum is the cumsum's first term, so every
    partial sum is added in the order of a step-by-step loop (the fast engine's), to the bit;
    carry + cumsum(terms) would round differently once carry ≠ 0."""
    return torch.cumsum(torch.cat([carry.unsqueeze(0), terms]), 0)[1:]


class Tail:
    """x after each step t ≥ tail_start(T), the run's last 10%: its sum (in step order, as the
    fast engine adds it), min and max per replicate (and coordinate), in float64."""

    def __init__(self, last_step: int, shape: tuple[int, ...]) -> None:
        self.start = tail_start(last_step)
        self.sum = torch.zeros(shape, dtype=torch.float64)
        self.min = torch.full(shape, np.inf, dtype=torch.float64)
        self.max = torch.full(shape, -np.inf, dtype=torch.float64)
        self.count = 0

    def add(self, t: np.ndarray, x_after: Tensor) -> None:
        """Adds x after each step t (x_after [n, ...]) that lies in the tail."""
        x_tail = x_after[torch.from_numpy(t >= self.start)]
        if len(x_tail) == 0:
            return
        self.sum = running_sum(self.sum, x_tail)[-1]
        self.min = torch.minimum(self.min, x_tail.min(0).values)
        self.max = torch.maximum(self.max, x_tail.max(0).values)
        self.count += len(x_tail)

    def stats(self) -> np.ndarray:
        """[3, ...]: the tail's mean, min and max (`tail_stats`)."""
        return tail_stats(self.sum.numpy(), self.min.numpy(), self.max.numpy(), self.count)


class Windows:
    """The min and max of x after each step of every logging window (log_steps[k−1],
    log_steps[k]], per replicate (and coordinate), in float64; the open window carried from one
    chunk to the next (the fast engine keeps the same two running values in its loop)."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.low = np.full(shape, np.inf)
        self.high = np.full(shape, -np.inf)
        self.rows_low: list[np.ndarray] = []
        self.rows_high: list[np.ndarray] = []

    def add(self, x_after: np.ndarray, rows: np.ndarray) -> None:
        """x after each step of a chunk [n, ...]; `rows`: the chunk's logged steps (indices,
        ascending), each closing a window."""
        if len(rows):
            closed = x_after[: rows[-1] + 1]  # window k: starts[k]..rows[k]
            starts = np.concatenate([[0], rows[:-1] + 1])
            low = np.minimum.reduceat(closed, starts, axis=0)
            high = np.maximum.reduceat(closed, starts, axis=0)
            low[0], high[0] = np.minimum(low[0], self.low), np.maximum(high[0], self.high)
            self.rows_low += list(low)
            self.rows_high += list(high)
            self.low, self.high = np.full_like(self.low, np.inf), np.full_like(self.high, -np.inf)
        rest = x_after[rows[-1] + 1 :] if len(rows) else x_after  # the window still open
        if len(rest):
            self.low = np.minimum(self.low, rest.min(0))
            self.high = np.maximum(self.high, rest.max(0))

    def arrays(self, extra_row: bool) -> tuple[np.ndarray, np.ndarray]:
        """[P, ...] min and max per logged window; `extra_row`: the open window as a last row (a
        run that stopped between logged points logs its last step)."""
        low, high = list(self.rows_low), list(self.rows_high)
        if extra_row:
            low.append(self.low)
            high.append(self.high)
        shape = (0, *self.low.shape)
        return (
            np.array(low) if low else np.zeros(shape),
            np.array(high) if high else np.zeros(shape),
        )


class RegretBook:
    """Accumulates Σ f_t(x_t), Σ a_t and Σ b_t per replicate, chunk by chunk, in float64."""

    def __init__(
        self,
        replicates: int,
        bounds: tuple[float, float],
        log_steps: np.ndarray,
        x0: Tensor,
        gradient_bound: float | None = None,
    ) -> None:
        self.low, self.high = bounds
        self.gradient_bound = gradient_bound
        self.log_steps = log_steps
        self.loss = torch.zeros(replicates, dtype=torch.float64)
        self.A = torch.zeros(replicates, dtype=torch.float64)
        self.B = torch.zeros(replicates, dtype=torch.float64)
        self.x_last = x0.detach().to(torch.float64).clone()  # x_t for the next step t
        self.steps_done = 0
        self.rows_x: list[Tensor] = []
        self.rows_regret: list[Tensor] = []
        self.logged: list[np.ndarray] = []
        self.regret_last = torch.zeros(replicates, dtype=torch.float64)
        self.tail = Tail(int(log_steps[-1]), (replicates,))  # the grid ends at the last step
        self.windows = Windows((replicates,))

    def add_chunk(self, start: int, coeffs: Coefficients, x_after: Tensor) -> int:
        """Book steps start..start+n−1 given x after each of them; returns how many were finite."""
        n = x_after.shape[0]
        x_after = x_after.detach().to(torch.float64)
        x_at = torch.cat([self.x_last.unsqueeze(0), x_after[:-1]])  # x_t, where f_t is evaluated
        a = coeffs.a[:n].expand(n, x_after.shape[1])
        b = None if coeffs.b is None else coeffs.b[:n].expand_as(a)
        losses = a * x_at if b is None else a * x_at + 0.5 * b * x_at * x_at
        cum_loss = running_sum(self.loss, losses)
        cum_A = running_sum(self.A, a)
        cum_B = self.B.expand_as(cum_A) if b is None else running_sum(self.B, b)
        finite = torch.isfinite(x_after).all(1) & torch.isfinite(cum_loss).all(1)
        valid = n if bool(finite.all()) else int(torch.nonzero(~finite)[0, 0])
        if valid == 0:
            return 0
        t = np.arange(start, start + valid)
        rows = np.nonzero(np.isin(t, self.log_steps))[0]
        best = best_fixed_loss(cum_A[:valid].numpy(), cum_B[:valid].numpy(), self.low, self.high)
        regret = cum_loss[:valid] - torch.from_numpy(best)
        if len(rows):
            self.logged.append(t[rows])
            self.rows_x.append(x_after[rows])
            self.rows_regret.append(regret[rows] / torch.from_numpy(t[rows]).unsqueeze(1))
        self.tail.add(t, x_after[:valid])
        self.windows.add(x_after[:valid].numpy(), rows)
        self.loss, self.A = cum_loss[valid - 1], cum_A[valid - 1]
        self.B = cum_B[valid - 1]
        self.x_last = x_after[valid - 1]
        self.regret_last = regret[valid - 1]
        self.steps_done = start + valid - 1
        return valid

    def result(self, status: str = FINISHED, reason: str = "", elapsed: float = 0.0) -> RunResult:
        """The run's result; an unfinished run also logs its last completed step."""
        steps = np.concatenate(self.logged) if self.logged else np.zeros(0, np.int64)
        xs = torch.cat(self.rows_x) if self.rows_x else self.x_last.new_zeros(0, len(self.A))
        regrets = (
            torch.cat(self.rows_regret)
            if self.rows_regret
            else self.x_last.new_zeros(0, len(self.A))
        )
        extra = bool(self.steps_done) and (len(steps) == 0 or steps[-1] != self.steps_done)
        if extra:
            steps = np.append(steps, self.steps_done)
            xs = torch.cat([xs, self.x_last.unsqueeze(0)])
            regrets = torch.cat([regrets, (self.regret_last / self.steps_done).unsqueeze(0)])
        x_min, x_max = self.windows.arrays(extra)
        return RunResult(
            steps,
            xs.numpy(),
            regrets.numpy(),
            self.x_last.numpy().copy(),
            self.regret_last.numpy().copy(),
            self.steps_done,
            status,
            reason,
            elapsed,
            tail_x=self.tail.stats(),
            best_x=best_fixed_point(self.A.numpy(), self.B.numpy(), self.low, self.high),
            scales=(self.high - self.low, self.gradient_bound),
            x_min=x_min,
            x_max=x_max,
        )
